"""The operator admin through its HTTP API: login, curated tables, rules, actions."""

import asyncio

import pytest
from piccolo.apps.user.tables import BaseUser

from app.enums import BudgetTier, LeadStage
from tests import factories
from tests.admin_client import (
    anonymous_client,
    csrf_token,
    logged_in_operator,
    messages,
)


@pytest.fixture
async def acme(connection) -> int:
    return await factories.workspace(connection, "Acme")


# --- login, sessions, CSRF ----------------------------------------------------------


async def test_the_api_needs_a_session():
    async with anonymous_client() as client:
        response = await client.get("/admin/api/tables/")
    assert response.status_code == 401


async def test_an_operator_logs_in_with_username_and_password():
    await BaseUser.create_user(
        username="ana", password="correct horse", admin=True, active=True, email="ana@x.io"
    )
    async with anonymous_client() as client:
        token = await csrf_token(client)
        wrong = await client.post(
            "/admin/public/login/",
            json={"username": "ana", "password": "wrong"},
            headers={"X-CSRFToken": token},
        )
        right = await client.post(
            "/admin/public/login/",
            json={"username": "ana", "password": "correct horse"},
            headers={"X-CSRFToken": token},
        )
        tables = await client.get("/admin/api/tables/")
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "id" in right.cookies
    assert tables.status_code == 200


async def test_logins_are_rate_limited():
    async with anonymous_client() as client:
        token = await csrf_token(client)
        statuses = [
            (
                await client.post(
                    "/admin/public/login/",
                    json={"username": "nobody", "password": "guess-{n}"},
                    headers={"X-CSRFToken": token},
                )
            ).status_code
            for n in range(25)
        ]
    assert statuses[0] == 401
    assert 429 in statuses


async def test_writes_without_the_csrf_header_are_refused(admin, connection):
    response = await admin.http.post(
        "/admin/api/tables/workspace/", json={"name": "No token", "timezone": "UTC"}
    )
    assert response.status_code == 403
    assert await connection.fetchval("SELECT count(*) FROM workspace") == 0


# --- curated tables -------------------------------------------------------------------


async def test_tables_are_grouped_in_menus(admin):
    grouped = (await admin.get("/tables/grouped/")).json()["grouped"]
    assert grouped == {
        "Audit": [
            "change_log",
            "marketing_preference_event",
            "outreach_attestation",
            "policy_decision",
        ],
        "Channel rules": ["channel_restriction"],
        "Consent": ["consent_event", "consent_wording"],
        "Leads & conversations": ["chat_message", "conversation_thread", "lead", "webhook_inbox"],
        "Operators": ["api_token", "login_throttle", "piccolo_user"],
        "Prototype": ["legacy_mapping"],
        "Workspaces & strategy": ["strategy_version", "whatsapp_number", "workspace"],
    }


async def test_the_leads_view_is_curated(admin):
    extra = (await admin.get("/tables/lead/schema/")).json()["extra"]
    assert extra["link_column_name"] == "external_id"
    assert {"workspace_id", "stage", "tags", "next_followup_at"} <= set(
        extra["visible_filter_names"]
    )
    assert "last_followup_review_at" not in extra["visible_column_names"]
    assert extra["order_by"] == [{"column": "created_at", "ascending": False}]


async def test_enum_fields_offer_exactly_their_values(admin):
    schema = (await admin.get("/tables/lead/schema/")).json()
    choices = schema["properties"]["stage"]["extra"]["choices"]
    assert {choice["value"] for choice in choices.values()} == {stage.value for stage in LeadStage}
    workspace = (await admin.get("/tables/workspace/schema/")).json()
    tiers = workspace["properties"]["budget_tier"]["extra"]["choices"]
    assert {choice["value"] for choice in tiers.values()} == {tier.value for tier in BudgetTier}


async def test_related_rows_are_shown_by_name(admin, connection, acme):
    await factories.lead(connection, acme, "+351910000001")
    rows = (await admin.get("/tables/lead/", __readable="true")).json()["rows"]
    assert rows[0]["workspace_id_readable"] == f"Acme (#{acme})"


# --- validation with readable messages ---------------------------------------------------


