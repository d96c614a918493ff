"""Every test runs against real PostgreSQL: a freshly cloned, migrated database."""

import base64
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

if TYPE_CHECKING:
    from tests.admin_client import AdminClient

from app.settings import settings
from tests.database_setup import (
    SHARED_TEMPLATE_VARIABLE,
    TEMPLATE_DATABASE,
    TEST_DATABASE,
    DatabaseServer,
    use_own_embedded_server,
)

# Fixtures of the policy engine's tests: a workspace ready for outreach (``acme``, which
# a module may redefine) and the replay check (``replayed_decisions``); in CI, a skip
# fails (tests/ci_plugin.py).
pytest_plugins = ["tests.policy_setup", "tests.ci_plugin"]

_server: DatabaseServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Build the migrated template before any test module imports the tables. Under
    pytest-xdist the controller, which runs no test, builds it once before its workers
    start, and they clone from it."""
    global _server
    # Operators' authenticator secrets are encrypted with this run's key (inherited by
    # workers, served apps and commands), never with a key file in the checkout.
    os.environ.setdefault("ADMIN_MFA_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    use_own_embedded_server()
    settings.cache_clear()
    if hasattr(config, "workerinput"):
        _server = DatabaseServer()
    else:
        DatabaseServer().build_template()
        if _xdist_controller(config):
            os.environ[SHARED_TEMPLATE_VARIABLE] = TEMPLATE_DATABASE
            return
        _server = DatabaseServer()
    # piccolo_conf.py reads DATABASE_URL when the tables are first imported.
    os.environ["DATABASE_URL"] = _server.create_from_template(TEST_DATABASE)
    settings.cache_clear()


def _xdist_controller(config: pytest.Config) -> bool:
    """Whether this process hands the tests to pytest-xdist workers (``-n N``)."""
    return bool(getattr(config.option, "numprocesses", None))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long_running`` first, so that parallel workers never end the run
    on one of them alone. Every asynchronous test's in-process requests run on the
    served application's pool, as served requests do (through the pooler in CI's
    PgBouncer stage): without one, Piccolo opens a connection per query, and each new
    connection costs the server a process and asyncpg's type introspection."""
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)
    for item in items:
        # pytest-asyncio marks every coroutine test, Hypothesis' wrapped ones too.
        asynchronous = item.get_closest_marker("asyncio") is not None
        if asynchronous and "connection_pool" not in item.fixturenames:
            item.fixturenames.append("connection_pool")


# PBKDF2 rounds for passwords hashed in the test process (operators the tests create,
# logins they make in-process): 600,000 rounds cost 0.7 s of CPU each, the cost the
# suite paid for every admin test. Served processes keep piccolo's own count, so the
# login tests through a real server hash as production does.
IN_PROCESS_PASSWORD_ROUNDS = 1_000


@pytest.fixture(autouse=True, scope="session")
def cheap_in_process_password_hashing() -> Iterator[None]:
    from piccolo.apps.user.tables import BaseUser

    production_rounds = BaseUser._pbkdf2_iteration_count
    BaseUser._pbkdf2_iteration_count = IN_PROCESS_PASSWORD_ROUNDS
    yield
    BaseUser._pbkdf2_iteration_count = production_rounds


@pytest.fixture(autouse=True)
def settings_read_afresh() -> Iterator[None]:
    """Each test reads the settings from the environment as it finds it; a test that
    changes the environment itself calls ``settings.cache_clear()`` after."""
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture
async def connection_pool(
    request: pytest.FixtureRequest, fresh_database: str
) -> AsyncIterator[None]:
    """The served application's pool (app/main.py's lifespan) for in-process requests;
    under ``@pytest.mark.contenders(n)``, room for n callers each holding a connection
    at once (a race test's contenders, as n server processes would be)."""
    from app.db.connections import server_pool_settings
    from app.main import database_engine

    engine = database_engine()
    arguments = server_pool_settings(engine.config["dsn"])
    contenders = request.node.get_closest_marker("contenders")
    if contenders is not None:
        arguments["max_size"] = max(arguments["max_size"], contenders.args[0])
    await engine.start_connection_pool(**arguments)
    yield
    await engine.close_connection_pool()


@pytest.fixture(scope="session")
def database_server() -> DatabaseServer:
    assert _server is not None
    return _server


@pytest.fixture(autouse=True)
def fresh_database(database_server: DatabaseServer) -> str:
    """A clean, migrated copy of the template for each test; its URL."""
    return database_server.fresh_test_database()


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
