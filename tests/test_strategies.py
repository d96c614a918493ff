"""Strategy versions: activation, rollback, frozen content, numbering, races."""

import asyncio

import asyncpg
import pytest

from app.enums import FollowUpPreset
from app.errors import Conflict, InvalidValue, NotFound
from app.policy.strategies import (
    activate_strategy_version,
    create_draft,
    ensure_editable,
    roll_back_strategy,
)
from tests import factories
from tests.locks import held, waiting_for


async def statuses(connection, workspace_id: int) -> dict[int, str]:
    rows = await connection.fetch(
        "SELECT version_number, status FROM strategy_version WHERE workspace_id = $1",
        workspace_id,
    )
    return {row["version_number"]: row["status"] for row in rows}


@pytest.fixture
async def workspace_with_drafts(connection):
    workspace_id = await factories.workspace(connection)
    ids = [await factories.strategy_version(connection, workspace_id, n) for n in (1, 2, 3)]
    return workspace_id, ids


async def test_activating_the_first_version_sets_activated_at(connection, workspace_with_drafts):
    workspace_id, (v1, _, _) = workspace_with_drafts
    change = await activate_strategy_version(workspace_id, v1)
    assert (change.activated_version, change.rolled_back_version) == (1, None)
    row = await connection.fetchrow("SELECT * FROM strategy_version WHERE id = $1", v1)
    assert row["status"] == "ACTIVE"
    assert row["activated_at"] is not None
    assert row["previous_active_version_id"] is None


async def test_activating_another_version_rolls_back_the_active_one(
    connection, workspace_with_drafts
):
    workspace_id, (v1, v2, _) = workspace_with_drafts
    await activate_strategy_version(workspace_id, v1)
    change = await activate_strategy_version(workspace_id, v2)
    assert change.message == "v2 is now ACTIVE; v1 is now ROLLED_BACK."
    assert await statuses(connection, workspace_id) == {1: "ROLLED_BACK", 2: "ACTIVE", 3: "DRAFT"}


async def test_activating_the_active_version_is_a_conflict(connection, workspace_with_drafts):
    workspace_id, (v1, _, _) = workspace_with_drafts
    await activate_strategy_version(workspace_id, v1)
    before = await factories.table_snapshot(connection, "strategy_version")
    with pytest.raises(Conflict, match="v1 is already ACTIVE"):
        await activate_strategy_version(workspace_id, v1)
    assert await factories.table_snapshot(connection, "strategy_version") == before


async def test_a_version_of_another_workspace_is_not_found(connection, workspace_with_drafts):
    workspace_id, (v1, _, _) = workspace_with_drafts
    other = await factories.workspace(connection, "Other")
    with pytest.raises(NotFound, match=f"strategy version {v1} does not exist in workspace"):
        await activate_strategy_version(other, v1)
    assert set((await statuses(connection, workspace_id)).values()) == {"DRAFT"}


async def test_an_unknown_workspace_is_not_found():
    with pytest.raises(NotFound, match="workspace 999 does not exist"):
        await roll_back_strategy(999)


async def test_rollback_walks_back_through_the_activation_history(
    connection, workspace_with_drafts
):
    workspace_id, (v1, v2, v3) = workspace_with_drafts
    for version_id in (v1, v2, v3):
        await activate_strategy_version(workspace_id, version_id)

    first = await roll_back_strategy(workspace_id)
    assert (first.activated_version, first.rolled_back_version) == (2, 3)
    assert await statuses(connection, workspace_id) == {
        1: "ROLLED_BACK",
        2: "ACTIVE",
        3: "ROLLED_BACK",
    }

    second = await roll_back_strategy(workspace_id)
    assert (second.activated_version, second.rolled_back_version) == (1, 2)

    with pytest.raises(Conflict, match="nothing to roll back to"):
        await roll_back_strategy(workspace_id)
    assert await statuses(connection, workspace_id) == {
        1: "ACTIVE",
        2: "ROLLED_BACK",
        3: "ROLLED_BACK",
    }


async def test_rollback_returns_to_what_was_active_before_the_latest_activation(
    connection, workspace_with_drafts
):
    workspace_id, (v1, v2, v3) = workspace_with_drafts
    await activate_strategy_version(workspace_id, v1)
    await activate_strategy_version(workspace_id, v2)
    await roll_back_strategy(workspace_id)  # v1 again
    await activate_strategy_version(workspace_id, v3)
    change = await roll_back_strategy(workspace_id)
    assert change.activated_version == 1


async def test_rollback_without_an_active_version_is_a_conflict(workspace_with_drafts):
    workspace_id, _ = workspace_with_drafts
    with pytest.raises(Conflict, match="no ACTIVE strategy version"):
        await roll_back_strategy(workspace_id)


