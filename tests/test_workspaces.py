"""The default workspace, created once whatever the timing; finding a workspace."""

import asyncio

import asyncpg
import pytest

from app.errors import NotFound
from app.tables import Workspace
from app.workspaces import (
    DEFAULT_WORKSPACE_NAME,
    default_workspace_id,
    ensure_default_workspace,
    existing_workspace,
)
from tests.database_setup import fetch_rows, piccolo, piccolo_at_once


async def default_workspaces(url: str) -> list[asyncpg.Record]:
    return await fetch_rows(
        url, "SELECT id, name FROM workspace WHERE name = $1", DEFAULT_WORKSPACE_NAME
    )


async def test_default_workspace_id_is_none_before_the_seed():
    assert await default_workspace_id() is None


async def test_ensure_default_workspace_creates_it_once():
    first = await ensure_default_workspace()
    second = await ensure_default_workspace()
    assert first.created is True
    assert second.created is False
    assert second.workspace_id == first.workspace_id == await default_workspace_id()
    row = await Workspace.select().where(Workspace.id == first.workspace_id).first()
    assert (row["timezone"], row["budget_tier"]) == ("UTC", "GREEN")


async def test_concurrent_ensures_leave_exactly_one_default_workspace(fresh_database):
    results = await asyncio.gather(*(ensure_default_workspace() for _ in range(8)))
    assert sum(result.created for result in results) == 1
    assert len({result.workspace_id for result in results}) == 1
    assert len(await default_workspaces(fresh_database)) == 1


async def test_the_database_refuses_a_second_default_workspace(connection):
    await ensure_default_workspace()
    before = await connection.fetch("SELECT id, name FROM workspace ORDER BY id")
    with pytest.raises(asyncpg.UniqueViolationError, match="workspace_default_key"):
        await connection.execute("INSERT INTO workspace (name) VALUES ($1)", DEFAULT_WORKSPACE_NAME)
    assert await connection.fetch("SELECT id, name FROM workspace ORDER BY id") == before
    assert [row["name"] for row in before] == [DEFAULT_WORKSPACE_NAME]


async def test_seed_command_says_what_it_did_and_a_rerun_changes_nothing(
    migrated_scratch_database,
):
    first = piccolo(migrated_scratch_database, "masterplan", "seed")
    rows_after_first = await default_workspaces(migrated_scratch_database)
    second = piccolo(migrated_scratch_database, "masterplan", "seed")

    assert len(rows_after_first) == 1
    workspace_id = rows_after_first[0]["id"]
    assert f"Created the default workspace 'Default' (id {workspace_id})" in first.stdout
    assert "already exists" in second.stdout and "nothing changed" in second.stdout
    assert await default_workspaces(migrated_scratch_database) == rows_after_first


async def test_an_existing_workspace_is_confirmed_and_an_unknown_one_refused(connection):
    acme = await connection.fetchval("INSERT INTO workspace (name) VALUES ('Acme') RETURNING id")
    assert await existing_workspace(acme) == acme
    with pytest.raises(NotFound, match=f"workspace #{acme + 1} does not exist"):
        await existing_workspace(acme + 1)


async def test_eight_seed_commands_at_once_leave_one_default_workspace(
    migrated_scratch_database,
):
    results = piccolo_at_once(migrated_scratch_database, 8, "masterplan", "seed")

    assert [result.returncode for result in results] == [0] * 8, results
    stdouts = [result.stdout for result in results]
    assert sum("Created the default workspace" in out for out in stdouts) == 1
    assert sum("already exists" in out for out in stdouts) == 7
    assert len(await default_workspaces(migrated_scratch_database)) == 1
