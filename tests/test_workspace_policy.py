"""A workspace's send policy narrows the floor and never widens it: through the API,
the admin and direct SQL alike; the engine decides by it."""

from datetime import UTC, datetime

import asyncpg
import pytest

from app.enums import FLOOR_SEND_DAYS
from tests import factories
from tests.admin_client import messages
from tests.api_client import client_for
from tests.policy_setup import london_lead

FLORIDA = {
    "send_window_start": "10:00",
    "send_window_end": "20:00",
    "send_days": ["MON", "TUE", "WED", "THU", "FRI"],
    "blocked_dates": ["2027-12-25", "2027-07-04"],
}


pytestmark = pytest.mark.usefixtures("replayed_decisions")


async def policy_row(connection, workspace_id: int) -> dict:
    row = await connection.fetchrow(
        "SELECT send_window_start, send_window_end, send_days::text, blocked_dates::text, "
        "policy_version FROM workspace WHERE id = $1",
        workspace_id,
    )
    return dict(row)


async def test_a_new_workspace_has_the_floor(api):
    body = (await api.get("/workspace/policy")).json()
    assert body == {
        "send_window_start": "09:00",
        "send_window_end": "21:00",
        "send_days": [day.value for day in FLOOR_SEND_DAYS],
        "blocked_dates": [],
        "holiday_calendars": [],
        "lead_country_holidays": False,
        "policy_version": 1,
    }


async def test_a_narrower_policy_is_stored_and_versioned(api, connection, acme):
    response = await api.put("/workspace/policy", FLORIDA)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["policy_version"] == 2
    assert body["blocked_dates"] == ["2027-07-04", "2027-12-25"]
    assert (await api.get("/workspace/policy")).json() == body
    stored = await policy_row(connection, acme)
    assert str(stored["send_window_end"]) == "20:00:00" and stored["policy_version"] == 2
    # Storing the same policy again changes nothing, not even the version.
    assert (await api.put("/workspace/policy", FLORIDA)).json()["policy_version"] == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"send_window_start": "08:00"}, "08:00 is outside 09:00-21:00"),
        ({"send_window_end": "21:30"}, "21:30 is outside 09:00-21:00"),
        ({"send_window_start": "25:61"}, "is not a time such as '09:30'"),
        ({"send_days": ["MON", "SUN"]}, "Sunday is never a send day"),
        ({"send_days": ["MON", "MON"]}, "a day appears more than once"),
        ({"send_days": []}, "List should have at least 1 item"),
        ({"blocked_dates": ["2027-02-30"]}, "blocked_dates"),
        ({"blocked_dates": ["2027-12-25", "2027-12-25"]}, "a date appears more than once"),
    ],
)
async def test_a_wider_or_malformed_policy_is_refused(api, connection, acme, changes, message):
    before = await policy_row(connection, acme)
    response = await api.put("/workspace/policy", {**FLORIDA, **changes})
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert await policy_row(connection, acme) == before


async def test_a_window_that_ends_before_it_starts_is_a_409_naming_the_field(api, connection, acme):
    """Each edge is schema-valid alone: the rule across them is a conflict, not a 422."""
    before = await policy_row(connection, acme)
    response = await api.put("/workspace/policy", {**FLORIDA, "send_window_start": "20:00"})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert "must be later than the start 20:00" in error["message"]
    assert [item["field"] for item in error["fields"]] == ["send_window_end"]
    assert await policy_row(connection, acme) == before


@pytest.mark.parametrize(
    "assignment",
    [
        "send_window_start = '08:59'",
        "send_window_end = '21:01'",
        "send_window_start = '15:00', send_window_end = '14:00'",
        "send_window_start = '09:00:30'",
        """send_days = '["MON", "SUN"]'""",
        """send_days = '["MON", "MON"]'""",
        "send_days = '[]'",
        """blocked_dates = '["2027-02-30"]'""",
        """blocked_dates = '["25/12/2027"]'""",
        """blocked_dates = '[20271225]'""",
    ],
)
async def test_the_database_refuses_a_wider_policy(connection, acme, assignment):
    before = await policy_row(connection, acme)
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute(f"UPDATE workspace SET {assignment} WHERE id = $1", acme)
    assert await policy_row(connection, acme) == before


async def test_the_database_raises_the_policy_version_on_any_change(connection, acme):
    await connection.execute(
        "UPDATE workspace SET send_window_end = '20:00', policy_version = 99 WHERE id = $1", acme
    )
    await connection.execute("UPDATE workspace SET name = 'Acme Ltd' WHERE id = $1", acme)
    assert (await policy_row(connection, acme))["policy_version"] == 2