async def test_a_workspace_needs_an_iana_timezone(admin, connection):
    refused = await admin.create("workspace", name="Acme", timezone="Mars/Olympus")
    assert refused.status_code == 422
    assert "timezone: 'Mars/Olympus' is not an IANA timezone name" in messages(refused)
    created = await admin.create("workspace", name="Acme", timezone="Europe/Lisbon")
    assert created.status_code == 201
    assert await connection.fetchval("SELECT timezone FROM workspace") == "Europe/Lisbon"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"timezone": "Europe/Nowhere"}, "is not an IANA timezone name"),
        ({"tags": ["POSITIVE", "POSITIVE"]}, "tags appear more than once"),
        ({"tags": ["VIP"]}, "unknown tags ['VIP']"),
        ({"tags": "not json"}, "Unable to parse the JSON"),
    ],
)
async def test_bad_lead_fields_are_refused_with_a_reason(admin, connection, acme, values, message):
    response = await admin.create("lead", workspace_id=acme, external_id="+1555", **values)
    assert response.status_code == 422
    assert message in messages(response)
    assert await connection.fetchval("SELECT count(*) FROM lead") == 0


async def test_a_valid_lead_is_created(admin, connection, acme):
    response = await admin.create(
        "lead", workspace_id=acme, external_id="+1555", tags=["POSITIVE"], timezone="Asia/Tokyo"
    )
    assert response.status_code == 201, response.text
    row = await connection.fetchrow("SELECT stage, tags::text, timezone FROM lead")
    assert tuple(row) == ("NEW", '["POSITIVE"]', "Asia/Tokyo")


async def test_bad_interval_overrides_are_refused_with_the_bounds(admin, connection, acme):
    response = await admin.create(
        "strategy_version",
        workspace_id=acme,
        followup_preset="GENTLE",
        interval_overrides={"CONTACTED": 1000},
    )
    assert response.status_code == 422
    assert "interval_overrides: CONTACTED: 1000 hours is outside 1..720" in messages(response)
    assert await connection.fetchval("SELECT count(*) FROM strategy_version") == 0


async def test_a_missing_required_value_is_refused_readably(admin, connection, acme):
    response = await admin.create("strategy_version", workspace_id=acme)
    assert response.status_code == 422
    assert "followup_preset" in messages(response)
    assert await connection.fetchval("SELECT count(*) FROM strategy_version") == 0


# --- strategy versions in the admin ------------------------------------------------------


async def test_new_versions_are_drafts_numbered_by_the_database(admin, connection, acme):
    first = await admin.create("strategy_version", workspace_id=acme, followup_preset="GENTLE")
    second = await admin.create("strategy_version", workspace_id=acme, followup_preset="BALANCED")
    assert (first.status_code, second.status_code) == (201, 201)
    rows = await connection.fetch("SELECT version_number, status FROM strategy_version ORDER BY id")
    assert [tuple(row) for row in rows] == [(1, "DRAFT"), (2, "DRAFT")]


async def test_a_version_cannot_be_created_active(admin, connection, acme):
    response = await admin.create(
        "strategy_version", workspace_id=acme, followup_preset="GENTLE", status="ACTIVE"
    )
    assert response.status_code == 422
    assert "status: new versions start as DRAFT" in messages(response)
    assert await factories.table_snapshot(connection, "strategy_version") == []


async def test_only_drafts_can_be_edited(admin, connection, acme):
    draft = await factories.strategy_version(connection, acme, 1, tone="calm")
    active = await factories.strategy_version(
        connection, acme, 2, status="ACTIVE", activated_at=factories_now()
    )
    edited = await admin.edit("strategy_version", draft, tone="warm")
    frozen = await admin.edit("strategy_version", active, tone="pushy")
    assert edited.status_code == 200
    assert frozen.status_code == 422
    assert "v2 is ACTIVE: only DRAFT versions can be edited" in messages(frozen)
    tones = await connection.fetch("SELECT tone FROM strategy_version ORDER BY version_number")
    assert [row["tone"] for row in tones] == ["warm", ""]


async def test_status_changes_only_through_actions(admin, connection, acme):
    draft = await factories.strategy_version(connection, acme, 1)
    before = await factories.table_snapshot(connection, "strategy_version")
    response = await admin.edit("strategy_version", draft, status="ROLLED_BACK")
    assert response.status_code == 422
    assert "status: status changes through the 'Activate strategy version'" in messages(response)
    assert await factories.table_snapshot(connection, "strategy_version") == before


async def test_takeovers_only_through_actions(admin, connection, acme):
    lead_id = await factories.lead(connection, acme)
    to_takeover = await admin.edit("lead", lead_id, stage="TAKE_OVER")
    assert to_takeover.status_code == 422
    assert "stage: use the 'Take over lead' action" in messages(to_takeover)
    to_contacted = await admin.edit("lead", lead_id, stage="CONTACTED", name="Rita")
    assert to_contacted.status_code == 200
    row = await connection.fetchrow("SELECT stage, name FROM lead WHERE id = $1", lead_id)
    assert tuple(row) == ("CONTACTED", "Rita")


