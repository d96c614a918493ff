"""Channel restrictions are data: a superuser adds one in the admin and the next
decision for a lead it covers is CHANNEL_RESTRICTED, naming it; operators read
them; a malformed row is refused by the database's CHECKs in words, and nothing is
stored."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from app.enums import ReasonCode, SendKind
from app.policy import engine
from tests.admin_client import AdminClient, logged_in_operator, messages
from tests.policy_setup import WEDNESDAY_NOON_LONDON, inbound, london_lead, outreach_workspace

UK_MARKETING = {
    "number_prefix": "+44",
    "region": None,
    "template_category": "MARKETING",
    "since": "2027-06-01",
    "description": "Marketing templates to UK numbers are not delivered",
    "source": "https://developers.facebook.com/docs/whatsapp/",
}


@pytest.fixture
async def root() -> AsyncIterator[AdminClient]:
    """A superuser logged in to the admin."""
    operator = await logged_in_operator("root", superuser=True)
    yield operator
    await operator.http.aclose()


async def restrictions(connection) -> list[dict]:
    rows = await connection.fetch(
        "SELECT number_prefix, region, template_category, since::text, description "
        "FROM channel_restriction ORDER BY id"
    )
    return [dict(row) for row in rows]


SEEDED = {
    "number_prefix": "+1",
    "region": "US",
    "template_category": "MARKETING",
    "since": "2025-04-01",
}


async def test_the_us_marketing_pause_is_seeded_and_operators_read_it(connection, admin):
    [seeded] = await restrictions(connection)
    assert {key: seeded[key] for key in SEEDED} == SEEDED
    listed = await admin.get("/tables/channel_restriction/")
    assert listed.status_code == 200, listed.text
    assert [row["number_prefix"] for row in listed.json()["rows"]] == ["+1"]


async def test_an_operator_cannot_add_change_or_delete_a_restriction(connection, admin):
    before = await restrictions(connection)
    [row_id] = [r["id"] for r in (await admin.get("/tables/channel_restriction/")).json()["rows"]]
    added = await admin.create("channel_restriction", **UK_MARKETING)
    edited = await admin.edit("channel_restriction", row_id, description="changed")
    deleted = await admin.delete(f"/tables/channel_restriction/{row_id}/")
    assert [r.status_code for r in (added, edited, deleted)] == [405, 405, 405]
    assert "Only superusers" in messages(added)
    assert await restrictions(connection) == before


async def test_a_restriction_added_by_a_superuser_holds_the_next_follow_up(connection, root):
    acme = await outreach_workspace(connection)
    lead_id = await london_lead(connection, acme, "+447911123456")
    before = await engine.simulate(acme, lead_id, SendKind.FOLLOWUP, at=WEDNESDAY_NOON_LONDON)
    assert before["allow_send"], before["summary"]

    added = await root.create("channel_restriction", **UK_MARKETING)
    assert added.status_code == 201, added.text
    restriction_id = added.json()[0]["id"]

    held = await engine.simulate(acme, lead_id, SendKind.FOLLOWUP, at=WEDNESDAY_NOON_LONDON)
    assert (held["allow_send"], held["reason_code"]) == (False, ReasonCode.CHANNEL_RESTRICTED)
    assert (
        f"restriction #{restriction_id}: MARKETING templates to +44 not delivered"
        in held["summary"]
    )
    assert UK_MARKETING["description"] in held["summary"]
    # Recorded in the change log as the superuser's.
    actor = await connection.fetchval(
        "SELECT actor FROM change_log WHERE table_name = 'channel_restriction' AND row_id = $1",
        restriction_id,
    )
    assert actor == "root"


async def test_a_lead_who_wrote_within_24_hours_is_answered_in_free_form(connection, root):
    acme = await outreach_workspace(connection)
    lead_id = await london_lead(connection, acme, "+447911123456")
    await inbound(connection, acme, lead_id, WEDNESDAY_NOON_LONDON - timedelta(hours=2))
    assert (await root.create("channel_restriction", **UK_MARKETING)).status_code == 201

    decision = await engine.simulate(acme, lead_id, SendKind.FOLLOWUP, at=WEDNESDAY_NOON_LONDON)
    assert decision["reason_code"] != ReasonCode.CHANNEL_RESTRICTED, decision["summary"]
    [channel] = [r for r in decision["rule_trace"]["rules"] if r["rule"] == "CHANNEL_RESTRICTED"]
    assert channel["passed"] and "free form within the service window" in channel["detail"]


async def test_a_restriction_covers_only_its_category_and_region(connection, root):
    acme = await outreach_workspace(connection)
    canadian = await london_lead(connection, acme, "+16135550123", timezone="America/Toronto")
    at = WEDNESDAY_NOON_LONDON + timedelta(hours=5)  # 12:00 in Toronto
    utility = {
        **UK_MARKETING,
        "number_prefix": "+1",
        "region": None,
        "template_category": "UTILITY",
    }
    assert (await root.create("channel_restriction", **utility)).status_code == 201
    # The seeded pause names the US; a utility restriction covers no follow-up.
    decision = await engine.simulate(acme, canadian, SendKind.FOLLOWUP, at=at)
    assert decision["allow_send"], decision["summary"]


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("number_prefix", "44", "number_prefix must be an E.164 prefix"),
        ("number_prefix", "+044", "number_prefix must be an E.164 prefix"),
        ("region", "gg", "region must be empty or a country's two capital letters"),
        ("template_category", "PROMOTION", "template_category must be one of MARKETING"),
        ("description", "   ", "description must say what is not delivered"),
    ],
)
async def test_a_malformed_restriction_is_refused_in_words(connection, root, field, value, said):
    before = await restrictions(connection)
    response = await root.create("channel_restriction", **{**UK_MARKETING, field: value})
    assert response.status_code == 422, response.text
    assert said in messages(response)
    assert await restrictions(connection) == before


async def test_a_restriction_is_stated_once(connection, root):
    before = await restrictions(connection)
    again = {**UK_MARKETING, **SEEDED}
    response = await root.create("channel_restriction", **again)
    assert response.status_code == 422, response.text
    assert "this prefix, region and category already has a restriction" in messages(response)
    assert await restrictions(connection) == before


async def test_an_operator_sets_the_workspaces_messaging_tier_in_the_admin(connection, admin):
    acme = await outreach_workspace(connection)
    version = await connection.fetchval("SELECT policy_version FROM workspace WHERE id = $1", acme)
    edited = await admin.edit("workspace", acme, messaging_tier="TIER_2K")
    assert edited.status_code == 200, edited.text
    refused = await admin.edit("workspace", acme, messaging_tier="TIER_1M")
    assert refused.status_code == 422, refused.text
    row = await connection.fetchrow(
        "SELECT messaging_tier, policy_version FROM workspace WHERE id = $1", acme
    )
    # Decisions name the policy they were made under: the tier is part of it.
    assert (row["messaging_tier"], row["policy_version"]) == ("TIER_2K", version + 1)
