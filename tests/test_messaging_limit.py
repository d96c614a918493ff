"""WhatsApp's messaging limit as a rule: the tier on the workspace (API and admin), the
count of people loaded as of the decision's instant, permits that stay within the limit
when many leads ask at once, and dispatch that pauses at the limit without a storm of
decisions. The rule's instants are checked against an oracle in
tests/test_messaging_limit_oracle.py."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.db.executor import transaction
from app.enums import MessagingTier, SendKind
from app.policy import engine
from app.policy.engine import MESSAGING_LIMIT_LOCK
from tests import factories
from tests.admin_client import messages
from tests.locks import held, waiting_for
from tests.policy_setup import WEDNESDAY_NOON_LONDON, inbound, lead_row, london_lead
from tests.test_api import error_of

AT = WEDNESDAY_NOON_LONDON
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
HOLD_LIMIT = "SELECT pg_advisory_xact_lock($1, $2)"


@pytest.fixture(autouse=True)
async def engine_decisions_replay(connection):
    """After each test: every decision the engine made replays to the same result (the
    earlier permits the tests write themselves carry no inputs)."""
    yield
    rows = await connection.fetch(
        "SELECT id, workspace_id FROM policy_decision WHERE rule_trace ? 'inputs' ORDER BY id"
    )
    for row in rows:
        replayed = await engine.replay(row["workspace_id"], row["id"])
        assert replayed["same"], replayed


async def counted_permits(connection, workspace_id: int, at: datetime = AT) -> int:
    """People given a template follow-up permit in the 24 h before ``at``, re-read."""
    return await connection.fetchval(
        "SELECT count(DISTINCT lead_id) FROM policy_decision WHERE workspace_id = $1 "
        "AND allow_send AND kind = 'followup' AND message_format = 'template' "
        "AND created_at > $2::timestamptz - interval '24 hours' AND created_at <= $2",
        workspace_id,
        at,
    )


async def earlier_permits(connection, workspace_id: int, count: int, oldest: datetime) -> None:
    """``count`` leads of the workspace given a template permit, the first at ``oldest``
    and the others a minute apart after it (as the engine records them)."""
    await connection.execute(
        "WITH people AS ("
        "  INSERT INTO lead (workspace_id, external_id, timezone, stage) "
        "  SELECT $1, '+4477007' || lpad(n::text, 5, '0'), 'Europe/London', 'CONTACTED' "
        "  FROM generate_series(1, $2) n RETURNING id) "
        "INSERT INTO policy_decision (workspace_id, lead_id, kind, allow_send, reason_code, "
        "  message_format, created_at) "
        "SELECT $1, id, 'followup', true, 'POLICY_PASSED', 'template', "
        "  $3::timestamptz + (row_number() OVER (ORDER BY id) - 1) * interval '1 minute' "
        "FROM people",
        workspace_id,
        count,
        oldest,
    )


async def limited_workspace(connection, places_left: int, oldest: datetime) -> int:
    """A workspace ready for outreach at the 250 tier with ``places_left`` places."""
    from tests.policy_setup import outreach_workspace

    workspace_id = await outreach_workspace(connection)
    await connection.execute(
        "UPDATE workspace SET messaging_tier = $1 WHERE id = $2",
        MessagingTier.TIER_250.value,
        workspace_id,
    )
    await earlier_permits(connection, workspace_id, 250 - places_left, oldest)
    return workspace_id


# --- the tier on the workspace ---------------------------------------------------------------


async def test_every_workspace_starts_at_the_250_tier(connection, acme):
    assert await connection.fetchval("SELECT messaging_tier FROM workspace") == "TIER_250"


async def test_the_api_reads_and_changes_the_messaging_tier(api, connection):
    assert (await api.get("/workspace")).json()["messaging_tier"] == "TIER_250"
    changed = await api.patch("/workspace", {"messaging_tier": "TIER_10K"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["messaging_tier"] == "TIER_10K"
    assert await connection.fetchval("SELECT messaging_tier FROM workspace") == "TIER_10K"


@pytest.mark.parametrize("value", ["TIER_1M", "tier_250", "", None, 250, ["TIER_2K"]])
async def test_a_bad_messaging_tier_is_422_and_changes_nothing(api, connection, value):
    before = dict(await connection.fetchrow("SELECT * FROM workspace"))
    response = await api.patch("/workspace", {"messaging_tier": value, "budget_tier": "RED"})
    assert response.status_code == 422, response.text
    assert "messaging_tier" in [item["field"] for item in error_of(response)["fields"]]
    assert dict(await connection.fetchrow("SELECT * FROM workspace")) == before


async def test_the_domain_names_the_tiers_when_refusing_one(acme, connection):
    from app.errors import InvalidValue
    from app.workspaces import update_workspace

    with pytest.raises(InvalidValue, match=r"messaging_tier: must be one of \['TIER_250'"):
        await update_workspace(acme, {"messaging_tier": "TIER_1M"})
    assert await connection.fetchval("SELECT messaging_tier FROM workspace") == "TIER_250"


async def test_the_admin_offers_the_tiers_and_edits_one(admin, connection, acme):
    schema = (await admin.get("/tables/workspace/schema/")).json()
    choices = schema["properties"]["messaging_tier"]["extra"]["choices"]
    assert {choice["value"] for choice in choices.values()} == set(MessagingTier)
    edited = await admin.edit("workspace", acme, messaging_tier="TIER_100K")
    assert edited.status_code == 200, edited.text
    assert await connection.fetchval("SELECT messaging_tier FROM workspace") == "TIER_100K"


async def test_the_admin_refuses_a_bad_tier_readably(admin, connection, acme):
    edited = await admin.patch(f"/tables/workspace/{acme}/", {"messaging_tier": "TIER_1M"})
    assert edited.status_code == 422
    assert "messaging_tier: must be one of" in messages(edited)
    created = await admin.create("workspace", name="Beta", messaging_tier="LOTS")
    assert created.status_code == 422
    assert "messaging_tier: must be one of" in messages(created)
    rows = await connection.fetch("SELECT name, messaging_tier FROM workspace")
    assert [tuple(row) for row in rows] == [("Acme", "TIER_250")]


async def test_the_database_refuses_a_tier_written_around_the_application(connection, acme):
    import asyncpg

    with pytest.raises(asyncpg.CheckViolationError, match="workspace_messaging_tier_valid"):
        await connection.execute("UPDATE workspace SET messaging_tier = 'TIER_1M'")
    assert await connection.fetchval("SELECT messaging_tier FROM workspace") == "TIER_250"


# --- the count of people, as of the decision's instant ---------------------------------------


async def test_the_count_is_of_people_given_a_template_permit_in_the_24_h_before_at(
    connection, acme
):
    other = await factories.workspace(connection, "Other")
    one, two, free, refused = [
        await london_lead(connection, acme, f"+4477009000{n}") for n in range(4)
    ]
    stranger = await london_lead(connection, other, "+447700900009")
    asked = await london_lead(connection, acme, "+447700900008")

    async def decision(workspace_id, lead_id, at, **values):
        values = {
            "kind": "followup",
            "reason_code": "POLICY_PASSED",
            "message_format": "template",
            **values,
        }
        await factories.policy_decision(connection, workspace_id, lead_id, created_at=at, **values)

    await decision(acme, one, AT - 24 * HOUR)  # leaves the window exactly at AT
    await decision(acme, one, AT - 3 * HOUR)  # the same person again: counted once
    await decision(acme, two, AT - 23 * HOUR)
    await decision(acme, free, AT - HOUR, message_format="free_form")  # not counted
    await decision(
        acme,
        refused,
        AT - HOUR,
        allow_send=False,
        message_format=None,
        reason_code="OUTBOUND_CAP_24H",
    )
    await decision(acme, two, AT - HOUR, kind="reply", message_format="free_form")
    await decision(other, stranger, AT - HOUR)  # another workspace's
    await decision(acme, free, AT + MINUTE)  # after the instant asked about

    async with transaction() as held_connection:
        for at, expected in [
            (AT, (2, AT - 23 * HOUR)),
            (AT - MINUTE, (2, AT - 24 * HOUR)),
            (AT + MINUTE, (3, AT - 23 * HOUR)),
            (AT + 20 * HOUR, (2, AT - 3 * HOUR)),
            (AT + 21 * HOUR, (1, AT + MINUTE)),
            (AT - 25 * HOUR, (0, None)),
        ]:
            [inputs] = await engine.load_inputs(
                held_connection, acme, [asked], SendKind.FOLLOWUP, at
            )
            counted = (inputs.template_recipients_24h, inputs.oldest_template_at)
            assert counted == expected, at
            assert inputs.template_recipients_24h == await counted_permits(connection, acme, at)


async def test_an_unlimited_workspace_loads_no_count(connection, acme):
    await connection.execute("UPDATE workspace SET messaging_tier = 'UNLIMITED'")
    lead_id = await london_lead(connection, acme)
    await factories.policy_decision(
        connection,
        acme,
        lead_id,
        kind="followup",
        reason_code="POLICY_PASSED",
        message_format="template",
        created_at=AT,
    )
    inputs = await engine._inputs(acme, lead_id, SendKind.FOLLOWUP, AT)
    assert (inputs.messaging_tier, inputs.template_recipients_24h) == ("UNLIMITED", 0)


# --- race-safe permits -----------------------------------------------------------------------


@pytest.mark.contenders(50)
async def test_fifty_leads_asking_for_the_last_place_get_one_permit(connection, fresh_database):
    workspace_id = await limited_workspace(connection, places_left=1, oldest=AT - 20 * HOUR)
    leads = [await london_lead(connection, workspace_id, f"+4477008{n:05d}") for n in range(50)]
    async with held(fresh_database, HOLD_LIMIT, MESSAGING_LIMIT_LOCK, workspace_id) as holder:
        requests = [
            asyncio.create_task(
                engine.request_permit(workspace_id, lead_id, SendKind.FOLLOWUP, at=AT)
            )
            for lead_id in leads
        ]
        await waiting_for(holder, 50)  # all fifty queue behind the workspace's lock
    answers = await asyncio.gather(*requests)

    assert sum(answer["allow_send"] for answer in answers) == 1
    refused = {(a["reason_code"], a["next_allowed_at"]) for a in answers if not a["allow_send"]}
    assert refused == {("MESSAGING_LIMIT", AT + 4 * HOUR)}  # the oldest permit leaves then
    assert await counted_permits(connection, workspace_id) == 250
    recorded = await connection.fetch(
        "SELECT allow_send FROM policy_decision WHERE lead_id = ANY($1::int[])", leads
    )
    assert sorted(row["allow_send"] for row in recorded) == [False] * 49 + [True]


async def test_a_free_form_follow_up_goes_at_the_limit_and_is_not_counted(connection):
    workspace_id = await limited_workspace(connection, places_left=0, oldest=AT - 20 * HOUR)
    wrote = await london_lead(connection, workspace_id, "+447700800001")
    await inbound(connection, workspace_id, wrote, AT - 2 * HOUR)
    silent = await london_lead(connection, workspace_id, "+447700800002")

    free = await engine.request_permit(workspace_id, wrote, SendKind.FOLLOWUP, at=AT)
    template = await engine.request_permit(workspace_id, silent, SendKind.FOLLOWUP, at=AT)

    assert (free["allow_send"], free["message_format"]) == (True, "free_form")
    assert (template["reason_code"], template["next_allowed_at"]) == (
        "MESSAGING_LIMIT",
        AT + 4 * HOUR,
    )
    assert "250 of 250 people" in template["summary"]
    assert await counted_permits(connection, workspace_id) == 250


async def test_an_unlimited_workspace_takes_no_lock(connection, fresh_database, acme):
    await connection.execute("UPDATE workspace SET messaging_tier = 'UNLIMITED'")
    lead_id = await london_lead(connection, acme)
    async with held(fresh_database, HOLD_LIMIT, MESSAGING_LIMIT_LOCK, acme):
        permit = await asyncio.wait_for(
            engine.request_permit(acme, lead_id, SendKind.FOLLOWUP, at=AT), timeout=10
        )
    assert permit["allow_send"], permit["summary"]


# --- dispatch: one pause, not a refusal per due lead -----------------------------------------


async def test_dispatch_gives_the_places_left_and_leaves_the_rest_due(connection):
    oldest = AT - 20 * HOUR
    workspace_id = await limited_workspace(connection, places_left=3, oldest=oldest)
    due = [
        await london_lead(
            connection, workspace_id, f"+4477008{n:05d}", next_followup_at=AT - (10 - n) * MINUTE
        )
        for n in range(6)
    ]
    # Due last, after the places are gone: it wrote two hours ago, so it goes free form.
    wrote = await london_lead(connection, workspace_id, "+447700899999", next_followup_at=AT)
    await inbound(connection, workspace_id, wrote, AT - 2 * HOUR)
    before = await connection.fetchval("SELECT count(*) FROM policy_decision")

    result = await engine.dispatch(workspace_id, limit=20, lease_seconds=60, at=AT)

    permitted = {(p["lead_id"], p["message_format"]) for p in result.permits}
    assert permitted == {*((lead_id, "template") for lead_id in due[:3]), (wrote, "free_form")}
    assert (result.deferred, result.stopped) == (0, 0)
    assert result.paused is not None
    assert (result.paused["reason_code"], result.paused["until"]) == (
        "MESSAGING_LIMIT",
        oldest + 24 * HOUR,
    )
    assert "3 due follow-ups wait" in result.paused["detail"]
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == before + 4
    assert await counted_permits(connection, workspace_id) == 250
    for lead_id in due[3:]:  # undecided: still due, not leased
        row = await lead_row(connection, lead_id)
        assert row["followup_lease_until"] is None and row["next_followup_at"] < AT
        assert row["last_followup_at"] is None

    again = await engine.dispatch(workspace_id, limit=20, lease_seconds=60, at=AT + MINUTE)
    assert (again.permits, again.deferred, again.stopped) == ([], 0, 0)
    assert again.paused is not None and again.paused["reason_code"] == "MESSAGING_LIMIT"
    assert again.paused["until"] == oldest + 24 * HOUR
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == before + 4

    # When the oldest permit leaves the window, one more goes.
    freed = await engine.dispatch(workspace_id, limit=20, lease_seconds=60, at=oldest + 24 * HOUR)
    assert [permit["lead_id"] for permit in freed.permits] == [due[3]]
    assert freed.paused is not None and freed.paused["until"] == oldest + 24 * HOUR + MINUTE


async def test_dispatch_under_a_limit_waits_for_the_workspaces_lock(connection, fresh_database):
    workspace_id = await limited_workspace(connection, places_left=5, oldest=AT - HOUR)
    await london_lead(connection, workspace_id, next_followup_at=AT - MINUTE)
    async with held(fresh_database, HOLD_LIMIT, MESSAGING_LIMIT_LOCK, workspace_id) as holder:
        dispatching = asyncio.create_task(engine.dispatch(workspace_id, 10, 60, at=AT))
        await waiting_for(holder, 1)
    assert len((await dispatching).permits) == 1


async def test_the_api_reports_the_limit_pause(connection, fresh_database):
    from tests.api_client import client_for

    oldest = datetime.now(UTC) - 20 * HOUR
    workspace_id = await limited_workspace(connection, places_left=0, oldest=oldest)
    await london_lead(connection, workspace_id, next_followup_at=datetime(2020, 1, 1, tzinfo=UTC))
    api = await client_for(workspace_id)
    response = await api.post("/followups/dispatch", {"limit": 10})
    await api.http.aclose()
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["permits"], body["paused"]["reason_code"]) == ([], "MESSAGING_LIMIT")
    assert datetime.fromisoformat(body["paused"]["until"]) == oldest + 24 * HOUR
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 250


# --- replay of the channel's deferred reasons ------------------------------------------------


async def test_recorded_limit_decisions_replay_to_their_reasons(connection):
    workspace_id = await limited_workspace(connection, places_left=0, oldest=AT - 20 * HOUR)
    limited = await london_lead(connection, workspace_id, "+447700800001")
    marked = await london_lead(
        connection, workspace_id, "+447700800002", marketing_limited_until=AT + 30 * HOUR
    )
    await inbound(connection, workspace_id, marked, AT - HOUR)  # free form: not the tier
    for lead_id, reason, next_at in [
        (limited, "MESSAGING_LIMIT", AT + 4 * HOUR),
        (marked, "USER_MARKETING_LIMIT", AT + 30 * HOUR),
    ]:
        decision = await engine.request_permit(workspace_id, lead_id, SendKind.FOLLOWUP, at=AT)
        assert (decision["reason_code"], decision["next_allowed_at"]) == (reason, next_at)
        replayed = await engine.replay(workspace_id, decision["id"])
        assert replayed["same"], replayed
        assert replayed["replayed"]["reason_code"] == reason