async def test_two_simultaneous_activations_leave_exactly_one_active(
    connection, fresh_database, workspace_with_drafts
):
    """Both queue behind the workspace lock the test holds; then one after the other."""
    workspace_id, (v1, v2, _) = workspace_with_drafts
    lock = "SELECT id FROM workspace WHERE id = $1 FOR UPDATE"
    async with held(fresh_database, lock, workspace_id) as holder:
        contenders = [
            asyncio.create_task(activate_strategy_version(workspace_id, version))
            for version in (v1, v2)
        ]
        await waiting_for(holder, 2)
    changes = await asyncio.gather(*contenders)
    final = await statuses(connection, workspace_id)
    assert sorted(final.values()) == ["ACTIVE", "DRAFT", "ROLLED_BACK"]
    # The later of the two saw the earlier one's result and rolled it back.
    first, second = sorted(changes, key=lambda change: change.rolled_back_version is not None)
    assert first.rolled_back_version is None
    assert second.rolled_back_version == first.activated_version
    assert final[second.activated_version] == "ACTIVE"


async def test_only_drafts_are_editable(connection, workspace_with_drafts):
    workspace_id, (v1, v2, _) = workspace_with_drafts
    await activate_strategy_version(workspace_id, v1)
    await ensure_editable(workspace_id, v2)
    with pytest.raises(Conflict, match="v1 is ACTIVE: only DRAFT versions can be edited"):
        await ensure_editable(workspace_id, v1)


async def test_create_draft_numbers_versions_per_workspace(connection):
    acme = await factories.workspace(connection, "Acme")
    globex = await factories.workspace(connection, "Globex")
    first = await create_draft(acme, FollowUpPreset.GENTLE, tone="warm")
    second = await create_draft(acme, FollowUpPreset.BALANCED, overrides={"CONTACTED": 48})
    other = await create_draft(globex, FollowUpPreset.AGGRESSIVE)
    assert (first["version_number"], second["version_number"], other["version_number"]) == (1, 2, 1)
    assert (first["status"], first["tone"]) == ("DRAFT", "warm")


async def test_create_draft_refuses_bad_interval_overrides(connection):
    acme = await factories.workspace(connection)
    with pytest.raises(InvalidValue, match="interval_overrides"):
        await create_draft(acme, FollowUpPreset.GENTLE, overrides={"CONTACTED": 0})
    assert await connection.fetchval("SELECT count(*) FROM strategy_version") == 0


async def test_simultaneous_drafts_get_distinct_version_numbers(connection):
    acme = await factories.workspace(connection)
    drafts = await asyncio.gather(*(create_draft(acme, FollowUpPreset.GENTLE) for _ in range(10)))
    assert sorted(draft["version_number"] for draft in drafts) == list(range(1, 11))


# --- what the database enforces on its own ------------------------------------


async def test_the_database_numbers_a_version_inserted_without_one(connection):
    acme = await factories.workspace(connection)
    await factories.strategy_version(connection, acme, 7)
    new_id = await factories.insert(
        connection, "strategy_version", workspace_id=acme, followup_preset="GENTLE"
    )
    number = await connection.fetchval(
        "SELECT version_number FROM strategy_version WHERE id = $1", new_id
    )
    assert number == 8


@pytest.mark.parametrize(
    "assignment",
    [
        "tone = 'changed'",
        "objectives = 'changed'",
        "objection_handling = 'changed'",
        "cta_rules = 'changed'",
        "followup_preset = 'AGGRESSIVE'",
        """interval_overrides = '{"NEW": 5}'""",
        "version_number = 99",
    ],
)
async def test_the_database_freezes_content_of_non_draft_versions(
    connection, workspace_with_drafts, assignment
):
    workspace_id, (v1, _, _) = workspace_with_drafts
    await activate_strategy_version(workspace_id, v1)
    before = await factories.table_snapshot(connection, "strategy_version")
    with pytest.raises(asyncpg.RestrictViolationError, match="only DRAFT versions can be edited"):
        await connection.execute(f"UPDATE strategy_version SET {assignment} WHERE id = $1", v1)
    assert await factories.table_snapshot(connection, "strategy_version") == before


async def test_the_database_lets_drafts_be_edited(connection, workspace_with_drafts):
    _, (v1, _, _) = workspace_with_drafts
    await connection.execute("UPDATE strategy_version SET tone = 'bold' WHERE id = $1", v1)
    assert (
        await connection.fetchval("SELECT tone FROM strategy_version WHERE id = $1", v1) == "bold"
    )


async def test_no_version_returns_to_draft(connection, workspace_with_drafts):
    workspace_id, (v1, _, _) = workspace_with_drafts
    await activate_strategy_version(workspace_id, v1)
    with pytest.raises(asyncpg.RestrictViolationError, match="cannot return to DRAFT"):
        await connection.execute("UPDATE strategy_version SET status = 'DRAFT' WHERE id = $1", v1)
    assert (await statuses(connection, workspace_id))[1] == "ACTIVE"


async def test_a_rollback_target_must_be_in_the_same_workspace(connection, workspace_with_drafts):
    _, (v1, _, _) = workspace_with_drafts
    other = await factories.workspace(connection, "Other")
    foreign = await factories.strategy_version(connection, other, 1)
    with pytest.raises(
        asyncpg.ForeignKeyViolationError, match="strategy_version_previous_tenant_fkey"
    ):
        await connection.execute(
            "UPDATE strategy_version SET previous_active_version_id = $1 WHERE id = $2",
            foreign,
            v1,
        )
