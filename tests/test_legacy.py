"""Prototype compatibility: adopting the zairag_* tables, and the backfill."""

import asyncio
import os
import signal
import subprocess
import sys

import asyncpg
import pytest

from app.legacy.backfill import BACKFILL_LOCK, agent_batches, pending
from app.workspaces import ensure_default_workspace
from tests.database_setup import (
    PROJECT_ROOT,
    fetch_rows,
    finished,
    piccolo,
    public_tables,
    started_piccolo,
)
from tests.locks import held, waiting_for
from tests.prototype import (
    PROTOTYPE_TABLES,
    add_prototype_rows,
    create_prototype_tables,
    prototype_checksums,
    prototype_columns,
)


@pytest.fixture
async def prototype_database(scratch_database) -> str:
    """The prototype's database before the first migration: its tables, with rows."""
    connection = await asyncpg.connect(scratch_database)
    try:
        await create_prototype_tables(connection)
        await add_prototype_rows(connection)
    finally:
        await connection.close()
    return scratch_database


def backwards_legacy(url: str) -> subprocess.CompletedProcess[str]:
    return piccolo(url, "migrations", "backwards", "legacy", "--migration_id=all", "--auto_agree")


# --- migrations: fresh and existing databases -----------------------------------------


async def test_on_a_fresh_database_forwards_creates_the_prototype_tables(scratch_database):
    piccolo(scratch_database, "migrations", "forwards", "all")
    assert set(PROTOTYPE_TABLES) | {"legacy_mapping"} <= await public_tables(scratch_database)
    columns = await fetch_rows(
        scratch_database,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'zairag_chat_messages' ORDER BY ordinal_position",
    )
    assert [tuple(row) for row in columns] == [
        ("id", "integer", "NO"),
        ("chat_session_id", "integer", "NO"),
        ("role", "character varying", "NO"),
        ("content", "character varying", "NO"),
        ("created_at", "timestamp without time zone", "NO"),
        ("tool_calls", "character varying", "YES"),
        ("tool_call_id", "character varying", "YES"),
    ]

    backwards_legacy(scratch_database)
    assert not (set(PROTOTYPE_TABLES) | {"legacy_mapping"}) & await public_tables(scratch_database)
    piccolo(scratch_database, "migrations", "forwards", "all")
    assert set(PROTOTYPE_TABLES) <= await public_tables(scratch_database)


async def test_on_a_prototype_database_forwards_succeeds_and_changes_nothing(
    prototype_database,
):
    checksums = await prototype_checksums(prototype_database)
    schema = await prototype_columns(prototype_database)

    result = piccolo(prototype_database, "migrations", "forwards", "all")

    assert "[forwards]... ok" in result.stdout
    assert {"workspace", "lead", "legacy_mapping"} <= await public_tables(prototype_database)
    assert await prototype_checksums(prototype_database) == checksums
    assert await prototype_columns(prototype_database) == schema
    assert checksums["zairag_agents"][0] == 7


@pytest.mark.long_running
async def test_going_backwards_never_drops_prototype_tables_or_rows(prototype_database):
    checksums = await prototype_checksums(prototype_database)
    piccolo(prototype_database, "migrations", "forwards", "all")

    result = backwards_legacy(prototype_database)
    piccolo(
        prototype_database,
        "migrations",
        "backwards",
        "masterplan",
        "--migration_id=all",
        "--auto_agree",
    )

    assert "kept zairag_agents" in result.stdout
    assert set(PROTOTYPE_TABLES) <= await public_tables(prototype_database)
    assert "legacy_mapping" not in await public_tables(prototype_database)
    assert await prototype_checksums(prototype_database) == checksums
    piccolo(prototype_database, "migrations", "forwards", "all")
    assert await prototype_checksums(prototype_database) == checksums


async def test_tables_created_here_are_kept_once_the_prototype_wrote_to_them(scratch_database):
    piccolo(scratch_database, "migrations", "forwards", "all")
    connection = await asyncpg.connect(scratch_database)
    try:
        await add_prototype_rows(connection, agents=2, sessions=0)
    finally:
        await connection.close()
    backwards_legacy(scratch_database)
    tables = await public_tables(scratch_database)
    assert "zairag_agents" in tables  # holds rows: kept
    assert "zairag_chat_sessions" not in tables  # created here and empty: removed
    agents = await fetch_rows(scratch_database, "SELECT count(*) AS n FROM zairag_agents")
    assert agents[0]["n"] == 2


