"""The policy engine against the database: permits recorded with their effect on
the lead, the lead lock that serialises workers, simulation, replay, the schedule."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.enums import SendKind
from app.policy import engine
from app.policy.rules import RULES
from tests import factories
from tests.database_setup import until_waiting_for_locks
from tests.policy_setup import (
    WEDNESDAY_NOON_LONDON,
    inbound,
    lead_row,
    london_lead,
)

AT = WEDNESDAY_NOON_LONDON
HOUR = timedelta(hours=1)


pytestmark = pytest.mark.usefixtures("replayed_decisions")


async def decisions_of(connection, lead_id: int) -> list[dict]:
    rows = await connection.fetch(
        "SELECT * FROM policy_decision WHERE lead_id = $1 ORDER BY created_at, id", lead_id
    )
    return [dict(row) for row in rows]


# --- permits and their effect on the lead ---------------------------------------------------


async def test_a_follow_up_permit_is_recorded_and_schedules_the_next(connection, acme):
    lead_id = await london_lead(connection, acme)
    permit = await engine.request_permit(acme, lead_id, SendKind.FOLLOWUP, at=AT)

    [recorded] = await decisions_of(connection, lead_id)
    assert recorded["id"] == permit["id"]
    assert (recorded["allow_send"], recorded["reason_code"]) == (True, "POLICY_PASSED")
    assert (recorded["kind"], recorded["message_format"]) == ("followup", "template")
    assert recorded["created_at"] == AT and recorded["next_allowed_at"] is None
    trace = json.loads(recorded["rule_trace"])
    assert trace["zone"] == "Europe/London" and trace["evaluated_at"] == AT.isoformat()
    assert trace["inputs"]["lead_id"] == lead_id and trace["policy_version"] == 1
    lead = await lead_row(connection, lead_id)
    assert lead["last_followup_at"] == AT
    assert lead["next_followup_at"] == AT + timedelta(hours=48)  # BALANCED


async def test_a_deferred_follow_up_is_due_when_allowed(connection, acme):
    lead_id = await london_lead(connection, acme, next_followup_at=AT)
    night = AT + 11 * HOUR  # 23:00 in London
    decision = await engine.request_permit(acme, lead_id, SendKind.FOLLOWUP, at=night)
    assert (decision["allow_send"], decision["reason_code"]) == (False, "QUIET_HOURS")
    morning = datetime(2027, 6, 17, 8, 0, tzinfo=UTC)  # Thursday 09:00 BST
    assert decision["next_allowed_at"] == morning
    lead = await lead_row(connection, lead_id)
    assert lead["next_followup_at"] == morning and lead["last_followup_at"] is None


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"stage": "SUPPRESSED"}, "LEAD_SUPPRESSED"),
        ({"tags": ["DISCONNECT"]}, "LEAD_DISCONNECTED"),
        ({"stage": "CLOSED_LOST"}, "LEAD_CLOSED"),
    ],
)
async def test_a_permanent_denial_has_no_next_time_and_stops_follow_ups(
    connection, api, acme, values, reason
):
    lead_id = await london_lead(connection, acme, next_followup_at=AT, **values)
    response = await api.post(f"/leads/{lead_id}/send-permits", {"kind": "followup"})
    assert response.status_code == 201
    body = response.json()
    assert (body["allow_send"], body["reason_code"], body["next_allowed_at"]) == (
        False,
        reason,
        None,
    )
    assert body["message_format"] is None and body["id"] is not None
    [recorded] = await decisions_of(connection, lead_id)
    assert recorded["reason_code"] == reason and recorded["id"] == body["id"]
    assert (await lead_row(connection, lead_id))["next_followup_at"] is None


async def test_a_denial_until_something_changes_keeps_the_schedule(connection):
    workspace_id = await factories.workspace(connection, "No attestation")
    lead_id = await london_lead(connection, workspace_id, next_followup_at=AT)
    decision = await engine.request_permit(workspace_id, lead_id, SendKind.FOLLOWUP, at=AT)
    assert (decision["reason_code"], decision["next_allowed_at"]) == ("ATTESTATION_MISSING", None)
    assert (await lead_row(connection, lead_id))["next_followup_at"] == AT


async def test_a_permit_over_the_api_agrees_with_the_clock_it_was_made_at(connection, api, acme):
    # Real time: the lead's zone is chosen so that it is mid-day there now.
    now = datetime.now(UTC)
    offset = (13 - now.hour) % 24  # hours to add to UTC for ~13:00 local
    offset = offset - 24 if offset > 14 else offset
    zone = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    lead_id = await london_lead(connection, acme, timezone=zone)

    body = (await api.post(f"/leads/{lead_id}/send-permits", {"kind": "followup"})).json()

    local = datetime.fromisoformat(body["rule_trace"]["local_time"])
    assert 9 <= local.hour < 21
    if local.strftime("%a") == "Sun":
        assert body["reason_code"] == "SUNDAY_HOLD"
        opening = datetime.fromisoformat(body["next_allowed_at"]).astimezone(local.tzinfo)
        assert opening.strftime("%a %H:%M") == "Mon 09:00"
    else:
        assert (body["allow_send"], body["reason_code"]) == (True, "POLICY_PASSED")
    assert body["created_at"] == body["rule_trace"]["evaluated_at"].replace("+00:00", "Z")


async def test_a_reply_needs_the_lead_to_have_written_in_the_last_24_hours(connection, acme):
    lead_id = await london_lead(connection, acme)
    await inbound(connection, acme, lead_id, AT - 25 * HOUR)
    late = await engine.request_permit(acme, lead_id, SendKind.REPLY, at=AT)
    await inbound(connection, acme, lead_id, AT - HOUR)
    timely = await engine.request_permit(acme, lead_id, SendKind.REPLY, at=AT)
    assert (late["allow_send"], late["reason_code"]) == (False, "REPLY_WINDOW_CLOSED")
    assert (timely["allow_send"], timely["message_format"]) == (True, "free_form")
    # A reply does not touch the follow-up schedule.
    assert (await lead_row(connection, lead_id))["last_followup_at"] is None


async def test_five_unanswered_follow_ups_stop_until_the_lead_writes(connection, acme):
    lead_id = await london_lead(connection, acme, tags=["POSITIVE"])
    at = AT
    for _ in range(5):
        permit = await engine.request_permit(acme, lead_id, SendKind.FOLLOWUP, at=at)
        assert permit["allow_send"], permit["summary"]
        at = (await lead_row(connection, lead_id))["next_followup_at"]
    stopped = await engine.request_permit(acme, lead_id, SendKind.FOLLOWUP, at=at)
    assert (stopped["reason_code"], stopped["next_allowed_at"]) == ("STOP_UNANSWERED", None)
    lead = await lead_row(connection, lead_id)
    assert json.loads(lead["tags"]) == ["POSITIVE", "NO_RESPONSE"]
    assert (lead["next_followup_at"], lead["stage"]) == (None, "CONTACTED")

    await inbound(connection, acme, lead_id, at + HOUR)
    again = await engine.request_permit(acme, lead_id, SendKind.FOLLOWUP, at=at + 2 * HOUR)
    assert again["allow_send"], again["summary"]


@pytest.mark.contenders(20)
async def test_twenty_workers_asking_at_once_get_one_permit(connection, fresh_database, acme):
    lead_id = await london_lead(connection, acme)
    # Hold the lead's row lock so that all twenty requests are queued behind it.
    blocker = await asyncpg.connect(fresh_database)
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("SELECT 1 FROM lead WHERE id = $1 FOR UPDATE", lead_id)
    requests = [
        asyncio.create_task(engine.request_permit(acme, lead_id, SendKind.FOLLOWUP, at=AT))
        for _ in range(20)
    ]
    await until_waiting_for_locks(connection, 20)
    await transaction.rollback()
    results = await asyncio.gather(*requests)
    await blocker.close()

    allowed = [r for r in results if r["allow_send"]]
    assert len(allowed) == 1
    refused = [r for r in results if not r["allow_send"]]
    assert {r["reason_code"] for r in refused} == {"OUTBOUND_CAP_24H"}
    assert all(r["next_allowed_at"] >= allowed[0]["created_at"] + 24 * HOUR for r in refused)
    assert len(await decisions_of(connection, lead_id)) == 20


# --- simulate, replay, schedule ----------------------------------------------------------------


async def test_simulate_decides_at_any_instant_and_records_nothing(connection, api, acme):
    lead_id = await london_lead(connection, acme)
    sunday = datetime(2027, 6, 20, 11, 0, tzinfo=UTC)
    response = await api.post(
        "/policy/simulate", {"lead_id": lead_id, "kind": "followup", "at": sunday.isoformat()}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["created_at"], body["reason_code"]) == (None, None, "SUNDAY_HOLD")
    assert body["next_allowed_at"] == "2027-06-21T08:00:00Z"  # Monday 09:00 BST
    assert "SUNDAY_HOLD" in body["summary"] and "2027-06-21 09:00 BST" in body["summary"]
    assert await decisions_of(connection, lead_id) == []


async def test_replay_re_runs_a_recorded_decision(connection, api, acme):
    lead_id = await london_lead(connection, acme)
    decision = await engine.request_permit(acme, lead_id, SendKind.FOLLOWUP, at=AT + 11 * HOUR)
    response = await api.get(f"/policy-decisions/{decision['id']}/replay")
    assert response.status_code == 200
    body = response.json()
    assert body["same"] is True and body["decision_id"] == decision["id"]
    assert body["recorded"] == body["replayed"]
    assert body["recorded"]["reason_code"] == "QUIET_HOURS"
    assert len(body["recorded"]["rules"]) == len(RULES)


async def test_a_decision_not_made_by_the_engine_cannot_be_replayed(connection, api, acme):
    lead_id = await london_lead(connection, acme)
    legacy = await factories.policy_decision(connection, acme, lead_id)
    response = await api.get(f"/policy-decisions/{legacy}/replay")
    assert response.status_code == 409
    assert "not made by the policy engine" in response.json()["error"]["message"]


async def test_the_schedule_previews_the_next_follow_ups(connection, api, acme):
    lead_id = await london_lead(connection, acme, timezone="America/New_York")
    response = await api.get(f"/leads/{lead_id}/schedule", count=3)
    assert response.status_code == 200
    body = response.json()
    assert (body["zone"], body["interval_hours"]) == ("America/New_York", 48)
    instants = [datetime.fromisoformat(item["at"]) for item in body["items"]]
    assert len(instants) == 3 and instants == sorted(instants)
    assert all(b - a >= timedelta(hours=48) for a, b in pairwise(instants))
    for item in body["items"]:
        local = datetime.fromisoformat(item["local"])
        assert 9 <= local.hour < 21 and local.strftime("%a") != "Sun"
        assert local == datetime.fromisoformat(item["at"])
    assert await decisions_of(connection, lead_id) == []


async def test_the_schedule_of_a_lead_without_a_timezone_is_in_its_numbers_zones(
    connection, api, acme
):
    lead_id = await london_lead(connection, acme, "+61412345678", timezone=None)
    body = (await api.get(f"/leads/{lead_id}/schedule", count=3)).json()
    assert body["zone_source"] == "phone_number" and "Australia/Sydney" in body["zones"]
    assert body["zone"] == body["zones"][0]
    for item in body["items"]:  # inside the window in every one of the number's zones
        instant = datetime.fromisoformat(item["at"])
        for name in body["zones"]:
            local = instant.astimezone(ZoneInfo(name))
            assert 9 <= local.hour < 21 and local.strftime("%a") != "Sun", (name, local)


async def test_the_schedule_of_a_stopped_lead_is_empty_with_the_reason(connection, api, acme):
    lead_id = await london_lead(connection, acme, tags=["DISCONNECT"])
    body = (await api.get(f"/leads/{lead_id}/schedule")).json()
    assert (body["items"], body["stops_with"]) == ([], "LEAD_DISCONNECTED")


async def test_the_last_inbound_time_follows_the_leads_messages(connection, acme):
    lead_id = await london_lead(connection, acme)
    thread_id = await inbound(connection, acme, lead_id, AT)
    await factories.chat_message(connection, thread_id, role="user", created_at=AT - HOUR)
    await factories.chat_message(connection, thread_id, role="system", created_at=AT + HOUR)
    assert (await lead_row(connection, lead_id))["last_inbound_at"] == AT


async def test_a_lead_whose_zone_is_unknown_gets_no_decision(connection, api, acme):
    lead_id = await london_lead(connection, acme)
    # Written around the validation, as psql can.
    await connection.execute("UPDATE lead SET timezone = 'Mars/Base' WHERE id = $1", lead_id)
    response = await api.post(f"/leads/{lead_id}/send-permits", {"kind": "followup"})
    simulated = await api.post("/policy/simulate", {"lead_id": lead_id, "kind": "followup"})
    assert (response.status_code, simulated.status_code) == (409, 409)
    assert "'Mars/Base' is not an IANA timezone name" in response.json()["error"]["message"]
    assert await decisions_of(connection, lead_id) == []
