"""Piccolo's statements without a pool (the CLI, scripts): one connection per task,
closed when the task ends, instead of one per statement."""

import asyncio

import asyncpg
import pytest
from piccolo.querystring import QueryString

from app.db.connections import primary_engine
from app.db.server import database_name
from tests.database_setup import piccolo

BACKEND = QueryString("SELECT pg_backend_pid() AS pid")
OTHER_SESSIONS = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"


async def backend(engine) -> int:
    return (await engine.run_querystring(BACKEND))[0]["pid"]


async def sessions_of(connection, database: str) -> set[int]:
    return {row["pid"] for row in await connection.fetch(OTHER_SESSIONS, database)}


@pytest.fixture
def engine(fresh_database):
    engine = primary_engine(fresh_database)
    assert engine.pool is None
    return engine


async def test_a_tasks_statements_share_a_connection_closed_when_the_task_ends(
    engine, fresh_database, connection
):
    async def three_statements() -> list[int]:
        return [await backend(engine) for _ in range(3)]

    first, second = await asyncio.gather(
        asyncio.create_task(three_statements()), asyncio.create_task(three_statements())
    )
    assert len(set(first)) == 1 and len(set(second)) == 1
    assert first[0] != second[0], "two tasks at once each have a connection of their own"
    database = database_name(fresh_database)
    assert await wait_until_async(lambda: sessions_of(connection, database), set())


async def test_a_transaction_keeps_its_own_connection(engine):
    async def outside_inside_outside() -> list[int]:
        before = await backend(engine)
        async with engine.transaction():
            inside = await backend(engine)
        return [before, inside, await backend(engine)]

    before, inside, after = await asyncio.create_task(outside_inside_outside())
    assert before == after != inside


async def test_after_its_connection_breaks_a_task_gets_a_new_one(
    engine, fresh_database, connection
):
    async def killed_between_statements() -> tuple[int, int]:
        first = await backend(engine)
        await connection.execute("SELECT pg_terminate_backend($1)", first)
        database = database_name(fresh_database)
        assert await wait_until_async(lambda: sessions_of(connection, database), set())
        try:  # the statement that finds it broken may fail (as a pooled one would)...
            return first, await backend(engine)
        except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError):
            return first, await backend(engine)  # ... the next one has a new connection

    first, second = await asyncio.create_task(killed_between_statements())
    assert first != second


async def test_a_command_opens_a_few_connections_not_one_per_migration(fresh_database, connection):
    """Piccolo checks for unapplied migrations before each command it runs, one
    statement per migration: each opened a connection of its own before (160)."""
    sessions = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
    await connection.execute("SELECT pg_stat_clear_snapshot()")
    before = await connection.fetchval(sessions)
    listed = await asyncio.to_thread(piccolo, fresh_database, "masterplan", "list_tokens")
    assert "No tokens." in listed.stdout
    await connection.execute("SELECT pg_stat_clear_snapshot()")
    # A handful: the server version, the migration check, the command itself.
    assert 1 <= await connection.fetchval(sessions) - before <= 6


async def wait_until_async(read, expected, timeout: float = 10) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await read() == expected:
            return True
        await asyncio.sleep(0.05)
    return False