async def test_the_engine_decides_by_the_workspace_policy(api, connection, acme):
    lead_id = await london_lead(connection, acme, timezone="America/New_York")
    at = datetime(2027, 6, 16, 0, 30, tzinfo=UTC).isoformat()  # Tuesday 20:30 EDT
    body = {"lead_id": lead_id, "kind": "followup", "at": at}
    assert (await api.post("/policy/simulate", body)).json()["allow_send"] is True
    await api.put("/workspace/policy", FLORIDA)
    decision = (await api.post("/policy/simulate", body)).json()
    assert decision["reason_code"] == "QUIET_HOURS"
    assert decision["next_allowed_at"] == "2027-06-16T14:00:00Z"  # Wednesday 10:00 EDT
    assert decision["rule_trace"]["policy_version"] == 2


# --- the admin ----------------------------------------------------------------------------


async def test_the_admin_edits_the_policy_with_the_same_rules(admin, connection, acme):
    before = await policy_row(connection, acme)
    wider = await admin.edit("workspace", acme, send_window_start="08:00:00")
    assert wider.status_code == 422
    assert "08:00 is outside 09:00-21:00" in messages(wider)
    sunday = await admin.edit("workspace", acme, send_days=["SUN"])
    assert sunday.status_code == 422 and "Sunday is never a send day" in messages(sunday)
    crossed = await admin.edit(
        "workspace", acme, send_window_start="20:30:00", send_window_end="20:00:00"
    )
    assert crossed.status_code == 422 and "must be later than the start" in messages(crossed)
    assert await policy_row(connection, acme) == before

    narrower = await admin.edit(
        "workspace", acme, send_window_end="20:00:00", blocked_dates=["2027-12-25"]
    )
    assert narrower.status_code == 200, narrower.text
    after = await policy_row(connection, acme)
    assert str(after["send_window_end"]) == "20:00:00"
    assert (after["blocked_dates"], after["policy_version"]) == ('["2027-12-25"]', 2)


async def test_the_admin_lists_decisions_with_their_summary(admin, connection, acme):
    lead_id = await london_lead(connection, acme, stage="SUPPRESSED")
    client = await client_for(acme)
    await client.post(f"/leads/{lead_id}/send-permits", {"kind": "followup"})
    await client.http.aclose()
    schema = (await admin.get("/tables/policy_decision/schema/")).json()["extra"]
    assert {"workspace_id", "lead_id", "reason_code", "allow_send", "kind"} <= set(
        schema["visible_filter_names"]
    )
    rows = (await admin.get("/tables/policy_decision/", reason_code="LEAD_SUPPRESSED")).json()
    [row] = rows["rows"]
    assert row["summary"].startswith("followup refused, LEAD_SUPPRESSED (permanent)")


async def test_why_not_shows_every_rule_and_records_nothing(admin, connection, acme):
    lead_id = await london_lead(connection, acme, "+447700900009", tags=["DISCONNECT"])
    response = await admin.submit("why-not,-when-next", lead=lead_id, kind="followup")
    assert response.status_code == 200, response.text
    text = response.json()["custom_form_success"]
    assert text.startswith("followup refused, LEAD_DISCONNECTED (permanent)")
    assert "[NO] LEAD_DISCONNECTED: tags: DISCONNECT" in text
    assert "[ok] ATTESTATION_MISSING" in text and "[-] REPLY_WINDOW_CLOSED" in text
    assert "Follow-ups stop: LEAD_DISCONNECTED" in text
    assert "Zone Europe/London (the lead's timezone)" in text
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 0


async def test_why_not_reads_a_lead_without_a_timezone_in_its_numbers_zone(admin, connection, acme):
    # A Canadian number: marketing templates to US numbers are not delivered.
    lead_id = await london_lead(connection, acme, "+14165550123", timezone=None)
    response = await admin.submit("why-not,-when-next", lead=lead_id, kind="followup")
    text = response.json()["custom_form_success"]
    assert "Zone America/Toronto (America/Toronto, from the +1 416 number)" in text
    # The next follow-ups are listed in Toronto's local time.
    upcoming = text.split("Next follow-ups: ")[1].splitlines()[0].split(", ")
    assert upcoming and all(" EDT (" in item or " EST (" in item for item in upcoming)


async def test_why_not_for_an_unknown_lead_says_so(admin, connection, acme):
    response = await admin.submit("why-not,-when-next", lead=424242)
    assert response.status_code == 422
    assert "lead #424242 does not exist" in messages(response)
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 0


