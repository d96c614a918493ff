"""Where the application's connections go: the primary directly or through a
transaction pooler such as PgBouncer, and the read replicas (app/db/replicas.py).

``DATABASE_URL`` is the database itself: migrations, the ``piccolo`` commands and
the tests' set-up connect there. ``DATABASE_POOL_URL``, when set, is a pooler in
front of it in transaction mode (PgBouncer ``pool_mode = transaction``): the
served application's pool connects there instead. A pool URL without a database
name reaches the database ``DATABASE_URL`` names.

Behind a transaction pooler each transaction may run on another server
connection, so nothing may outlive a transaction on the server:

- asyncpg's statement cache is off: its named prepared statements would be
  missing on the next server connection, or clash with another client's of the
  same name (PgBouncer before 1.21, as Debian 12's 1.18, does not track them; with
  1.21 and ``max_prepared_statements`` the cache could stay on). asyncpg still
  prepares each statement with arguments, unnamed, but sends Parse, Describe and
  then Bind and Execute before the one Sync that ends it, so both halves run on
  one server connection;
- the statement timeout is not sent as a connection setting (PgBouncer refuses
  unknown startup parameters): set it on the server for the application's role,
  ``ALTER ROLE ... SET statement_timeout = '30s'``.

The application holds no session state otherwise: its settings are
transaction-local (``set_config(..., true)``) and its advisory locks are
transaction-level.
"""

from typing import Any
from urllib.parse import urlsplit

from piccolo.engine.postgres import PostgresEngine

from app.db.replicas import PrimaryWithReplicas
from app.db.server import CONNECT_TIMEOUT_SECONDS, database_name, with_database
from app.settings import DatabaseSettings, settings

# The server pool's bounds: a request waits at most this long for the database.
STATEMENT_TIMEOUT_SECONDS = 30.0
POOL_SIZE = 10


def pool_settings() -> dict:
    """Keyword arguments for asyncpg.create_pool that bound how long a request waits."""
    return {
        # Connections open on demand: a pool that keeps a floor of them retries (and
        # logs a traceback) every second while the database is down.
        "min_size": 0,
        "max_size": POOL_SIZE,
        "timeout": CONNECT_TIMEOUT_SECONDS,
        "command_timeout": STATEMENT_TIMEOUT_SECONDS + 5,
        "server_settings": {"statement_timeout": f"{int(STATEMENT_TIMEOUT_SECONDS * 1000)}"},
    }


def same_database(url: str, database_url: str) -> str:
    """``url``, naming ``database_url``'s database when it names none itself."""
    if urlsplit(url).path.strip("/"):
        return url
    return with_database(url, database_name(database_url))


def pool_url(database_url: str, database: DatabaseSettings | None = None) -> str | None:
    """The transaction pooler the server's pool goes through, if one is set."""
    configured = (database or settings().database).pool_url
    return same_database(configured, database_url) if configured else None


def server_pool_settings(
    database_url: str, database: DatabaseSettings | None = None
) -> dict[str, Any]:
    """asyncpg pool arguments of the served application: the bounds
    above, and through the pooler when one is set."""
    arguments = pool_settings()
    pooler = pool_url(database_url, database)
    if pooler is not None:
        del arguments["server_settings"]
        arguments |= {"dsn": pooler, "statement_cache_size": 0}
    return arguments


def replica_urls(database_url: str, database: DatabaseSettings | None = None) -> list[str]:
    """The read replicas, each naming ``database_url``'s database unless it names one."""
    configured = (database or settings().database).replica_urls
    return [same_database(url, database_url) for url in configured]


def primary_engine(database_url: str) -> PrimaryWithReplicas:
    """Piccolo's engine: the primary, with each replica as an extra node
    (``replica_1``, ``replica_2``, ...)."""
    replicas = {
        f"replica_{number}": PostgresEngine(
            config={"dsn": url, "timeout": CONNECT_TIMEOUT_SECONDS}, extensions=()
        )
        for number, url in enumerate(replica_urls(database_url), start=1)
    }
    return PrimaryWithReplicas(
        config={"dsn": database_url},
        extra_nodes=replicas,
        max_lag_seconds=settings().database.replica_max_lag_seconds,
    )
