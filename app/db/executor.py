"""One way to run SQL in the application.

Every statement is written with Piccolo's ``{}`` placeholders (``{{`` and ``}}``
for literal braces, as ``QueryString`` reads them) and run here:

- ``fetch(sql, *arguments)``: rows as dicts, on the current transaction's
  connection, else a pooled connection (a read inside ``reads_may_lag()`` on a fit
  replica, app/db/replicas.py), else a new connection;
- ``fetch_on``, ``fetchval_on``, ``execute_on``: the same on a connection the caller
  holds (a ``transaction()``'s);
- ``transaction()``: one transaction on one connection for everything awaited
  inside.

The placeholders become asyncpg's ``$1, $2, ...`` once per statement text
(``positional``, cached). Within ``settings_for_statements`` a statement also sets
the change log's writer (transaction-local settings) in its own round trip: every
statement outside a transaction, and the first one of each ``transaction()``.
"""

import contextlib
import functools
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from string import Formatter
from typing import Any

from app.db.replicas import PrimaryWithReplicas, reads_from_primary
from app.metrics import count_pool_acquire


def positional(sql: str) -> str:
    """A statement written with Piccolo's ``{}`` placeholders, with asyncpg's ``$1, $2, ...``.

    Braces are read as ``QueryString`` reads them (``{{`` is ``{``, ``}}`` is ``}``);
    a named field (``{x}``: a literal brace left unescaped) is refused. Converted
    once per statement text; one without braces is itself (and takes no room in
    the cache: the webhook's lock statements differ per body).
    """
    if "{" not in sql and "}" not in sql:
        return sql
    return _converted(sql)


@functools.lru_cache(maxsize=512)
def _converted(sql: str) -> str:
    """``positional`` of a statement with braces."""
    parts = []
    number = 0
    for literal, field, _, _ in Formatter().parse(sql):
        parts.append(literal)
        if field is None:
            continue
        if field:
            raise ValueError(f"a placeholder is written {{}}, not {{{field}}}: {sql!r}")
        number += 1
        parts.append(f"${number}")
    return "".join(parts)


@functools.cache
def _engine() -> Any:
    from piccolo.engine import engine_finder

    return engine_finder()


# Settings (name, value pairs) that each statement of the current task sent through
# the executor sets for its own transaction, in its own round trip.
_statement_settings: ContextVar[tuple[str, ...]] = ContextVar("statement_settings", default=())


def setting_arguments(settings: Mapping[str, str]) -> tuple[str, ...]:
    """Settings as a statement's arguments: each name, then its value."""
    return tuple(part for pair in settings.items() for part in pair)


@contextlib.contextmanager
def settings_for_statements(settings: Mapping[str, str]) -> Iterator[None]:
    """Within the block, statements run through the executor first set these
    transaction-local settings, in the same statement: each statement outside a
    transaction, and the first of each ``transaction()`` (the settings last until
    its end; but if that first statement ran inside a savepoint that is rolled back,
    the settings go with it: no caller names its writer inside a savepoint). A
    single statement needs no explicit transaction (``BEGIN``, ``set_config``,
    ``COMMIT``) to carry them."""
    token = _statement_settings.set(setting_arguments(settings))
    try:
        yield
    finally:
        _statement_settings.reset(token)


@functools.lru_cache(maxsize=256)
def _with_settings(sql: str, arguments: int, settings: int) -> str:
    """``sql`` (``$n`` placeholders) as the data of a statement that first sets
    ``settings`` name/value pairs given as the arguments after ``sql``'s own. The
    settings are an InitPlan of a one-time filter: set before any row is read, so
    before the row triggers that read them fire at the end of the statement. The
    statement must return rows (a write needs ``RETURNING``). One with a
    data-modifying ``WITH`` of its own (which PostgreSQL keeps at the top level) keeps
    its ``WITH`` list, and its main query becomes the list's last member."""
    calls = ", ".join(
        f"set_config(${arguments + n}, ${arguments + n + 1}, true)" for n in range(1, settings, 2)
    )
    statement = sql.strip().rstrip(";")
    listed, main = _with_list(statement)
    return (
        f"WITH {listed}masterplan_statement AS (\n{main}\n)\n"
        f"SELECT * FROM masterplan_statement WHERE (SELECT concat({calls})) IS NOT NULL"
    )


def _with_list(statement: str) -> tuple[str, str]:
    """A statement ``WITH a AS (...), b AS (...) main`` as (``"a AS (...), b AS (...), "``,
    ``main``); one without ``WITH`` as ("", itself). Reads parentheses outside quotes."""
    if not re.match(r"(?i)WITH\s", statement):
        return "", statement
    opened: list[int] = []
    quote = ""
    for at, char in enumerate(statement):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            opened.append(at)
        elif char == ")":
            start = opened.pop()
            rest = statement[at + 1 :].lstrip()
            # A member's body ends the list unless another member follows; a column
            # list (``input (a, b) AS (...)``) is not a body.
            body = CTE_BODY.search(statement[:start])
            if not opened and body and not rest.startswith(","):
                return f"{statement[4 : at + 1].strip()},\n", rest
    raise ValueError(f"a WITH list without a main query: {statement[:80]}")


