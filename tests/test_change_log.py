"""Who did what: every admin create, edit and delete, every operator form action and
every state-changing API call leaves one change log row per changed row."""

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from piccolo.apps.user.tables import BaseUser

from app.policy import engine
from app.tables import Lead
from tests import factories
from tests.api_client import ApiClient, client_for
from tests.policy_setup import london_lead, outreach_workspace


@pytest.fixture
async def acme(connection) -> int:
    return await factories.workspace(connection, "Acme")


async def log(connection: asyncpg.Connection, **where: object) -> list[dict]:
    conditions = " AND ".join(f"{column} = ${n}" for n, column in enumerate(where, start=1))
    rows = await connection.fetch(
        f"SELECT * FROM change_log WHERE {conditions or 'true'} ORDER BY id", *where.values()
    )
    return [{**row, "changes": json.loads(row["changes"] or "null")} for row in rows]


async def test_an_admin_create_edit_and_delete_are_recorded_as_the_operator(
    admin, connection, acme
):
    ana = await BaseUser.select(BaseUser.id).where(BaseUser.username == "ana").first()
    created = await admin.create("lead", workspace_id=acme, external_id="+15550001111", name="Ana")
    lead_id = created.json()[0]["id"]
    edited = await admin.edit("lead", lead_id, name="Ana Lima", stage="CONTACTED")
    deleted = await admin.delete(f"/tables/lead/{lead_id}/")
    assert [r.status_code for r in (created, edited, deleted)] == [201, 200, 204]

    rows = await log(connection, table_name="lead", row_id=lead_id)
    assert [(r["operation"], r["action"]) for r in rows] == [
        ("CREATE", "admin create"),
        ("EDIT", "admin edit"),
        ("DELETE", "admin delete"),
    ]
    assert {(r["actor_kind"], r["actor"], r["actor_id"]) for r in rows} == {
        ("OPERATOR", "ana", ana["id"])
    }
    assert rows[0]["changes"]["external_id"] == {"new": "+15550001111"}
    # An edit records exactly the fields it changed, with both values.
    assert rows[1]["changes"] == {
        "name": {"old": "Ana", "new": "Ana Lima"},
        "stage": {"old": "NEW", "new": "CONTACTED"},
    }
    assert rows[2]["changes"]["name"] == {"old": "Ana Lima"}
    assert {(r["workspace_id"], r["lead_id"]) for r in rows} == {(acme, lead_id)}


async def test_an_operator_form_is_recorded_by_its_name(admin, connection, acme):
    lead_id = await factories.lead(connection, acme, "+15550002222", stage="QUALIFIED")
    response = await admin.submit("suppress-lead", lead=lead_id)
    assert response.status_code == 200, response.text
    [row] = await log(connection, table_name="lead", operation="EDIT")
    assert (row["actor"], row["action"], row["row_id"]) == ("ana", "Suppress lead", lead_id)
    assert row["changes"] == {"stage": {"old": "QUALIFIED", "new": "SUPPRESSED"}}


async def test_an_api_change_is_recorded_as_the_token(connection, acme):
    api: ApiClient = await client_for(acme)
    token = await connection.fetchrow("SELECT id, name FROM api_token")
    upserted = await api.put("/leads/by-external-id/+15550003333", {"name": "Rui"})
    lead_id = upserted.json()["id"]
    patched = await api.patch(f"/leads/{lead_id}", {"tags": ["POSITIVE"]})
    assert (upserted.status_code, patched.status_code) == (201, 200)

    rows = await log(connection, table_name="lead", row_id=lead_id)
    assert [(r["operation"], r["action"]) for r in rows] == [
        ("CREATE", "PUT /api/v1/leads/by-external-id/+15550003333"),
        ("EDIT", f"PATCH /api/v1/leads/{lead_id}"),
    ]
    assert {(r["actor_kind"], r["actor"], r["actor_id"]) for r in rows} == {
        ("API_TOKEN", token["name"], token["id"])
    }
    assert rows[1]["changes"] == {"tags": {"old": [], "new": ["POSITIVE"]}}
    await api.http.aclose()


async def test_a_refused_api_call_changes_nothing_and_records_nothing(connection, acme):
    api = await client_for(acme)
    lead_id = await factories.lead(connection, acme, "+15550004444")
    before = await connection.fetchval("SELECT count(*) FROM change_log")
    refused = await api.patch(f"/leads/{lead_id}", {"timezone": "Mars/Base"})
    assert refused.status_code == 422
    assert await connection.fetchval("SELECT count(*) FROM change_log") == before
    assert await connection.fetchval("SELECT timezone FROM lead WHERE id = $1", lead_id) is None
    await api.http.aclose()


async def test_a_lease_is_not_a_change_but_a_dispatch_is(connection, acme):
    api = await client_for(acme)
    lead_id = await factories.lead(
        connection, acme, "+15550005555", next_followup_at=datetime.now(UTC) - timedelta(hours=1)
    )
    before = await connection.fetchval("SELECT count(*) FROM change_log")
    claimed = await api.post("/followups/claim", {"limit": 10, "lease_seconds": 60})
    assert [item["id"] for item in claimed.json()["items"]] == [lead_id]
    assert await connection.fetchval(
        "SELECT followup_lease_until > now() FROM lead WHERE id = $1", lead_id
    )
    assert await connection.fetchval("SELECT count(*) FROM change_log") == before
    await api.http.aclose()


