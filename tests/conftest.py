"""Every test runs against real PostgreSQL: a freshly cloned, migrated database."""

import base64
import inspect
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

if TYPE_CHECKING:
    from tests.admin_client import AdminClient

from app.settings import settings
from tests.database_setup import TEST_DATABASE, DatabaseServer

# Fixtures of the policy engine's tests: a workspace ready for outreach (``acme``, which
# a module may redefine) and the replay check (``replayed_decisions``); in CI, a skip
# fails (tests/ci_plugin.py).
pytest_plugins = ["tests.policy_setup", "tests.ci_plugin"]

_server: DatabaseServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Build the migrated template before any test module imports the tables."""
    global _server
    # Operators' authenticator secrets are encrypted with this run's key (inherited by
    # served apps and commands), never with a key file in the checkout.
    os.environ.setdefault("ADMIN_MFA_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    _server = DatabaseServer()
    _server.build_template()
    # piccolo_conf.py reads DATABASE_URL when the tables are first imported.
    os.environ["DATABASE_URL"] = _server.create_from_template(TEST_DATABASE)
    settings.cache_clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.drop(TEST_DATABASE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With ``DATABASE_POOL_URL`` set (CI's PgBouncer stage), every test's in-process
    requests run on the served application's pool, through the pooler."""
    if os.environ.get("DATABASE_POOL_URL", "").strip():
        for item in items:
            asynchronous = inspect.iscoroutinefunction(getattr(item, "function", None))
            if asynchronous and "connection_pool" not in item.fixturenames:
                item.fixturenames.append("connection_pool")


@pytest.fixture(autouse=True)
def settings_read_afresh() -> Iterator[None]:
    """Each test reads the settings from the environment as it finds it; a test that
    changes the environment itself calls ``settings.cache_clear()`` after."""
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture
async def connection_pool(fresh_database: str) -> AsyncIterator[None]:
    """The served application's pool (app/main.py's lifespan) for in-process requests."""
    from app.db.connections import server_pool_settings
    from app.main import database_engine

    engine = database_engine()
    await engine.start_connection_pool(**server_pool_settings(engine.config["dsn"]))
    yield
    await engine.close_connection_pool()


@pytest.fixture(scope="session")
def database_server() -> DatabaseServer:
    assert _server is not None
    return _server


@pytest.fixture(autouse=True)
def fresh_database(database_server: DatabaseServer) -> str:
    """A clean, migrated copy of the template for each test; its URL."""
    return database_server.create_from_template(TEST_DATABASE)


@pytest.fixture
def scratch_database(database_server: DatabaseServer) -> Iterator[str]:
    """An empty database of the test's own, dropped afterwards; its URL."""
    name = database_server.scratch_name()
    url = database_server.create_empty(name)
    yield url
    database_server.drop(name)


@pytest.fixture
def migrated_scratch_database(database_server: DatabaseServer) -> Iterator[str]:
    """A migrated database of the test's own, for other processes to use."""
    name = database_server.scratch_name()
    url = database_server.create_from_template(name)
    yield url
    database_server.drop(name)


@pytest.fixture
async def connection(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw connection to the test database, as psql or another service has."""
    conn = await asyncpg.connect(fresh_database)
    yield conn
    await conn.close()


@pytest.fixture
def embedded_data_dir(tmp_path: Path) -> Path:
    """An empty data directory for an embedded PostgreSQL of the test's own."""
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    os.chmod(tmp_path, 0o755)  # as root, the server runs as its own system user
    return data_dir


@pytest.fixture
async def admin() -> AsyncIterator["AdminClient"]:
    """An operator (``ana``) logged in to the admin."""
    # Imported here: the app's tables read DATABASE_URL, set in pytest_configure.
    from tests.admin_client import logged_in_operator

    operator = await logged_in_operator("ana")
    yield operator
    await operator.http.aclose()