CTE_BODY = re.compile(r"(?i)\bAS(\s+NOT)?(\s+MATERIALIZED)?\s*$")


def _statement(connection: Any, sql: str, arguments: tuple[Any, ...]) -> tuple[str, tuple]:
    """``sql`` and its arguments as sent on ``connection``: ``$n`` placeholders, and
    the statement settings when this statement is to carry them."""
    settings = _statement_settings.get()
    if settings:
        held = _engine().current_transaction.get()
        if isinstance(held, _HeldConnection) and held.connection is connection:
            if held.named == settings:
                settings = ()  # this transaction's first statement set them
            else:
                held.named = settings
    return statement_setting(sql, arguments, settings)


def statement_setting(
    sql: str, arguments: tuple[Any, ...], settings: tuple[str, ...]
) -> tuple[str, tuple]:
    """A ``{}`` statement as sent to asyncpg: ``$n`` placeholders, and first setting
    ``settings`` (name, value, name, value, ...) for its transaction when given."""
    if not settings:
        return positional(sql), arguments
    return _with_settings(positional(sql), len(arguments), len(settings)), (*arguments, *settings)


async def fetch_on(connection: Any, sql: str, *arguments: Any) -> list[Any]:
    """The records of a ``{}`` statement run on ``connection``."""
    statement, values = _statement(connection, sql, arguments)
    return await connection.fetch(statement, *values)


async def fetchval_on(connection: Any, sql: str, *arguments: Any) -> Any:
    """The first value of the first row of a ``{}`` statement run on ``connection``
    (None without rows)."""
    statement, values = _statement(connection, sql, arguments)
    return await connection.fetchval(statement, *values)


async def execute_on(connection: Any, sql: str, *arguments: Any) -> str:
    """Run a ``{}`` statement on ``connection`` for its effect; its status (``UPDATE 3``).
    Without arguments and statement settings, several statements may be sent at once."""
    statement, values = _statement(connection, sql, arguments)
    return await connection.execute(statement, *values)


async def fetch(sql: str, *arguments: Any) -> list[dict[str, Any]]:
    """Rows of a ``{}`` statement, as dicts.

    On the current transaction's connection; outside one on a pooled connection (one
    round trip, as ``pool.fetch``), or a new one without a pool. A read inside
    ``reads_may_lag()`` outside a transaction may run on a fit replica instead.
    """
    engine = _engine()
    if isinstance(engine, PrimaryWithReplicas) and engine.replicas:
        records = await engine.routed(lambda chosen: _fetch_on_engine(chosen, sql, arguments))
    else:
        records = await _fetch_on_engine(engine, sql, arguments)
    return [dict(record) for record in records]


async def _fetch_on_engine(engine: Any, sql: str, arguments: tuple[Any, ...]) -> list[Any]:
    """On the current transaction's connection, else on one of its own."""
    current = engine.current_transaction.get()
    if current is not None:
        return await fetch_on(current.connection, sql, *arguments)
    async with _own_connection(engine) as connection:
        return await fetch_on(connection, sql, *arguments)


@contextlib.asynccontextmanager
async def _own_connection(engine: Any) -> AsyncIterator[Any]:
    """A connection from the pool, or a new one without a pool; always given back."""
    if engine.pool is not None:
        pool = engine.pool
        if engine is _engine():  # the primary's pool, not a replica's
            count_pool_acquire(pool.get_size(), pool.get_idle_size(), pool.get_max_size())
        async with pool.acquire() as connection:
            yield connection
        return
    connection = await engine.get_new_connection()
    try:
        yield connection
    finally:
        await connection.close()


def clear_request_context() -> None:
    """A request starts outside any transaction, with no statement settings and
    reading from the primary:
    asyncio may hand a new task the context of the task that was running when it
    was scheduled (cpython#140947; uvicorn schedules a keep-alive connection's next
    request from the previous one's last send), Piccolo's current transaction included."""
    _engine().current_transaction.set(None)
    _statement_settings.set(())
    reads_from_primary()


class _HeldConnection:
    """A connection held for one transaction, standing where Piccolo keeps its current
    transaction: Piccolo's queries, and ``transaction()`` blocks nested inside, use it.
    ``named``: the statement settings its first statement set, if any."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.named: tuple[str, ...] = ()


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[Any]:
    """One transaction on one connection, for everything awaited inside; yields the
    connection. Inside another transaction it joins that one, as Piccolo's do.

    Unlike Piccolo's own transaction, the connection goes back to the pool (or is
    closed) whatever happens, a failed BEGIN, COMMIT or ROLLBACK included.
    """
    engine = _engine()
    current = engine.current_transaction.get()
    if current is not None:
        yield current.connection
        return
    async with _own_connection(engine) as connection, _transaction_on(engine, connection):
        yield connection


@contextlib.asynccontextmanager
async def _transaction_on(engine: Any, connection: Any) -> AsyncIterator[None]:
    async with connection.transaction():
        held = engine.current_transaction.set(_HeldConnection(connection))
        try:
            yield
        finally:
            engine.current_transaction.reset(held)
