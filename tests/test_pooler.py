"""Behind PgBouncer in transaction mode: statements stay on one server connection,
and the served application's pool goes through the pooler (app/db/connections.py)."""

import asyncio
import contextlib
from typing import Any

import asyncpg
import httpx
import pytest

from app.db.connections import pool_url, server_pool_settings
from app.settings import ConfigurationError, DatabaseSettings
from tests.factories import workspace_with_token
from tests.pooler import pgbouncer
from tests.server import get, served_app

QUERY = "SELECT $1::int8 + 1"


async def run_again_on_another_server_connection(dsn: str, **connect: Any) -> str | None:
    """One client runs a statement, then runs it again while another client's open
    transaction holds the server connection of the first run; the error, or None."""
    client, other = [await asyncpg.connect(dsn, **connect) for _ in range(2)]
    try:
        assert await client.fetchval(QUERY, 1) == 2
        async with other.transaction():
            await other.execute("SELECT 1")
            try:
                assert await client.fetchval(QUERY, 2) == 3
            except asyncpg.PostgresError as error:
                return str(error)
        return None
    finally:
        await client.close()
        await other.close()


async def test_statements_through_a_transaction_pooler_need_the_cache_off(database_server):
    with pgbouncer(database_server.url) as pooler:
        pooler_url = pooler.url
        # asyncpg's cached statements are prepared, named, on the first server
        # connection and are missing on the next ...
        error = await run_again_on_another_server_connection(f"{pooler_url}/postgres")
        assert error is not None and "does not exist" in error
        # ... while the pool's own settings prepare each statement unnamed, in the
        # round trip (one Sync) that executes it.
        through_pooler = DatabaseSettings.from_environment({"DATABASE_POOL_URL": pooler_url})
        settings = server_pool_settings("postgresql://db.internal/postgres", through_pooler)
        connect = {key: settings[key] for key in settings.keys() - {"min_size", "max_size"}}
        assert await run_again_on_another_server_connection(**connect) is None


def pooler_at(url: str) -> DatabaseSettings:
    return DatabaseSettings.from_environment({"DATABASE_POOL_URL": url})


def test_the_pool_url_names_the_database_of_database_url_unless_it_names_one():
    database = "postgresql://app@db.internal:5432/masterplan"
    assert pool_url(database, pooler_at("postgresql://app@bouncer:6432")) == (
        "postgresql://app@bouncer:6432/masterplan"
    )
    alias = pooler_at("postgresql://app@bouncer:6432/alias")
    assert pool_url(database, alias) == "postgresql://app@bouncer:6432/alias"
    settings = server_pool_settings(database, alias)
    assert settings["dsn"] == "postgresql://app@bouncer:6432/alias"
    assert settings["statement_cache_size"] == 0
    assert "server_settings" not in settings
    direct = DatabaseSettings.from_environment({})
    assert pool_url(database, direct) is None
    assert server_pool_settings(database, direct)["server_settings"]["statement_timeout"] == "30000"


def test_a_bad_pool_url_is_one_readable_line():
    with pytest.raises(ConfigurationError) as refused:
        pooler_at("bouncer:6432")
    assert str(refused.value) == (
        "masterplan: DATABASE_POOL_URL must be a PostgreSQL URL such as "
        "postgresql://user:password@host:5432/dbname"
    )


async def test_the_served_application_works_through_pgbouncer(
    database_server, fresh_database, connection
):
    secret = "mp_" + "p" * 40
    workspace_id = await workspace_with_token(connection, "Pooled", secret)
    headers = {"Authorization": f"Bearer {secret}"}
    with contextlib.ExitStack() as running:
        pooler_url = running.enter_context(pgbouncer(database_server.url)).url
        env = {"DATABASE_URL": fresh_database, "DATABASE_POOL_URL": pooler_url}
        command = ["-m", "app.serve", "--no-access-log"]
        with served_app(env, command) as (base_url, _):
            async with httpx.AsyncClient(base_url=f"{base_url}/api/v1", headers=headers) as api:
                stored = await api.put("/leads/by-external-id/6281234", json={"name": "Sari"})
                assert stored.status_code == 201, stored.text
                pages = await asyncio.gather(*(api.get("/leads") for _ in range(20)))
                assert {page.status_code for page in pages} == {200}
                assert {page.json()["items"][0]["name"] for page in pages} == {"Sari"}
            assert get(f"{base_url}/healthz")[0] == 200

            # Without the pooler the server cannot reach the database, which still answers.
            running.close()
            assert get(f"{base_url}/healthz")[0] == 503
            assert await connection.fetchval("SELECT 1") == 1
    row = await connection.fetchrow(
        "SELECT workspace_id, name FROM lead WHERE external_id = $1", "6281234"
    )
    assert (row["workspace_id"], row["name"]) == (workspace_id, "Sari")
