"""Backfill prototype agents and chat sessions into the default workspace.

Every batch is one statement in one transaction: new rows and their mapping rows
commit together or not at all. The mapping decides what is left to do, so a
re-run creates nothing twice and an interrupted run resumes where it stopped.
A transaction-level advisory lock keeps two concurrent runs from taking the
same batch.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from app.db.executor import fetch, transaction
from app.enums import FollowUpPreset, StrategyStatus
from app.lead_writes import UNCHANGED, insert_by_key
from app.workspaces import lock_workspace

BACKFILL_LOCK = "SELECT pg_advisory_xact_lock(hashtext('masterplan.legacy_backfill'))"
# A reused prepared statement switches to a generic plan after five runs; for
# these batch statements that plan is ten times slower (measured in bench/).
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
PLACEHOLDER_PREFIX = "prototype-session:"


def unmapped(table: str, alias: str) -> str:
    """The condition that a prototype row (``alias`` of ``table``) has no mapping yet."""
    return (
        "NOT EXISTS (SELECT 1 FROM legacy_mapping m\n"
        f"    WHERE m.prototype_table = '{table}' AND m.prototype_id = {alias}.id)"
    )


def next_batch(table: str, alias: str, columns: str) -> str:
    """The ``batch`` CTE: the next unmapped rows of a prototype table in id order
    (arguments: those of ``columns``, the id to start after, the batch size)."""
    return f"""WITH batch AS (
    SELECT {columns}
    FROM {table} {alias}
    WHERE {alias}.id > {{}} AND {unmapped(table, alias)}
    ORDER BY {alias}.id
    LIMIT {{}}
)"""


PENDING_AGENTS = (
    f"SELECT count(*) AS pending FROM zairag_agents a WHERE {unmapped('zairag_agents', 'a')}"
)
PENDING_SESSIONS = (
    "SELECT count(*) AS pending FROM zairag_chat_sessions s "
    f"WHERE {unmapped('zairag_chat_sessions', 's')}"
)

# Agents in id order get the workspace's next version numbers. The agent's
# system_prompt becomes the objectives verbatim, its name the tone.
AGENT_BATCH = f"""
{
    next_batch(
        "zairag_agents",
        "a",
        "a.id, a.name, a.system_prompt, row_number() OVER (ORDER BY a.id) AS position",
    )
},
top AS (
    SELECT coalesce(max(version_number), 0) AS number FROM strategy_version
    WHERE workspace_id = {{}}
),
created AS (
    INSERT INTO strategy_version (workspace_id, version_number, status, tone, objectives,
                                  objection_handling, cta_rules, followup_preset)
    SELECT {{}}, top.number + batch.position, '{StrategyStatus.DRAFT.value}', batch.name,
           batch.system_prompt, '', '', '{FollowUpPreset.BALANCED.value}'
    FROM batch CROSS JOIN top
    RETURNING id, version_number
)
INSERT INTO legacy_mapping (prototype_table, prototype_id, strategy_version_id)
SELECT 'zairag_agents', batch.id, created.id
FROM batch CROSS JOIN top JOIN created ON created.version_number = top.number + batch.position
RETURNING prototype_id
"""

# Each session gets a placeholder lead (the prototype had none) and a thread;
# naive prototype timestamps mean UTC.
# The placeholder leads are written as app/lead_writes.py writes any lead by its key.
SESSION_LEADS = insert_by_key(
    ["name", "created_at"],
    rows="SELECT {}, batch.external_id, 'Prototype chat session #' || batch.id, "
    "batch.created_at FROM batch",
    on_conflict=[UNCHANGED],
    returning="id, external_id",
)
SESSION_BATCH = f"""
{
    next_batch(
        "zairag_chat_sessions",
        "s",
        "s.id, s.created_at AT TIME ZONE 'UTC' AS created_at, {} || s.id AS external_id",
    )
},
leads AS (
    {SESSION_LEADS}
),
threads AS (
    INSERT INTO conversation_thread (workspace_id, lead_id, created_at)
    SELECT {{}}, leads.id, batch.created_at
    FROM batch JOIN leads ON leads.external_id = batch.external_id
    RETURNING id, lead_id
)
INSERT INTO legacy_mapping (prototype_table, prototype_id, conversation_thread_id)
SELECT 'zairag_chat_sessions', batch.id, threads.id
FROM batch JOIN leads ON leads.external_id = batch.external_id
           JOIN threads ON threads.lead_id = leads.id
RETURNING prototype_id
"""


@dataclass(frozen=True)
class Pending:
    """What a backfill still has to do."""

    agents: int
    sessions: int


async def pending() -> Pending:
    """Prototype agents and sessions without a mapping yet."""
    agents = await fetch(PENDING_AGENTS)
    sessions = await fetch(PENDING_SESSIONS)
    return Pending(agents=agents[0]["pending"], sessions=sessions[0]["pending"])


async def _batch(sql: str, *arguments: object, workspace_id: int) -> list[int]:
    """Run one batch statement; the prototype ids it mapped."""
    async with transaction():
        await fetch(CUSTOM_PLANS)
        await fetch(BACKFILL_LOCK)
        await lock_workspace(workspace_id)
        rows = await fetch(sql, *arguments)
    return [row["prototype_id"] for row in rows]


async def agent_batches(workspace_id: int, batch_size: int) -> AsyncIterator[int]:
    """Map agents to DRAFT strategy versions, one committed batch at a time."""
    after_id = 0  # keyset: each batch starts after the last id the previous one mapped
    while mapped := await _batch(
        AGENT_BATCH, after_id, batch_size, workspace_id, workspace_id, workspace_id=workspace_id
    ):
        after_id = max(mapped)
        yield len(mapped)


async def session_batches(workspace_id: int, batch_size: int) -> AsyncIterator[int]:
    """Map chat sessions to threads with placeholder leads, one batch at a time."""
    after_id = 0
    while mapped := await _batch(
        SESSION_BATCH,
        PLACEHOLDER_PREFIX,
        after_id,
        batch_size,
        workspace_id,
        workspace_id,
        workspace_id=workspace_id,
    ):
        after_id = max(mapped)
        yield len(mapped)