@pytest.mark.parametrize("before", [None, "QUALIFIED"])
async def test_a_lead_is_not_created_taken_over(admin, connection, acme, before):
    response = await admin.create(
        "lead",
        workspace_id=acme,
        external_id="+15550009999",
        stage="TAKE_OVER",
        stage_before_takeover=before,
    )
    assert response.status_code == 422
    assert "stage: use the 'Take over lead' action" in messages(response)
    assert await connection.fetchval("SELECT count(*) FROM lead") == 0


def factories_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


# --- history is read-only --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ("policy_decision", "append-only audit trail"),
        ("outreach_attestation", "append-only audit trail"),
        ("chat_message", "conversation history"),
        ("legacy_mapping", "written by 'piccolo legacy backfill' only"),
        ("api_token", "issued and revoked with the 'Create API token' and 'Revoke API token'"),
    ],
)
async def test_history_cannot_be_written_through_the_admin(admin, connection, acme, table, reason):
    lead_id = await factories.lead(connection, acme)
    thread_id = await factories.thread(connection, acme, lead_id)
    version_id = await factories.strategy_version(connection, acme, 1)
    row_ids = {
        "api_token": await factories.insert(
            connection, "api_token", workspace_id=acme, token_hash="0" * 64
        ),
        "legacy_mapping": await factories.insert(
            connection,
            "legacy_mapping",
            prototype_table="zairag_agents",
            prototype_id=1,
            strategy_version_id=version_id,
        ),
        "policy_decision": await factories.policy_decision(connection, acme, lead_id),
        "outreach_attestation": await factories.attestation(connection, acme),
        "chat_message": await factories.chat_message(connection, thread_id),
    }
    before = await factories.table_snapshot(connection, table)
    row_id = row_ids[table]
    attempts = [
        await admin.post(f"/tables/{table}/", {"workspace_id": acme}),
        await admin.patch(f"/tables/{table}/{row_id}/", {"granted": False}),
        await admin.delete(f"/tables/{table}/{row_id}/"),
    ]
    assert [attempt.status_code for attempt in attempts] == [405, 405, 405]
    assert all(reason in attempt.json()["detail"] for attempt in attempts)
    assert await factories.table_snapshot(connection, table) == before
    listed = await admin.get(f"/tables/{table}/")
    assert listed.status_code == 200 and len(listed.json()["rows"]) == 1


async def test_deleting_a_workspace_with_audit_rows_is_refused_readably(admin, connection, acme):
    await factories.attestation(connection, acme)
    response = await admin.delete(f"/tables/workspace/{acme}/")
    assert response.status_code == 422
    assert "cannot be deleted: it has audit records" in messages(response)
    assert await connection.fetchval("SELECT count(*) FROM workspace") == 1


# --- operator actions --------------------------------------------------------------------------


async def statuses(connection, workspace_id):
    rows = await connection.fetch(
        "SELECT version_number, status FROM strategy_version WHERE workspace_id = $1 "
        "ORDER BY version_number",
        workspace_id,
    )
    return [row["status"] for row in rows]


async def test_activate_and_roll_back_through_the_forms(admin, connection, acme):
    first_id = await factories.strategy_version(connection, acme, 1)
    second_id = await factories.strategy_version(connection, acme, 2)
    first = await admin.submit("activate-strategy-version", version=first_id)
    second = await admin.submit("activate-strategy-version", version=second_id)
    assert first.json() == {"custom_form_success": "v1 is now ACTIVE."}
    assert second.json() == {"custom_form_success": "v2 is now ACTIVE; v1 is now ROLLED_BACK."}
    assert await statuses(connection, acme) == ["ROLLED_BACK", "ACTIVE"]

    back = await admin.submit("roll-back-strategy", workspace=acme)
    assert back.json() == {"custom_form_success": "v1 is now ACTIVE; v2 is now ROLLED_BACK."}
    assert await statuses(connection, acme) == ["ACTIVE", "ROLLED_BACK"]


async def test_forms_offer_pickers_of_rows_not_text_fields(admin):
    schema = (await admin.get("/forms/suppress-lead/schema/")).json()
    activate = (await admin.get("/forms/activate-strategy-version/schema/")).json()
    attest = (await admin.get("/forms/record-outreach-attestation/schema/")).json()
    assert schema["properties"]["lead"]["extra"]["foreign_key"]["to"] == "lead"
    assert activate["properties"]["version"]["extra"]["foreign_key"]["to"] == "strategy_version"
    assert attest["properties"]["workspace"]["extra"]["foreign_key"]["to"] == "workspace"


