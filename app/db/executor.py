"""One way to run SQL: statements with Piccolo's ``{}`` placeholders, run on the
current transaction's connection, a new transaction, or the pool (a read inside
``reads_may_lag()`` on a fit replica, app/db/replicas.py); each statement may name
the writer for the change log in the same round trip (``settings_for_statements``).
"""

import contextlib
import functools
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from piccolo.querystring import QueryString

from app.db.replicas import REPLICA_FAILURES, reads_from_primary


def positional(sql: str) -> str:
    """A statement written with Piccolo's ``{}`` placeholders, with asyncpg's ``$1, $2, ...``."""
    parts = sql.split("{}")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)) + parts[-1]


@functools.cache
def _engine() -> Any:
    from piccolo.engine import engine_finder

    return engine_finder()


@functools.lru_cache(maxsize=256)
def _positional_cached(sql: str) -> str:
    return positional(sql)


# Settings (name, value pairs) that each statement of the current task sent through
# ``fetch`` or ``fetch_on`` sets for its own transaction, in its own round trip.
_statement_settings: ContextVar[tuple[str, ...]] = ContextVar("statement_settings", default=())


@contextlib.contextmanager
def settings_for_statements(settings: Mapping[str, str]) -> Iterator[None]:
    """Within the block, every statement run through ``fetch`` or ``fetch_on`` first
    sets these transaction-local settings, in the same statement: a single statement
    needs no explicit transaction (``BEGIN``, ``set_config``, ``COMMIT``) to carry them."""
    pairs = tuple(part for pair in settings.items() for part in pair)
    token = _statement_settings.set(pairs)
    try:
        yield
    finally:
        _statement_settings.reset(token)


@functools.lru_cache(maxsize=256)
def _with_settings(sql: str, arguments: int, settings: int) -> str:
    """``sql`` (``$n`` placeholders) as the data of a statement that first sets
    ``settings`` name/value pairs given as the arguments after ``sql``'s own. The
    settings are an InitPlan of a one-time filter: set before any row is read, so
    before the row triggers that read them fire at the end of the statement."""
    calls = ", ".join(
        f"set_config(${arguments + n}, ${arguments + n + 1}, true)" for n in range(1, settings, 2)
    )
    return (
        f"WITH masterplan_statement AS (\n{sql.strip().rstrip(';')}\n)\n"
        f"SELECT * FROM masterplan_statement WHERE (SELECT concat({calls})) IS NOT NULL"
    )


async def fetch_on(connection: Any, sql: str, *arguments: Any) -> list[Any]:
    """``connection.fetch`` of a ``$n`` statement, with the task's statement settings."""
    settings = _statement_settings.get()
    if settings:
        return await connection.fetch(
            _with_settings(sql, len(arguments), len(settings)), *arguments, *settings
        )
    return await connection.fetch(sql, *arguments)


async def fetch(sql: str, *arguments: Any) -> list[dict[str, Any]]:
    """Rows of a statement written with Piccolo's ``{}`` placeholders, as dicts.

    Inside a Piccolo transaction (or without a pool) it runs exactly like
    ``Table.raw``; otherwise straight on the engine's asyncpg pool, which saves
    the query builder's per-call cost on the API's hot paths. Statement settings
    (``settings_for_statements``) travel with it either way.
    """
    engine = _engine()
    if _statement_settings.get():
        async with _connection(engine) as connection:
            records = await fetch_on(connection, _positional_cached(sql), *arguments)
    elif engine.pool is None or engine.current_transaction.get() is not None:
        # The engine sends a read inside ``reads_may_lag()`` to a replica (app/db/replicas.py).
        records = await engine.run_querystring(QueryString(sql, *arguments))
    else:
        records = await _pool_fetch(engine, _positional_cached(sql), arguments)
    return [dict(record) for record in records]


async def _pool_fetch(engine: Any, sql: str, arguments: tuple[Any, ...]) -> list[Any]:
    """On the primary's pool, or a fit replica's for a read inside ``reads_may_lag()``."""
    replica = engine.replica_for_reading() if hasattr(engine, "replica_for_reading") else None
    if replica is not None and replica.engine.pool is not None:
        try:
            return await replica.engine.pool.fetch(sql, *arguments)
        except REPLICA_FAILURES as error:
            replica.failed(error)
    return await engine.pool.fetch(sql, *arguments)


@contextlib.asynccontextmanager
async def _connection(engine: Any) -> AsyncIterator[Any]:
    """The current transaction's connection, else a connection of its own."""
    current = engine.current_transaction.get()
    if current is not None:
        yield current.connection
        return
    async with _own_connection(engine) as connection:
        yield connection


@contextlib.asynccontextmanager
async def _own_connection(engine: Any) -> AsyncIterator[Any]:
    """A connection from the pool, or a new one without a pool; always given back."""
    if engine.pool is not None:
        async with engine.pool.acquire() as connection:
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
    transaction: Piccolo's queries, and ``transaction()`` blocks nested inside, use it."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection


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