async def test_a_write_outside_a_request_is_recorded_as_the_database_user(connection, acme):
    await connection.execute("UPDATE workspace SET budget_tier = 'RED' WHERE id = $1", acme)
    [row] = await log(connection, table_name="workspace", operation="EDIT")
    user = await connection.fetchval("SELECT session_user")
    assert (row["actor_kind"], row["actor"], row["action"]) == ("DATABASE", user, "direct SQL")
    assert row["changes"] == {"budget_tier": {"old": "GREEN", "new": "RED"}}


async def test_a_name_never_outlives_its_request(admin, connection, acme):
    """Names are transaction-local: the next write on the same pooled engine,
    made outside any request, is not attributed to the operator."""
    lead_id = await factories.lead(connection, acme, "+15550006666")
    await admin.edit("lead", lead_id, name="Named")
    await Lead.update({Lead.name: "Unnamed"}).where(Lead.id == lead_id)
    rows = await log(connection, table_name="lead", operation="EDIT")
    assert [(r["actor_kind"], r["changes"]["name"]["new"]) for r in rows] == [
        ("OPERATOR", "Named"),
        ("DATABASE", "Unnamed"),
    ]


async def test_history_rows_record_their_creation_without_a_copy(connection, acme):
    api = await client_for(acme)
    lead_id = await factories.lead(connection, acme, "+15550007777")
    thread = await api.post(f"/leads/{lead_id}/threads")
    message = await api.post(
        f"/threads/{thread.json()['id']}/messages", {"role": "user", "content": "hello"}
    )
    assert (thread.status_code, message.status_code) == (201, 201)
    [row] = await log(connection, table_name="chat_message")
    assert (row["operation"], row["row_id"], row["changes"]) == (
        "CREATE",
        message.json()["id"],
        None,
    )
    assert row["actor_kind"] == "API_TOKEN"
    await api.http.aclose()


async def test_a_statement_that_creates_history_rows_records_each_row_once(connection):
    """A dispatch batch writes its decisions in one statement: one entry per decision,
    naming its row, workspace and lead (a table without a lead column names none)."""
    workspace = await outreach_workspace(connection, "Initech")
    due = datetime.now(UTC) - timedelta(hours=1)
    for n in range(3):
        await london_lead(
            connection, workspace, f"+44770090100{n}", tags=["DISCONNECT"], next_followup_at=due
        )
    result = await engine.dispatch(workspace, limit=10, lease_seconds=60)
    assert result.stopped == 3
    decisions = await connection.fetch(
        "SELECT id, lead_id FROM policy_decision WHERE workspace_id = $1 ORDER BY id", workspace
    )
    entries = await log(connection, table_name="policy_decision")
    assert [
        (e["operation"], e["row_id"], e["workspace_id"], e["lead_id"], e["changes"])
        for e in entries
    ] == [("CREATE", d["id"], workspace, d["lead_id"], None) for d in decisions]
    assert len(decisions) == 3
    user = await connection.fetchval("SELECT session_user")
    assert {(e["actor_kind"], e["actor"]) for e in entries} == {("DATABASE", user)}
    [attestation] = await log(connection, table_name="outreach_attestation")
    assert (attestation["workspace_id"], attestation["lead_id"]) == (workspace, None)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE change_log SET actor = 'someone else'",
        "DELETE FROM change_log",
        "TRUNCATE change_log",
    ],
)
async def test_the_change_log_is_append_only(connection, acme, statement):
    rows = await log(connection)
    assert rows, "the workspace's creation is recorded"
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await connection.execute(statement)
    assert await log(connection) == rows


async def test_the_change_log_is_read_only_in_the_admin(admin, connection, acme):
    before = await log(connection)
    row = before[0]
    created = await admin.post("/tables/change_log/", {"actor": "x", "action": "x"})
    edited = await admin.patch(f"/tables/change_log/{row['id']}/", {"actor": "x"})
    deleted = await admin.delete(f"/tables/change_log/{row['id']}/")
    assert [r.status_code for r in (created, edited, deleted)] == [405, 405, 405]
    assert await log(connection) == before


async def test_a_lead_links_to_its_history_and_the_history_filters_by_lead(admin, connection, acme):
    lead_id = await factories.lead(connection, acme, "+15550008888")
    other_id = await factories.lead(connection, acme, "+15550009999")
    await admin.edit("lead", lead_id, name="Only this one")
    references = (await admin.get("/tables/lead/references/")).json()["references"]
    assert {"tableName": "change_log", "columnName": "lead_id"} in references
    history = (await admin.get("/tables/change_log/", lead_id=lead_id)).json()["rows"]
    assert [(r["operation"], r["row_id"]) for r in history] == [
        ("EDIT", lead_id),
        ("CREATE", lead_id),
    ]
    assert other_id not in {r["row_id"] for r in history}


async def test_a_long_api_path_is_recorded_cut_to_the_columns_length(connection, acme):
    api = await client_for(acme)
    external_id = "x" * 255
    response = await api.put(f"/leads/by-external-id/{external_id}", {"name": "Long"})
    assert response.status_code == 201, response.text
    [row] = await log(connection, table_name="lead")
    assert row["action"] == f"PUT /api/v1/leads/by-external-id/{external_id}"[:255]
    await api.http.aclose()