async def test_the_last_inbound_time_is_not_edited_in_the_admin(admin, connection, acme):
    lead_id = await factories.lead(connection, acme)
    response = await admin.edit("lead", lead_id, last_inbound_at="2027-01-01T00:00:00+00:00")
    assert response.status_code == 422
    assert "kept by the database" in messages(response)
    assert await connection.fetchval("SELECT last_inbound_at FROM lead") is None


# --- public holidays ----------------------------------------------------------------------


async def holidays_row(connection, workspace_id: int) -> tuple:
    row = await connection.fetchrow(
        "SELECT holiday_calendars::text, lead_country_holidays, policy_version "
        "FROM workspace WHERE id = $1",
        workspace_id,
    )
    return tuple(row)


async def test_holiday_calendars_are_stored_versioned_and_kept_when_left_out(api, connection, acme):
    body = {**FLORIDA, "holiday_calendars": ["US", "GB-SCT"], "lead_country_holidays": True}
    stored = await api.put("/workspace/policy", body)
    assert stored.status_code == 200, stored.text
    assert stored.json()["holiday_calendars"] == ["US", "GB-SCT"]
    assert await holidays_row(connection, acme) == ('["US", "GB-SCT"]', True, 2)
    # A client that does not know the holiday fields replaces the rest and keeps them.
    kept = await api.put("/workspace/policy", {**FLORIDA, "send_window_end": "19:00"})
    assert kept.json()["holiday_calendars"] == ["US", "GB-SCT"]
    assert await holidays_row(connection, acme) == ('["US", "GB-SCT"]', True, 3)


BAD_CALENDARS = [
    (["XX"], "no public holidays are known for country 'XX'"),
    (["GB-ZZZ"], "GB has no subdivision 'ZZZ'"),
    (["my"], "is not a calendar code such as 'MY'"),
    (["MY", "MY"], "a calendar appears more than once"),
]


@pytest.mark.parametrize(("calendars", "message"), BAD_CALENDARS)
async def test_unknown_holiday_calendars_are_refused_alike_by_the_api_and_the_admin(
    api, admin, connection, acme, calendars, message
):
    before = await holidays_row(connection, acme)
    response = await api.put("/workspace/policy", {**FLORIDA, "holiday_calendars": calendars})
    assert response.status_code == 422 and message in response.json()["error"]["message"]
    edited = await admin.edit("workspace", acme, holiday_calendars=calendars)
    assert edited.status_code == 422 and message in messages(edited)
    assert await holidays_row(connection, acme) == before


async def test_the_database_refuses_a_malformed_holiday_calendar(connection, acme):
    before = await holidays_row(connection, acme)
    for value in ('"MY"', '["my"]', "[1]", '["MY; DROP"]'):
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(
                "UPDATE workspace SET holiday_calendars = $1::jsonb WHERE id = $2", value, acme
            )
    assert await holidays_row(connection, acme) == before
    await connection.execute(
        "UPDATE workspace SET holiday_calendars = '[\"MY\"]' WHERE id = $1", acme
    )
    assert (await holidays_row(connection, acme))[2] == before[2] + 1


async def test_the_engine_holds_a_lead_on_its_countrys_holiday(api, connection, acme):
    lead_id = await london_lead(connection, acme, "+60123456789", timezone=None)
    at = datetime(2027, 9, 16, 3, tzinfo=UTC).isoformat()  # Malaysia Day, 11:00 local
    body = {"lead_id": lead_id, "kind": "followup", "at": at}
    assert (await api.post("/policy/simulate", body)).json()["allow_send"] is True
    await api.put("/workspace/policy", {**FLORIDA, "lead_country_holidays": True})
    decision = (await api.post("/policy/simulate", body)).json()
    assert decision["reason_code"] == "PUBLIC_HOLIDAY"
    assert "Malaysia Day" in decision["summary"]
    assert decision["next_allowed_at"] == "2027-09-17T02:00:00Z"  # Friday 10:00 local
    assert decision["rule_trace"]["zones"] == ["Asia/Kuching"]


def test_every_calendar_the_schema_lists_is_accepted():
    from app.policy.public_holidays import calendar_codes
    from app.policy.workspace_policy import holiday_calendars

    codes = calendar_codes()
    assert {"MY", "US", "GB-SCT"} <= set(codes) and len(codes) > 500
    for code in codes:
        assert holiday_calendars("holiday_calendars", [code]) == [code]