async def test_a_refused_action_says_why_and_changes_nothing(admin, connection, acme):
    other = await factories.workspace(connection, "Other")
    version_id = await factories.strategy_version(connection, other, 1)
    await factories.strategy_version(connection, other, 2)
    await connection.execute(
        "UPDATE strategy_version SET status = 'ACTIVE', activated_at = now() WHERE id = $1",
        version_id,
    )
    missing = await admin.submit("activate-strategy-version", version=version_id + 100)
    assert missing.status_code == 422
    assert (
        missing.json()["custom_form_error"]
        == f"strategy version #{version_id + 100} does not exist"
    )
    gone = await admin.submit("suppress-lead", lead=999_999)
    assert (gone.status_code, gone.json()["custom_form_error"]) == (
        422,
        "lead #999999 does not exist",
    )
    assert await statuses(connection, other) == ["ACTIVE", "DRAFT"]


async def test_form_input_is_validated(admin):
    response = await admin.submit("activate-strategy-version", version=0)
    words = await admin.submit("roll-back-strategy", workspace="Acme")
    assert (response.status_code, words.status_code) == (422, 422)
    assert [tuple(item["loc"]) for item in response.json()["detail"]] == [("version",)]
    assert [tuple(item["loc"]) for item in words.json()["detail"]] == [("workspace",)]


async def test_an_attestation_is_recorded_as_the_logged_in_operator(admin, connection, acme):
    response = await admin.submit("record-outreach-attestation", workspace=acme, granted=True)
    assert response.status_code == 200, response.text
    row = await connection.fetchrow(
        "SELECT workspace_id, operator_id, granted FROM outreach_attestation"
    )
    assert tuple(row) == (acme, admin.username, True)


async def test_take_over_release_and_suppress_through_the_forms(admin, connection, acme):
    lead_id = await factories.lead(connection, acme, "+1555", stage="QUALIFIED")

    async def stage():
        return await connection.fetchval("SELECT stage FROM lead WHERE id = $1", lead_id)

    taken = await admin.submit("take-over-lead", lead=lead_id)
    assert taken.json()["custom_form_success"] == "Lead +1555: QUALIFIED -> TAKE_OVER."
    assert await stage() == "TAKE_OVER"
    released = await admin.submit("release-lead", lead=lead_id)
    assert released.json()["custom_form_success"] == "Lead +1555: TAKE_OVER -> QUALIFIED."
    suppressed = await admin.submit("suppress-lead", lead=lead_id)
    assert suppressed.json()["custom_form_success"] == "Lead +1555: QUALIFIED -> SUPPRESSED."
    assert await stage() == "SUPPRESSED"
    again = await admin.submit("release-lead", lead=lead_id)
    assert again.status_code == 422
    assert "is SUPPRESSED, not taken over" in again.json()["custom_form_error"]


# --- malformed requests never end in a 500 ------------------------------------------------------


async def test_malformed_bodies_are_refused(admin, connection):
    before = await factories.table_snapshot(connection, "workspace")
    raw = admin.http
    headers = {**admin.headers, "Content-Type": "application/json"}
    bad_json = await raw.post(
        "/admin/api/forms/roll-back-strategy/", content=b"{oops", headers=headers
    )
    not_object = await raw.post(
        "/admin/api/forms/roll-back-strategy/", content=b"[1]", headers=headers
    )
    too_large = await raw.post(
        "/admin/api/tables/workspace/",
        content=b'{"name": "' + b"x" * 2_000_000 + b'"}',
        headers=headers,
    )
    assert (bad_json.status_code, bad_json.json()["detail"]) == (
        400,
        "request body must be valid JSON",
    )
    assert (not_object.status_code, not_object.json()["detail"]) == (
        400,
        "request body must be a JSON object",
    )
    assert too_large.status_code == 413
    assert await factories.table_snapshot(connection, "workspace") == before


@pytest.mark.parametrize(
    "query",
    [
        {"tags": "RED"},
        {"workspace_id": "abc"},
        {"workspace_id": "99999999999"},
        {"next_followup_at": "not-a-date"},
        {"name": "a\x00b"},
        {"stage__operator": "bogus"},
        {"__order": "no_such_column"},
        {"__visible_fields": "no_such_column"},
        {"__page": "abc"},
    ],
)
async def test_bad_filters_are_4xx(admin, query):
    response = await admin.get("/tables/lead/", **query)
    assert 400 <= response.status_code < 500, (query, response.text)
    count = await admin.get("/tables/lead/count/", **query)
    assert 400 <= count.status_code < 500, (query, count.text)


