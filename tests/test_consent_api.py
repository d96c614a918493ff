"""The consent ledger through the API: wordings numbered and hashed by the database,
grants and revocations recorded with their proof, a lead's history and state; every
refusal re-reads the ledger to show nothing was stored."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.api_client import client_for

TEXT = "Yes, Acme Dental may send me offers on WhatsApp. Reply STOP to stop."
SAID_AT = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
EVIDENCE = {
    "ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (iPhone)",
    "page_url": "https://acme.example/offers",
    "screenshot": "s3://acme-consent/2026-11-30/lead-17.png",
}


@pytest.fixture
async def acme(connection):
    """A workspace with a lead, and its API client."""
    workspace_id = await factories.workspace(connection, "Acme Dental")
    lead_id = await factories.lead(connection, workspace_id, "+60123456789")
    client = await client_for(workspace_id)
    yield workspace_id, lead_id, client
    await client.http.aclose()


def grant(**fields) -> dict:
    return {
        "action": "grant",
        "purpose": "marketing",
        "wording_version": 1,
        "method": "web_form",
        "evidence": EVIDENCE,
        "captured_at": SAID_AT.isoformat(),
        **fields,
    }


async def events(connection) -> list[dict]:
    return await factories.table_snapshot(connection, "consent_event")


async def test_wordings_are_numbered_and_hashed_by_the_database(connection, acme):
    _, _, client = acme
    first = await client.post("/consent-wordings", {"business_name": "Acme Dental", "text": TEXT})
    second = await client.post(
        "/consent-wordings",
        {"business_name": " Acme Dental ", "text": "ACME DENTAL offers on WhatsApp?"},
    )

    assert first.status_code == second.status_code == 201, first.text
    assert first.json()["version"] == 1 and second.json()["version"] == 2
    assert first.json()["sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert second.json()["business_name"] == "Acme Dental"
    listed = (await client.get("/consent-wordings")).json()
    assert [w["version"] for w in listed] == [2, 1]
    assert (await client.get("/consent-wordings/1")).json() == first.json()
    assert (await client.get("/consent-wordings/3")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"business_name": "Acme Dental", "text": "Yes, send me offers."}, 409, "text"),
        ({"business_name": "Acme Dental", "text": "   "}, 422, "text"),
        ({"business_name": "  ", "text": TEXT}, 422, "business_name"),
        ({"business_name": "Acme Dental", "text": "Acme\x00"}, 422, "text"),
        ({"business_name": "Acme Dental"}, 422, "text"),
    ],
)
async def test_a_wording_must_name_the_business(connection, acme, body, status, field):
    _, _, client = acme
    response = await client.post("/consent-wordings", body)

    assert response.status_code == status, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]
    assert "refused by the database" not in response.text
    assert await factories.table_snapshot(connection, "consent_wording") == []


async def test_a_grant_is_recorded_with_who_when_how_and_what_was_said(connection, acme):
    workspace_id, lead_id, client = acme
    wording = (
        await client.post("/consent-wordings", {"business_name": "Acme Dental", "text": TEXT})
    ).json()
    before = datetime.now(UTC)

    response = await client.post(f"/leads/{lead_id}/consent-events", grant())

    assert response.status_code == 201, response.text
    recorded = response.json()
    assert recorded["action"] == "grant" and recorded["purpose"] == "marketing"
    assert recorded["channel"] == "whatsapp" and recorded["method"] == "web_form"
    assert recorded["wording_version"] == 1 and recorded["wording_sha256"] == wording["sha256"]
    assert recorded["evidence"] == EVIDENCE
    assert datetime.fromisoformat(recorded["captured_at"]) == SAID_AT
    assert datetime.fromisoformat(recorded["recorded_at"]) >= before - timedelta(seconds=5)
    assert (recorded["recorded_by_kind"], recorded["recorded_by"]) == ("API_TOKEN", "tests")
    [row] = await events(connection)
    assert (row["workspace_id"], row["lead_id"], row["recorded_by"]) == (
        workspace_id,
        lead_id,
        "tests",
    )


async def test_state_and_history_follow_the_latest_event(connection, acme):
    _, lead_id, client = acme
    await client.post("/consent-wordings", {"business_name": "Acme Dental", "text": TEXT})
    empty = (await client.get(f"/leads/{lead_id}/consent")).json()
    assert [(p["purpose"], p["granted"], p["event"]) for p in empty["purposes"]] == [
        ("marketing", False, None),
        ("utility", False, None),
    ]
    for hours, body in enumerate(
        [
            grant(),
            grant(purpose="utility", method="checkbox"),
            {"action": "revoke", "purpose": "marketing", "method": "verbal"},
        ]
    ):
        said = (SAID_AT + timedelta(hours=hours)).isoformat()
        response = await client.post(
            f"/leads/{lead_id}/consent-events", {**body, "captured_at": said}
        )
        assert response.status_code == 201, response.text

    state = (await client.get(f"/leads/{lead_id}/consent")).json()
    assert [(p["purpose"], p["granted"], p["event"]["action"]) for p in state["purposes"]] == [
        ("marketing", False, "revoke"),
        ("utility", True, "grant"),
    ]
    first = (await client.get(f"/leads/{lead_id}/consent-events", limit=2)).json()
    rest = (
        await client.get(f"/leads/{lead_id}/consent-events", limit=2, cursor=first["next_cursor"])
    ).json()
    said = [e["action"] + ":" + e["purpose"] for e in first["items"] + rest["items"]]
    assert said == ["revoke:marketing", "grant:utility", "grant:marketing"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in grant().items() if k != "wording_version"}, "wording_version"),
        ({k: v for k, v in grant().items() if k != "method"}, "method"),
        ({k: v for k, v in grant().items() if k != "captured_at"}, "captured_at"),
        (grant(captured_at="2026-11-30T09:15:00"), "captured_at"),
        (grant(evidence={"ip": "203.0.113.7\x00"}), "evidence.ip"),
        (grant(evidence={"cookie": "x"}), "evidence.cookie"),
        (grant(evidence={"page_url": "u" * 2049}), "evidence.page_url"),
        ({"action": "revoke", "purpose": "marketing", "wording_version": 1}, "wording_version"),
    ],
)
async def test_an_incomplete_event_is_refused_and_nothing_is_stored(connection, acme, body, field):
    _, lead_id, client = acme
    await client.post("/consent-wordings", {"business_name": "Acme Dental", "text": TEXT})

    response = await client.post(f"/leads/{lead_id}/consent-events", body)

    assert response.status_code == 422, response.text
    named = [f["field"] for f in response.json()["error"]["fields"]]
    assert any(name.endswith(field) for name in named), named
    assert await events(connection) == []


@pytest.mark.parametrize(
    "said_at",
    [
        (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
    ],
    ids=["an-hour-ahead", "before-year-1-in-utc", "after-9999-in-utc"],
)
async def test_a_moment_in_the_future_or_out_of_range_is_refused_with_its_field(
    connection, acme, said_at
):
    _, lead_id, client = acme
    await client.post("/consent-wordings", {"business_name": "Acme Dental", "text": TEXT})

    response = await client.post(f"/leads/{lead_id}/consent-events", grant(captured_at=said_at))

    assert response.status_code == 409, response.text
    assert response.json()["error"]["fields"][0]["field"] == "captured_at"
    assert await events(connection) == []


async def test_another_workspaces_lead_is_404_its_wording_409_and_nothing_is_stored(
    connection, acme
):
    _, lead_id, client = acme
    other = await factories.workspace(connection, "Other")
    other_lead = await factories.lead(connection, other, "+60198765432")
    await factories.insert(
        connection, "consent_wording", workspace_id=other, business_name="Other", text="Other ok?"
    )

    wording_of_other = await client.post(f"/leads/{lead_id}/consent-events", grant())
    lead_of_other = await client.post(
        f"/leads/{other_lead}/consent-events",
        {"action": "revoke", "purpose": "marketing", "captured_at": SAID_AT.isoformat()},
    )

    assert (wording_of_other.status_code, lead_of_other.status_code) == (409, 404)
    [refused] = wording_of_other.json()["error"]["fields"]
    assert refused["field"] == "wording_version"
    assert "wording version 1 does not exist" in wording_of_other.json()["error"]["message"]
    assert (await client.get(f"/leads/{other_lead}/consent")).status_code == 404
    assert (await client.get(f"/leads/{other_lead}/consent-events")).status_code == 404
    assert (await client.get("/consent-wordings")).json() == []
    assert await events(connection) == []
