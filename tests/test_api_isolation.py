"""Tenant isolation: workspace A's token against every endpoint with B's ids gets
404, exactly as for a missing row, and nothing of B changes."""

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.api_client import client_for

B_ROWS = {
    "workspace": "SELECT * FROM workspace WHERE id = $1",
    "lead": "SELECT * FROM lead WHERE workspace_id = $1 ORDER BY id",
    "strategy_version": "SELECT * FROM strategy_version WHERE workspace_id = $1 ORDER BY id",
    "conversation_thread": "SELECT * FROM conversation_thread WHERE workspace_id = $1 ORDER BY id",
    "chat_message": "SELECT m.* FROM chat_message m JOIN conversation_thread t "
    "ON t.id = m.thread_id WHERE t.workspace_id = $1 ORDER BY m.id",
    "policy_decision": "SELECT * FROM policy_decision WHERE workspace_id = $1 ORDER BY id",
    "outreach_attestation": "SELECT * FROM outreach_attestation WHERE workspace_id = $1",
    "consent_wording": "SELECT * FROM consent_wording WHERE workspace_id = $1 ORDER BY id",
    "consent_event": "SELECT * FROM consent_event WHERE workspace_id = $1 ORDER BY id",
}


async def rows_of(connection, workspace_id: int) -> dict[str, list]:
    return {
        table: [dict(row) for row in await connection.fetch(query, workspace_id)]
        for table, query in B_ROWS.items()
    }


@pytest.fixture
async def tenants(connection):
    """Workspace A (the caller) and workspace B with one of everything."""
    a = await factories.workspace(connection, "A")
    b = await factories.workspace(connection, "B")
    past = datetime.now(UTC) - timedelta(hours=1)
    lead = await factories.lead(connection, b, "+b", stage="ENGAGED", next_followup_at=past)
    taken = await factories.lead(
        connection, b, "+taken", stage="TAKE_OVER", stage_before_takeover="NEW"
    )
    thread = await factories.thread(connection, b, lead)
    await factories.chat_message(connection, thread)
    await factories.strategy_version(
        connection, b, 1, status="ACTIVE", activated_at=datetime.now(UTC)
    )
    draft = await factories.strategy_version(connection, b, 2)
    decision = await factories.policy_decision(connection, b, lead)
    await factories.attestation(connection, b)
    wording = await factories.insert(
        connection, "consent_wording", workspace_id=b, business_name="B", text="B may write?"
    )
    await factories.insert(
        connection,
        "consent_event",
        workspace_id=b,
        lead_id=lead,
        action="grant",
        purpose="marketing",
        wording_id=wording,
        method="web_form",
        captured_at=past,
    )
    ids = {"lead": lead, "taken": taken, "thread": thread, "draft": draft, "decision": decision}
    ids["wording"] = await connection.fetchval("SELECT version FROM consent_wording")
    return a, b, ids


REQUESTS_FOR_B_ROWS = [
    ("GET", "/leads/{lead}", None),
    ("PATCH", "/leads/{lead}", {"name": "stolen"}),
    ("POST", "/leads/{lead}/suppress", None),
    ("POST", "/leads/{lead}/takeover", None),
    ("POST", "/leads/{taken}/release", None),
    ("POST", "/leads/{lead}/threads", None),
    ("GET", "/threads/{thread}/messages", None),
    ("POST", "/threads/{thread}/messages", {"role": "user", "content": "hi"}),
    ("PATCH", "/strategies/{draft}", {"tone": "stolen"}),
    ("POST", "/strategies/{draft}/activate", None),
    ("POST", "/leads/{lead}/send-permits", {"kind": "followup"}),
    ("POST", "/policy/simulate", {"lead_id": "{lead}", "kind": "followup"}),
    ("GET", "/leads/{lead}/schedule", None),
    ("GET", "/policy-decisions/{decision}/replay", None),
    ("GET", "/consent-wordings/{wording}", None),
    ("GET", "/leads/{lead}/consent", None),
    ("GET", "/leads/{lead}/consent-events", None),
    (
        "POST",
        "/leads/{lead}/consent-events",
        {"action": "revoke", "purpose": "marketing", "captured_at": "2026-11-30T09:00:00Z"},
    ),
]


def with_ids(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: int(v.format(**ids)) if v == "{lead}" else v for key, v in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS_FOR_B_ROWS)
async def test_another_workspaces_row_is_404_and_unchanged(connection, tenants, method, path, body):
    a, b, ids = tenants
    client = await client_for(a)
    before = await rows_of(connection, b)

    response = await client.request(method, with_ids(path, ids), json=with_ids(body, ids))
    missing = await client.request(
        method,
        with_ids(path, dict.fromkeys(ids, 999_999)),
        json=with_ids(body, dict.fromkeys(ids, "999999")),
    )

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert await rows_of(connection, b) == before
    await client.http.aclose()


async def test_lists_show_only_the_callers_rows(connection, tenants):
    a, b, ids = tenants
    client = await client_for(a)
    before = await rows_of(connection, b)
    assert (await client.get("/leads")).json()["items"] == []
    assert (await client.get("/strategies")).json() == []
    assert (await client.get("/strategies/active")).status_code == 404
    assert (await client.get("/policy-decisions", lead_id=ids["lead"])).json()["items"] == []
    assert (await client.get("/attestations")).json()["items"] == []
    assert (await client.get("/attestations/current")).json()["granted"] is False
    assert (await client.get("/consent-wordings")).json() == []
    assert (await client.post("/followups/claim", {})).json()["items"] == []
    dispatched = (await client.post("/followups/dispatch", {})).json()
    assert (dispatched["permits"], dispatched["deferred"], dispatched["stopped"]) == ([], 0, 0)
    assert (await client.post("/strategies/rollback")).status_code == 409
    assert (await client.get("/workspace")).json()["id"] == a
    assert await rows_of(connection, b) == before
    await client.http.aclose()


async def test_the_same_external_id_in_two_workspaces_is_two_leads(connection, tenants):
    a, b, _ = tenants
    client = await client_for(a)
    before = await rows_of(connection, b)
    response = await client.put("/leads/by-external-id/+b", {"name": "A's own"})
    assert response.status_code == 201
    assert await rows_of(connection, b) == before
    await client.http.aclose()


async def test_a_grant_cannot_cite_another_workspaces_wording(connection, tenants):
    a, b, ids = tenants
    own_lead = await factories.lead(connection, a, "+a")
    client = await client_for(a)
    before = await rows_of(connection, b)
    grant = {
        "action": "grant",
        "purpose": "marketing",
        "wording_version": ids["wording"],
        "method": "web_form",
        "captured_at": "2026-11-30T09:00:00Z",
    }
    response = await client.post(f"/leads/{own_lead}/consent-events", grant)
    assert response.status_code == 409, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["wording_version"]
    assert await rows_of(connection, b) == before
    assert (await rows_of(connection, a))["consent_event"] == []
    await client.http.aclose()