# --- the backfill ------------------------------------------------------------------------


@pytest.fixture
async def prototype_rows(connection):
    await add_prototype_rows(connection, agents=7, sessions=20)
    return connection


async def mapped_versions(connection) -> list[asyncpg.Record]:
    return await connection.fetch(
        "SELECT m.prototype_id, v.version_number, v.status, v.followup_preset, v.tone, "
        "v.objectives, v.objection_handling, v.cta_rules, v.workspace_id "
        "FROM legacy_mapping m JOIN strategy_version v ON v.id = m.strategy_version_id "
        "ORDER BY m.prototype_id"
    )


def backfill(url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return piccolo(url, "legacy", "backfill", *arguments)


async def test_agents_become_draft_versions_of_the_default_workspace(
    fresh_database, prototype_rows
):
    checksums = await prototype_checksums(fresh_database)
    result = backfill(fresh_database)

    default = await prototype_rows.fetchval("SELECT id FROM workspace WHERE name = 'Default'")
    agents = await prototype_rows.fetch("SELECT * FROM zairag_agents ORDER BY id")
    versions = await mapped_versions(prototype_rows)
    assert [row["prototype_id"] for row in versions] == [agent["id"] for agent in agents]
    assert [row["version_number"] for row in versions] == list(range(1, 8))
    for agent, version in zip(agents, versions, strict=True):
        assert version["workspace_id"] == default
        assert (version["status"], version["followup_preset"]) == ("DRAFT", "BALANCED")
        # No text is lost: the prompt verbatim, the name as the tone.
        assert version["objectives"] == agent["system_prompt"]
        assert version["tone"] == agent["name"]
    assert "7 agents -> strategy versions" in result.stdout
    assert "20 sessions left (use --sessions)" in result.stdout
    assert await prototype_checksums(fresh_database) == checksums


async def test_version_numbers_continue_after_existing_versions(fresh_database, prototype_rows):
    seeded = await ensure_default_workspace()
    await prototype_rows.execute(
        "INSERT INTO strategy_version (workspace_id, version_number, followup_preset) "
        "VALUES ($1, 1, 'GENTLE'), ($1, 2, 'GENTLE')",
        seeded.workspace_id,
    )
    backfill(fresh_database)
    versions = await mapped_versions(prototype_rows)
    assert [row["version_number"] for row in versions] == list(range(3, 10))


async def test_sessions_become_threads_with_placeholder_leads(fresh_database, prototype_rows):
    checksums = await prototype_checksums(fresh_database)
    backfill(fresh_database, "--sessions")
    rows = await prototype_rows.fetch(
        "SELECT s.id, s.created_at AS session_created, l.external_id, l.stage, "
        "l.next_followup_at, t.created_at AS thread_created, t.workspace_id "
        "FROM zairag_chat_sessions s "
        "JOIN legacy_mapping m ON m.prototype_table = 'zairag_chat_sessions' "
        "AND m.prototype_id = s.id "
        "JOIN conversation_thread t ON t.id = m.conversation_thread_id "
        "JOIN lead l ON l.id = t.lead_id ORDER BY s.id"
    )
    assert len(rows) == 20
    for row in rows:
        assert row["external_id"] == f"prototype-session:{row['id']}"
        assert row["stage"] == "NEW" and row["next_followup_at"] is None  # never contacted
        # Naive prototype timestamps are UTC.
        assert row["thread_created"].replace(tzinfo=None) == row["session_created"]
        assert row["thread_created"].utcoffset().total_seconds() == 0
    assert await prototype_checksums(fresh_database) == checksums  # messages stay put


async def test_a_rerun_creates_nothing_twice(fresh_database, prototype_rows):
    backfill(fresh_database, "--sessions")
    counts = "SELECT (SELECT count(*) FROM strategy_version), (SELECT count(*) FROM lead), "
    counts += "(SELECT count(*) FROM conversation_thread), (SELECT count(*) FROM legacy_mapping)"
    first = tuple(await prototype_rows.fetchrow(counts))
    again = backfill(fresh_database, "--sessions")
    assert tuple(await prototype_rows.fetchrow(counts)) == first == (7, 20, 20, 27)
    assert "0 agents -> strategy versions, 0 sessions -> threads" in again.stdout


async def test_new_prototype_rows_are_picked_up_by_the_next_run(fresh_database, prototype_rows):
    backfill(fresh_database)
    await prototype_rows.execute(
        "INSERT INTO zairag_agents (name, system_prompt, model, reasoning_enabled) "
        "VALUES ('Late', 'Arrived later', 'm', false)"
    )
    backfill(fresh_database)
    versions = await mapped_versions(prototype_rows)
    assert [row["version_number"] for row in versions] == list(range(1, 9))
    assert versions[-1]["tone"] == "Late"


async def test_a_run_stopped_between_batches_resumes_to_completion(fresh_database, prototype_rows):
    workspace_id = (await ensure_default_workspace()).workspace_id
    async for created in agent_batches(workspace_id, batch_size=3):
        assert created == 3
        break  # stopped after the first committed batch
    assert (await pending()).agents == 4

    backfill(fresh_database, "--batch_size=2")
    versions = await mapped_versions(prototype_rows)
    assert [row["version_number"] for row in versions] == list(range(1, 8))
    assert (await pending()).agents == 0


async def test_a_killed_run_resumes_to_completion(fresh_database, prototype_rows):
    await prototype_rows.execute(
        "INSERT INTO zairag_agents (name, system_prompt, model, reasoning_enabled) "
        "SELECT 'Bulk ' || n, 'Prompt ' || n, 'm', true FROM generate_series(1, 400) n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "piccolo.main", "legacy", "backfill", "--batch_size=1"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": fresh_database},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    process.stderr.readline()  # the first batch is committed
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    interrupted = await prototype_rows.fetchval("SELECT count(*) FROM legacy_mapping")
    assert 0 < interrupted < 407

    backfill(fresh_database)
    versions = await mapped_versions(prototype_rows)
    assert [row["version_number"] for row in versions] == list(range(1, 408))
    assert len({row["prototype_id"] for row in versions}) == 407


async def test_concurrent_runs_map_each_agent_once(fresh_database, prototype_rows):
    async with held(fresh_database, BACKFILL_LOCK) as holder:
        processes = started_piccolo(fresh_database, 3, "legacy", "backfill", "--batch_size=2")
        await waiting_for(holder, 3)  # all three queue behind the test's lock
    results = await asyncio.to_thread(finished, processes)
    assert [result.returncode for result in results] == [0, 0, 0], results
    versions = await mapped_versions(prototype_rows)
    assert [row["version_number"] for row in versions] == list(range(1, 8))


async def test_a_dry_run_reports_and_writes_nothing(fresh_database, prototype_rows):
    result = backfill(fresh_database, "--sessions", "--dry_run")
    assert result.stdout.strip() == (
        "Dry run, nothing written: would create 7 DRAFT strategy versions and 20 "
        "conversation threads with placeholder leads in a new workspace 'Default'."
    )
    assert await prototype_rows.fetchval("SELECT count(*) FROM workspace") == 0
    assert await prototype_rows.fetchval("SELECT count(*) FROM legacy_mapping") == 0


async def test_a_bad_batch_size_exits_with_one_line(fresh_database, prototype_rows):
    result = piccolo(fresh_database, "legacy", "backfill", "--batch_size=0", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "masterplan: --batch_size must be between 1 and 50000"
    assert await prototype_rows.fetchval("SELECT count(*) FROM strategy_version") == 0


async def test_the_mapping_refuses_a_target_of_the_wrong_kind(connection, prototype_rows):
    workspace_id = (await ensure_default_workspace()).workspace_id
    version_id = await connection.fetchval(
        "INSERT INTO strategy_version (workspace_id, followup_preset) VALUES ($1, 'GENTLE') "
        "RETURNING id",
        workspace_id,
    )
    with pytest.raises(asyncpg.CheckViolationError, match="legacy_mapping_target_matches_source"):
        await connection.execute(
            "INSERT INTO legacy_mapping (prototype_table, prototype_id, strategy_version_id) "
            "VALUES ('zairag_chat_sessions', 1, $1)",
            version_id,
        )


async def test_pending_counts_what_is_left(prototype_rows):
    counts = await pending()
    assert (counts.agents, counts.sessions) == (7, 20)
