"""Lead actions: suppress, take over, release, scoped to the workspace."""

import asyncio

import asyncpg
import pytest

from app.enums import LeadStage
from app.errors import Conflict, NotFound
from app.leads import release_lead, suppress_lead, take_over_lead
from tests import factories


async def lead_state(connection, lead_id: int) -> tuple[str, str | None]:
    row = await connection.fetchrow(
        "SELECT stage, stage_before_takeover FROM lead WHERE id = $1", lead_id
    )
    return row["stage"], row["stage_before_takeover"]


@pytest.fixture
async def engaged_lead(connection):
    workspace_id = await factories.workspace(connection)
    lead_id = await factories.lead(connection, workspace_id, stage="ENGAGED")
    return workspace_id, lead_id


async def test_take_over_then_release_returns_to_the_earlier_stage(connection, engaged_lead):
    workspace_id, lead_id = engaged_lead
    taken = await take_over_lead(workspace_id, lead_id)
    assert (taken.stage_before, taken.stage_after) == (LeadStage.ENGAGED, LeadStage.TAKE_OVER)
    assert await lead_state(connection, lead_id) == ("TAKE_OVER", "ENGAGED")

    released = await release_lead(workspace_id, lead_id)
    assert (released.stage_before, released.stage_after) == (LeadStage.TAKE_OVER, LeadStage.ENGAGED)
    assert await lead_state(connection, lead_id) == ("ENGAGED", None)


async def test_taking_over_twice_is_a_conflict(connection, engaged_lead):
    workspace_id, lead_id = engaged_lead
    await take_over_lead(workspace_id, lead_id)
    with pytest.raises(Conflict, match="already taken over"):
        await take_over_lead(workspace_id, lead_id)
    assert await lead_state(connection, lead_id) == ("TAKE_OVER", "ENGAGED")


async def test_releasing_a_lead_not_taken_over_is_a_conflict(connection, engaged_lead):
    workspace_id, lead_id = engaged_lead
    with pytest.raises(Conflict, match="is ENGAGED, not taken over"):
        await release_lead(workspace_id, lead_id)


async def test_suppress_ends_a_takeover_and_repeating_it_changes_nothing(connection, engaged_lead):
    workspace_id, lead_id = engaged_lead
    await take_over_lead(workspace_id, lead_id)
    first = await suppress_lead(workspace_id, lead_id)
    assert first.changed and first.stage_before == LeadStage.TAKE_OVER
    assert await lead_state(connection, lead_id) == ("SUPPRESSED", None)
    again = await suppress_lead(workspace_id, lead_id)
    assert not again.changed
    assert "already SUPPRESSED" in again.message


@pytest.mark.parametrize("action", [suppress_lead, take_over_lead, release_lead])
async def test_a_lead_of_another_workspace_is_not_found_and_unchanged(
    connection, engaged_lead, action
):
    _, lead_id = engaged_lead
    other = await factories.workspace(connection, "Other")
    with pytest.raises(NotFound, match=f"lead {lead_id} does not exist in workspace {other}"):
        await action(other, lead_id)
    assert await lead_state(connection, lead_id) == ("ENGAGED", None)


async def test_simultaneous_takeovers_succeed_once(connection, engaged_lead):
    workspace_id, lead_id = engaged_lead
    results = await asyncio.gather(
        *(take_over_lead(workspace_id, lead_id) for _ in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(result, Exception) for result in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    assert await lead_state(connection, lead_id) == ("TAKE_OVER", "ENGAGED")


# --- what the database enforces on its own ------------------------------------


async def test_the_database_refuses_a_takeover_that_forgets_the_stage(connection, engaged_lead):
    _, lead_id = engaged_lead
    with pytest.raises(asyncpg.CheckViolationError, match="lead_takeover_remembers_stage"):
        await connection.execute("UPDATE lead SET stage = 'TAKE_OVER' WHERE id = $1", lead_id)
    with pytest.raises(asyncpg.CheckViolationError, match="lead_takeover_remembers_stage"):
        await connection.execute(
            "UPDATE lead SET stage_before_takeover = 'NEW' WHERE id = $1", lead_id
        )
    assert await lead_state(connection, lead_id) == ("ENGAGED", None)


async def test_the_remembered_stage_is_a_stage_other_than_take_over(connection, engaged_lead):
    _, lead_id = engaged_lead
    for bad in ("TAKE_OVER", "BOGUS"):
        with pytest.raises(asyncpg.CheckViolationError, match="lead_stage_before_takeover_valid"):
            await connection.execute(
                "UPDATE lead SET stage = 'TAKE_OVER', stage_before_takeover = $1 WHERE id = $2",
                bad,
                lead_id,
            )
    assert await lead_state(connection, lead_id) == ("ENGAGED", None)


async def test_the_database_refuses_duplicate_tags(connection, engaged_lead):
    _, lead_id = engaged_lead
    with pytest.raises(asyncpg.CheckViolationError, match="lead_tags_distinct"):
        await connection.execute(
            """UPDATE lead SET tags = '["POSITIVE", "NEUTRAL", "POSITIVE"]' WHERE id = $1""",
            lead_id,
        )
    assert await connection.fetchval("SELECT tags::text FROM lead WHERE id = $1", lead_id) == "[]"
