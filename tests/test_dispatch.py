"""Dispatch: due leads claimed and gated in one transaction, each either permitted
and rescheduled, deferred to when allowed, or stopped; no retry storm."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from app.policy import engine
from tests.api_client import client_for
from tests.policy_setup import (
    WEDNESDAY_NOON_LONDON,
    inbound,
    lead_row,
    london_lead,
    outreach_workspace,
)

AT = WEDNESDAY_NOON_LONDON
MINUTE = timedelta(minutes=1)


pytestmark = pytest.mark.usefixtures("replayed_decisions")


async def decision_count(connection) -> int:
    return await connection.fetchval("SELECT count(*) FROM policy_decision")


async def test_dispatch_permits_defers_and_stops(connection, acme):
    due = AT - MINUTE
    ready = await london_lead(connection, acme, "+44ready", next_followup_at=due)
    night = await london_lead(
        connection, acme, "+1night", timezone="America/Los_Angeles", next_followup_at=due
    )
    gone = await london_lead(connection, acme, "+44gone", tags=["DISCONNECT"], next_followup_at=due)
    later = await london_lead(connection, acme, "+44later", next_followup_at=AT + MINUTE)

    result = await engine.dispatch(acme, limit=10, lease_seconds=60, at=AT)

    assert [permit["lead_id"] for permit in result.permits] == [ready]
    assert (result.deferred, result.stopped, result.paused) == (1, 1, None)
    assert await decision_count(connection) == 3
    permitted = await lead_row(connection, ready)
    assert permitted["last_followup_at"] == AT
    assert permitted["next_followup_at"] == AT + timedelta(hours=48)
    assert permitted["followup_lease_until"] == AT + timedelta(seconds=60)
    # 04:00 in Los Angeles: due again at 09:00 PDT (16:00 UTC), no lease held.
    deferred = await lead_row(connection, night)
    assert deferred["next_followup_at"] == datetime(2027, 6, 16, 16, 0, tzinfo=UTC)
    assert deferred["followup_lease_until"] is None
    assert (await lead_row(connection, gone))["next_followup_at"] is None
    assert (await lead_row(connection, later))["last_followup_at"] is None


async def test_a_deferred_lead_gets_one_decision_not_one_per_poll(connection, acme):
    lead_id = await london_lead(
        connection, acme, timezone="America/Los_Angeles", next_followup_at=AT - MINUTE
    )
    first = await engine.dispatch(acme, limit=10, lease_seconds=60, at=AT)
    for minutes in range(1, 6):
        again = await engine.dispatch(acme, limit=10, lease_seconds=60, at=AT + minutes * MINUTE)
        assert (again.permits, again.deferred, again.stopped) == ([], 0, 0)
    assert first.deferred == 1
    assert await decision_count(connection) == 1
    # When the window opens, it goes out.
    opening = (await lead_row(connection, lead_id))["next_followup_at"]
    assert len((await engine.dispatch(acme, 10, 60, at=opening)).permits) == 1


async def test_dispatch_stops_after_five_unanswered_and_an_inbound_message_resets(connection, acme):
    lead_id = await london_lead(connection, acme, next_followup_at=AT)
    at = AT
    for _ in range(5):
        result = await engine.dispatch(acme, limit=10, lease_seconds=60, at=at)
        assert len(result.permits) == 1
        at = (await lead_row(connection, lead_id))["next_followup_at"]
    stopped = await engine.dispatch(acme, limit=10, lease_seconds=60, at=at)
    assert (stopped.permits, stopped.stopped) == ([], 1)
    lead = await lead_row(connection, lead_id)
    assert (lead["next_followup_at"], json.loads(lead["tags"])) == (None, ["NO_RESPONSE"])
    assert await decision_count(connection) == 6

    await inbound(connection, acme, lead_id, at + MINUTE)
    await connection.execute(
        "UPDATE lead SET next_followup_at = $1 WHERE id = $2", at + 2 * MINUTE, lead_id
    )
    resumed = await engine.dispatch(acme, limit=10, lease_seconds=60, at=at + 3 * MINUTE)
    assert len(resumed.permits) == 1


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("UPDATE workspace SET budget_tier = 'RED'", "BUDGET_RED"),
        ("UPDATE strategy_version SET status = 'ROLLED_BACK'", "NO_ACTIVE_STRATEGY"),
        (
            "INSERT INTO outreach_attestation (workspace_id, operator_id, granted) "
            "SELECT id, 'ops', false FROM workspace",
            "ATTESTATION_MISSING",
        ),
    ],
)
async def test_a_workspace_wide_hold_pauses_dispatch_and_keeps_the_schedule(
    connection, acme, setup, reason
):
    lead_id = await london_lead(connection, acme, next_followup_at=AT - MINUTE)
    await connection.execute(setup)
    result = await engine.dispatch(acme, limit=10, lease_seconds=60, at=AT)
    assert result.paused is not None and result.paused["reason_code"] == reason
    assert (result.permits, result.deferred, result.stopped) == ([], 0, 0)
    assert await decision_count(connection) == 0
    lead = await lead_row(connection, lead_id)
    assert (lead["next_followup_at"], lead["followup_lease_until"]) == (AT - MINUTE, None)


async def test_the_dispatch_endpoint(connection, acme):
    past = datetime.now(UTC) - timedelta(hours=1)
    await london_lead(connection, acme, "+44gone", tags=["DISCONNECT"], next_followup_at=past)
    other = await outreach_workspace(connection, "Globex")
    await london_lead(connection, other, "+44theirs", tags=["DISCONNECT"], next_followup_at=past)
    client = await client_for(acme)
    response = await client.post("/followups/dispatch", {"limit": 5, "lease_seconds": 30})
    refused = await client.post("/followups/dispatch", {"limit": 0})
    await client.http.aclose()
    assert response.status_code == 200
    assert response.json() == {"permits": [], "deferred": 0, "stopped": 1, "paused": None}
    assert refused.status_code == 422
    # Only the caller's workspace was gated.
    assert await connection.fetchval("SELECT array_agg(workspace_id) FROM policy_decision") == [
        acme
    ]


async def test_two_dispatchers_never_gate_the_same_lead(connection, acme):
    for n in range(30):
        await london_lead(connection, acme, f"+44{n:04}", next_followup_at=AT - MINUTE)
    results = await asyncio.gather(
        *(engine.dispatch(acme, limit=10, lease_seconds=60, at=AT) for _ in range(4))
    )
    permitted = [permit["lead_id"] for result in results for permit in result.permits]
    assert len(permitted) == len(set(permitted)) == 30
    assert await decision_count(connection) == 30