JUNK = [
    "",
    "abc",
    "-1",
    "1e309",
    "null",
    "[]",
    "{}",
    "2026-13-45",
    "x" * 300,
    "a\x00b",
    2**40,
    True,
    [],
]
WRITABLE = {
    "workspace": ["name", "timezone", "budget_tier", "created_at"],
    "lead": [
        "workspace_id",
        "external_id",
        "name",
        "stage",
        "tags",
        "timezone",
        "next_followup_at",
        "stage_before_takeover",
    ],
    "strategy_version": [
        "workspace_id",
        "version_number",
        "status",
        "tone",
        "followup_preset",
        "interval_overrides",
        "previous_active_version_id",
    ],
    "conversation_thread": ["workspace_id", "lead_id", "status"],
}


@pytest.mark.parametrize("table", sorted(WRITABLE))
async def test_junk_in_any_field_is_stored_or_refused_with_a_4xx(admin, connection, acme, table):
    """Some junk is a fine value for some field ("abc" as a name); the rest is refused
    with a 4xx that changed nothing. Never a 500."""
    lead_id = await factories.lead(connection, acme, "+1000")
    valid = {
        "workspace": {"name": "Junk Co"},
        "lead": {"workspace_id": acme, "external_id": "+2000"},
        "strategy_version": {"workspace_id": acme, "followup_preset": "GENTLE"},
        "conversation_thread": {"workspace_id": acme, "lead_id": lead_id},
    }[table]
    existing = (await admin.create(table, **valid)).json()[0]["id"]
    for field in WRITABLE[table]:
        for junk in JUNK:
            before = await factories.table_snapshot(connection, table)
            created = await admin.create(table, **{**valid, field: junk})
            if created.status_code != 201:
                assert 400 <= created.status_code < 500, (table, field, junk, created.text)
                assert await factories.table_snapshot(connection, table) == before
            before = await factories.table_snapshot(connection, table)
            edited = await admin.patch(f"/tables/{table}/{existing}/", {field: junk})
            if edited.status_code != 200:
                assert 400 <= edited.status_code < 500, (table, field, junk, edited.text)
                assert await factories.table_snapshot(connection, table) == before


async def test_two_operators_activating_at_once_leave_one_active(connection, acme):
    one = await factories.strategy_version(connection, acme, 1)
    two = await factories.strategy_version(connection, acme, 2)
    first, second = await logged_in_operator("ana"), await logged_in_operator("rui")
    responses = await asyncio.gather(
        first.submit("activate-strategy-version", version=one),
        second.submit("activate-strategy-version", version=two),
    )
    assert [response.status_code for response in responses] == [200, 200]
    assert (await statuses(connection, acme)).count("ACTIVE") == 1
    await first.http.aclose()
    await second.http.aclose()


async def test_replacing_a_row_is_refused_because_edits_use_patch(admin, connection, acme):
    response = await admin.http.put(
        f"/admin/api/tables/workspace/{acme}/",
        json={"name": "Replaced", "timezone": "Mars/Base", "budget_tier": "GREEN"},
        headers=admin.headers,
    )
    assert response.status_code == 405
    assert "edit with PATCH" in messages(response)
    assert await connection.fetchval("SELECT name FROM workspace") == "Acme"


# --- the lead page's zone ---------------------------------------------------------------


async def test_the_lead_page_says_which_zone_the_lead_is_read_in(admin, connection, acme):
    from tests.admin_client import anonymous_client

    numbered = await factories.lead(connection, acme, "+12125550123")
    plain = await factories.lead(connection, acme, "crm:9")
    await connection.execute("UPDATE workspace SET timezone = 'Asia/Kuala_Lumpur'")
    shown = (await admin.http.get(f"/admin/lead-zone/{numbered}/")).json()
    fallback = (await admin.http.get(f"/admin/lead-zone/{plain}/")).json()
    assert shown == {
        "zones": ["America/New_York"],
        "zone_source": "phone_number",
        "zone_reason": "America/New_York, from the +1 212 number",
    }
    assert (fallback["zones"], fallback["zone_source"]) == (["Asia/Kuala_Lumpur"], "workspace")
    assert (await admin.http.get("/admin/lead-zone/424242/")).status_code == 404
    assert (await admin.http.get("/admin/lead-zone/x1/")).status_code == 400
    async with anonymous_client() as client:
        response = await client.get(f"/admin/lead-zone/{numbered}/")
    assert response.status_code == 303
