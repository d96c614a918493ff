"""The JSON API, endpoint by endpoint, with one error shape everywhere."""

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute

from app.api.routes import ROUTERS, whatsapp
from app.errors import InvalidValue
from app.lead_import import IMPORT_LIMIT, import_leads
from app.tokens import revoke_token
from tests import factories
from tests.api_client import ApiClient, client_for
from tests.locks import WAIT_SECONDS, held

MINUTE = timedelta(minutes=1)


@pytest.fixture
async def acme(connection) -> int:
    return await factories.workspace(connection, "Acme")


@pytest.fixture
async def api(acme):
    client = await client_for(acme)
    yield client
    await client.http.aclose()


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


# --- tokens -------------------------------------------------------------------------------


async def test_requests_need_a_live_token(acme):
    async with ApiClient(None).http as anonymous:
        missing = await anonymous.get("/workspace")
    wrong = ApiClient("mp_not-a-token")
    invalid = await wrong.get("/workspace")
    await wrong.http.aclose()
    assert (missing.status_code, invalid.status_code) == (401, 401)
    assert error_of(missing)["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_token_is_refused_within_a_second(acme, connection):
    client = await client_for(acme)
    assert (await client.get("/workspace")).status_code == 200  # now remembered
    token_id = await connection.fetchval("SELECT max(id) FROM api_token")
    await revoke_token(token_id)
    await asyncio.sleep(1.0)
    refused = await client.get("/workspace")
    await client.http.aclose()
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "unauthorized"


async def test_tokens_are_stored_hashed(acme, connection):
    client = await client_for(acme)
    secret = client.http.headers["Authorization"].split()[1]
    stored = await connection.fetchval("SELECT token_hash FROM api_token")
    assert secret not in stored and len(stored) == 64
    await client.http.aclose()


async def test_the_openapi_schema_describes_every_endpoint(api):
    """Every route of every router, with every method, is in the document the API serves
    (and nothing else), each with its success and its documented refusals."""
    schema = (await api.get("/openapi.json")).json()
    served = {
        (re.sub(r":\w+}", "}", route.path), method.lower())
        for router in [*ROUTERS, whatsapp.router, whatsapp.numbers]
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    documented = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert documented == served
    assert len(served) > 30
    for path, method in documented:
        responses = set(schema["paths"][path][method]["responses"])
        assert any(code.startswith("2") for code in responses), (path, method)
        refusals = {"422", "503"} | ({"403"} if "webhook" in path else {"401"})
        assert refusals <= responses, (path, method, responses)


# --- workspace ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"budget_tier": None}, {"timezone": None}, {"name": None}])
async def test_nulling_a_workspace_field_is_422_and_changes_nothing(api, connection, body):
    before = dict(await connection.fetchrow("SELECT * FROM workspace"))
    response = await api.patch("/workspace", body)
    assert response.status_code == 422, response.text
    assert dict(await connection.fetchrow("SELECT * FROM workspace")) == before


async def test_workspace_read_and_change(api, acme):
    assert (await api.get("/workspace")).json()["name"] == "Acme"
    changed = await api.patch("/workspace", {"timezone": "Europe/Lisbon", "budget_tier": "RED"})
    assert changed.status_code == 200
    assert (changed.json()["timezone"], changed.json()["budget_tier"]) == ("Europe/Lisbon", "RED")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"budget_tier": "PURPLE"}, "budget_tier"),
        ({"name": ""}, "name"),
        ({"owner": "me"}, "owner"),
    ],
)
async def test_bad_workspace_changes_are_422_with_the_field(api, connection, body, field):
    response = await api.patch("/workspace", body)
    assert response.status_code == 422
    assert field in [item["field"] for item in error_of(response)["fields"]]
    assert await connection.fetchval("SELECT budget_tier FROM workspace") == "GREEN"


# --- leads ---------------------------------------------------------------------------------


async def test_create_read_and_change_a_lead(api):
    created = await api.post("/leads", {"external_id": "+1555", "tags": ["POSITIVE"]})
    assert created.status_code == 201
    lead = created.json()
    assert (lead["stage"], lead["tags"]) == ("NEW", ["POSITIVE"])
    assert (await api.get(f"/leads/{lead['id']}")).json()["external_id"] == "+1555"
    changed = await api.patch(f"/leads/{lead['id']}", {"stage": "CONTACTED", "name": "Rita"})
    assert (changed.json()["stage"], changed.json()["name"]) == ("CONTACTED", "Rita")
    duplicate = await api.post("/leads", {"external_id": "+1555"})
    assert duplicate.status_code == 409
    assert "already exists" in error_of(duplicate)["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x", "tags": ["VIP"]}, "tags.0"),
        ({"external_id": "x", "tags": ["POSITIVE", "POSITIVE"]}, "tags"),
        ({"external_id": "x", "timezone": "Nowhere"}, "timezone"),
        ({"external_id": "x", "stage": "TAKE_OVER"}, "stage"),
        ({"external_id": "x", "next_followup_at": "2026-01-01T10:00:00"}, "next_followup_at"),
        ({"external_id": "x", "surprise": 1}, "surprise"),
    ],
)
async def test_bad_leads_are_422_with_the_field(api, connection, body, field):
    response = await api.post("/leads", body)
    assert response.status_code == 422, response.text
    assert field in [item["field"] for item in error_of(response)["fields"]]
    assert await connection.fetchval("SELECT count(*) FROM lead") == 0


WHITESPACE = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())


async def test_whitespace_alone_is_schema_invalid_and_refused(api, connection):
    """The document states what the app strips (every str.isspace() character), so a
    blank text is invalid by the schema as well as refused: a contract tool that sends
    what the schema allows is never refused."""
    schema = (await api.get("/openapi.json")).json()
    stated = schema["components"]["schemas"]["LeadCreate"]["properties"]["external_id"]["pattern"]
    for blank in [*WHITESPACE, WHITESPACE, " \n\t"]:
        assert not re.search(stated, blank), repr(blank)
        response = await api.post("/leads", {"external_id": blank})
        assert response.status_code == 422, (repr(blank), response.text)
        assert [item["field"] for item in error_of(response)["fields"]] == ["external_id"]
    assert await connection.fetchval("SELECT count(*) FROM lead") == 0
    padded = "\u3000 +1555\x1c\n"
    assert re.search(stated, padded)
    created = await api.post("/leads", {"external_id": padded})
    assert created.status_code == 201, created.text
    assert await connection.fetchval("SELECT external_id FROM lead") == "+1555"


@pytest.mark.parametrize(
    ("written", "accepted"),
    [
        ("0001-01-01T01:01:01Z", False),
        ("1969-12-31T23:59:59-01:00", False),
        ("1970-01-01T00:00:00+14:00", True),
        ("2999-12-31T23:59:59-12:00", True),
        ("3000-01-01T00:00:00Z", False),
        ("9999-12-31T23:59:59Z", False),
    ],
)
async def test_instants_are_written_in_the_years_the_schema_states(
    api, connection, written, accepted
):
    """The engine reckons weeks around an instant: year 1 gave a 500 (Schemathesis'
    stateful phase). The year as written is checked and the schema states it."""
    schema = (await api.get("/openapi.json")).json()
    [stated] = [
        branch["pattern"]
        for branch in schema["components"]["schemas"]["SimulateRequest"]["properties"]["at"][
            "anyOf"
        ]
        if "pattern" in branch
    ]
    assert bool(re.search(stated, written)) is accepted
    lead = (await api.post("/leads", {"external_id": "+14155550100"})).json()
    before = await factories.table_snapshot(connection, "lead")
    simulated = await api.post(
        "/policy/simulate", {"lead_id": lead["id"], "kind": "followup", "at": written}
    )
    planned = await api.patch(f"/leads/{lead['id']}", {"next_followup_at": written})
    if accepted:
        assert (simulated.status_code, planned.status_code) == (200, 200), planned.text
        return
    for refused, field in ((simulated, "at"), (planned, "next_followup_at")):
        assert refused.status_code == 422, refused.text
        assert error_of(refused)["fields"] == [
            {"field": field, "message": "Value error, must be in the years 1970 to 2999"}
        ]
    assert await factories.table_snapshot(connection, "lead") == before


async def test_upsert_by_external_id_creates_then_updates(api, connection):
    first = await api.put("/leads/by-external-id/+351910000001", {"name": "Ana"})
    second = await api.put("/leads/by-external-id/+351910000001", {"tags": ["NEUTRAL"]})
    assert (first.status_code, second.status_code) == (201, 200)
    assert (second.json()["name"], second.json()["tags"]) == ("Ana", ["NEUTRAL"])
    assert await connection.fetchval("SELECT count(*) FROM lead") == 1


async def test_import_reports_each_row(api, connection, acme):
    await factories.lead(connection, acme, "+2", name="Old")
    rows = [
        {"external_id": "+1", "name": "New"},
        {"external_id": "+2", "tags": ["POSITIVE"]},
        {"external_id": "+3", "timezone": "Atlantis/Capital"},
        {"name": "no external id"},
        "not an object",
        {"external_id": "+1", "name": "again"},
    ]
    response = await api.post("/leads/import", {"rows": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [row["result"] for row in body["results"]] == [
        "created",
        "updated",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert "not an IANA timezone" in body["results"][2]["reason"]
    assert "repeats row 0" in body["results"][5]["reason"]
    assert (body["created"], body["updated"], body["rejected"]) == (1, 1, 4)
    updated = await connection.fetchrow(
        "SELECT name, tags::text FROM lead WHERE external_id = '+2'"
    )
    assert tuple(updated) == ("Old", '["POSITIVE"]')  # absent fields keep their value


async def test_import_is_bounded(api, connection):
    rows = [{"external_id": f"+1{n:07d}"} for n in range(IMPORT_LIMIT + 1)]
    response = await api.post("/leads/import", {"rows": rows})
    assert response.status_code == 422
    assert await connection.fetchval("SELECT count(*) FROM lead") == 0


async def test_the_domain_refuses_an_import_over_the_limit_too(acme, connection):
    rows = [(n, f"+1{n:07d}", {}) for n in range(IMPORT_LIMIT + 1)]
    with pytest.raises(InvalidValue, match=f"at most {IMPORT_LIMIT:,} rows"):
        await import_leads(acme, rows)
    assert await connection.fetchval("SELECT count(*) FROM lead") == 0


async def test_an_import_of_the_most_rows_allowed(api, connection):
    rows = [{"external_id": f"+1{n:07d}", "tags": ["NEUTRAL"]} for n in range(IMPORT_LIMIT)]
    response = await api.post("/leads/import", {"rows": rows})
    assert response.status_code == 200
    assert response.json()["created"] == IMPORT_LIMIT
    assert await connection.fetchval("SELECT count(*) FROM lead") == IMPORT_LIMIT


async def test_list_filters_and_pages(api, connection, acme):
    now = datetime.now(UTC)
    for n in range(7):
        await factories.lead(
            connection,
            acme,
            f"+{n}",
            stage="CONTACTED" if n % 2 else "NEW",
            tags=["POSITIVE", "NEUTRAL"] if n < 3 else ["POSITIVE"],
            next_followup_at=now + timedelta(hours=n - 3),
        )
    contacted = (await api.get("/leads", stage="CONTACTED")).json()["items"]
    assert [lead["external_id"] for lead in contacted] == ["+1", "+3", "+5"]
    both_tags = await api.http.get("/leads", params=[("tag", "POSITIVE"), ("tag", "NEUTRAL")])
    assert [lead["external_id"] for lead in both_tags.json()["items"]] == ["+0", "+1", "+2"]
    due = (await api.get("/leads", due_before=now.isoformat())).json()["items"]
    assert [lead["external_id"] for lead in due] == ["+0", "+1", "+2", "+3"]

    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await api.get("/leads", **params)).json()
        seen += [lead["external_id"] for lead in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"+{n}" for n in range(7)]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"cursor": "garbage"}, {"stage": "LOST"}, {"tag": "VIP"}],
)
async def test_bad_list_parameters_are_422(api, params):
    response = await api.get("/leads", **params)
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_error"


async def test_suppress_takeover_release(api, connection, acme):
    lead_id = await factories.lead(connection, acme, stage="ENGAGED")
    taken = await api.post(f"/leads/{lead_id}/takeover")
    assert (taken.json()["lead"]["stage"], taken.json()["stage_before"]) == ("TAKE_OVER", "ENGAGED")
    before = await factories.table_snapshot(connection, "lead")
    assert (await api.post(f"/leads/{lead_id}/takeover")).status_code == 409
    blocked = await api.patch(f"/leads/{lead_id}", {"stage": "NEW"})
    assert blocked.status_code == 409
    assert await factories.table_snapshot(connection, "lead") == before
    released = await api.post(f"/leads/{lead_id}/release")
    assert released.json()["lead"]["stage"] == "ENGAGED"
    suppressed = await api.post(f"/leads/{lead_id}/suppress")
    assert suppressed.json()["lead"]["stage"] == "SUPPRESSED"
    again = await api.post(f"/leads/{lead_id}/suppress")
    assert again.json()["changed"] is False


async def test_actions_answer_with_the_whole_row_as_it_now_is(api, connection, acme):
    lead_id = await factories.lead(connection, acme, stage="ENGAGED", name="Ana")
    for action in ("takeover", "release", "suppress", "suppress"):
        answered = (await api.post(f"/leads/{lead_id}/{action}")).json()["lead"]
        assert answered == (await api.get(f"/leads/{lead_id}")).json(), action
    for number in (1, 2):
        await factories.strategy_version(connection, acme, number)
    versions = {row["version_number"]: row["id"] for row in (await api.get("/strategies")).json()}
    for path in (f"/strategies/{versions[1]}/activate", f"/strategies/{versions[2]}/activate"):
        active = (await api.post(path)).json()["active"]
        assert active == (await api.get("/strategies/active")).json(), path
    rolled_back = (await api.post("/strategies/rollback")).json()
    assert rolled_back["active"] == (await api.get("/strategies/active")).json()
    assert (rolled_back["active"]["version_number"], rolled_back["rolled_back_version"]) == (1, 2)


async def test_claim_returns_due_leads_in_follow_up_stages_once(api, connection, acme):
    past = datetime.now(UTC) - timedelta(minutes=5)
    due = await factories.lead(connection, acme, "+due", next_followup_at=past)
    await factories.lead(connection, acme, "+future", next_followup_at=past + timedelta(days=1))
    await factories.lead(connection, acme, "+lost", stage="CLOSED_LOST", next_followup_at=past)
    await factories.lead(connection, acme, "+never")
    first = await api.post("/followups/claim", {"limit": 10, "lease_seconds": 60})
    second = await api.post("/followups/claim", {"limit": 10, "lease_seconds": 60})
    assert [lead["id"] for lead in first.json()["items"]] == [due]
    assert first.json()["items"][0]["followup_lease_until"] is not None
    assert second.json()["items"] == []  # leased


# Named here, not derived from the code's list of follow-up stages.
NEVER_FOLLOWED_UP = ["SUPPRESSED", "TAKE_OVER", "OUTCOME_APPOINTMENT", "OUTCOME_PURCHASE"]


@pytest.mark.parametrize("stage", [*NEVER_FOLLOWED_UP, "CLOSED_LOST"])
async def test_a_claim_never_returns_a_lead_outside_the_follow_up_stages(
    api, connection, acme, stage
):
    past = datetime.now(UTC) - timedelta(minutes=5)
    remembered = "ENGAGED" if stage == "TAKE_OVER" else None
    await factories.lead(
        connection,
        acme,
        "+15550001000",
        stage=stage,
        stage_before_takeover=remembered,
        next_followup_at=past,
    )
    due = await factories.lead(connection, acme, "+15550002000", next_followup_at=past)
    claimed = await api.post("/followups/claim", {"limit": 10, "lease_seconds": 60})
    assert [lead["id"] for lead in claimed.json()["items"]] == [due]
    leased = await connection.fetch("SELECT stage FROM lead WHERE followup_lease_until IS NOT NULL")
    assert [row["stage"] for row in leased] == ["NEW"]


async def test_upsert_and_import_keep_a_taken_over_leads_stage(api, connection, acme):
    lead_id = await factories.lead(
        connection, acme, "+15550003000", stage="TAKE_OVER", stage_before_takeover="ENGAGED"
    )
    upserted = await api.put("/leads/by-external-id/+15550003000", {"stage": "LOST_CAUSE"})
    assert upserted.status_code == 422  # not a stage at all
    upserted = await api.put(
        "/leads/by-external-id/+15550003000", {"stage": "CONTACTED", "name": "Ana"}
    )
    imported = await api.post(
        "/leads/import",
        {"rows": [{"external_id": "+15550003000", "stage": "QUALIFIED", "name": "Bia"}]},
    )
    assert (upserted.status_code, imported.json()["updated"]) == (200, 1)
    row = await connection.fetchrow(
        "SELECT stage, stage_before_takeover, name FROM lead WHERE id = $1", lead_id
    )
    assert tuple(row) == ("TAKE_OVER", "ENGAGED", "Bia")  # other fields do change


async def test_importing_an_external_id_another_workspace_has_creates_its_own_lead(
    api, connection, acme
):
    other = await factories.workspace(connection, "Other")
    theirs = await factories.lead(connection, other, "+15550004000", name="Theirs")
    before = await factories.table_snapshot(connection, "lead")
    imported = await api.post(
        "/leads/import", {"rows": [{"external_id": "+15550004000", "name": "Ours"}]}
    )
    assert (imported.json()["created"], imported.json()["updated"]) == (1, 0)
    rows = await connection.fetch(
        "SELECT workspace_id, name FROM lead WHERE external_id = '+15550004000' ORDER BY id"
    )
    assert [tuple(row) for row in rows] == [(other, "Theirs"), (acme, "Ours")]
    assert [r for r in await factories.table_snapshot(connection, "lead") if r["id"] == theirs] == [
        r for r in before if r["id"] == theirs
    ]


async def test_an_expired_lease_can_be_claimed_again(api, connection, acme):
    past = datetime.now(UTC) - timedelta(minutes=5)
    lead_id = await factories.lead(connection, acme, "+due", next_followup_at=past)
    await connection.execute(
        "UPDATE lead SET followup_lease_until = now() - interval '1 second' WHERE id = $1", lead_id
    )
    claimed = await api.post("/followups/claim", {})
    assert [lead["id"] for lead in claimed.json()["items"]] == [lead_id]


@pytest.mark.parametrize(
    "body", [{"limit": 0}, {"limit": 101}, {"lease_seconds": 0}, {"limit": "x"}]
)
async def test_bad_claims_are_422(api, connection, acme, body):
    due = datetime.now(UTC) - timedelta(hours=1)
    await factories.lead(connection, acme, next_followup_at=due)
    before = await factories.table_snapshot(connection, "lead")
    assert (await api.post("/followups/claim", body)).status_code == 422
    assert await factories.table_snapshot(connection, "lead") == before  # nothing leased


# --- strategies ---------------------------------------------------------------------------


async def test_strategy_life_cycle(api):
    first = await api.post("/strategies", {"followup_preset": "GENTLE", "tone": "warm"})
    second = await api.post(
        "/strategies", {"followup_preset": "BALANCED", "interval_overrides": {"CONTACTED": 48}}
    )
    assert (first.status_code, first.json()["version_number"]) == (201, 1)
    assert second.json()["interval_overrides"] == {"CONTACTED": 48}
    v1, v2 = first.json()["id"], second.json()["id"]

    edited = await api.patch(f"/strategies/{v1}", {"objectives": "book a call"})
    assert edited.json()["objectives"] == "book a call"
    assert (await api.get("/strategies/active")).status_code == 404

    activated = await api.post(f"/strategies/{v1}/activate")
    assert activated.json()["active"]["version_number"] == 1
    frozen = await api.patch(f"/strategies/{v1}", {"tone": "pushy"})
    assert frozen.status_code == 409
    assert "only DRAFT versions can be edited" in error_of(frozen)["message"]

    await api.post(f"/strategies/{v2}/activate")
    rolled = await api.post("/strategies/rollback")
    assert (rolled.json()["active"]["id"], rolled.json()["rolled_back_version"]) == (v1, 2)
    listed = (await api.get("/strategies")).json()
    assert [(s["version_number"], s["status"]) for s in listed] == [
        (2, "ROLLED_BACK"),
        (1, "ACTIVE"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"followup_preset": "SOMETIMES"},
        {"followup_preset": "GENTLE", "interval_overrides": {"SUPPRESSED": 1}},
        {"followup_preset": "GENTLE", "interval_overrides": {"NEW": 0}},
        {"followup_preset": "GENTLE", "status": "ACTIVE"},
    ],
)
async def test_bad_drafts_are_422(api, connection, body):
    assert (await api.post("/strategies", body)).status_code == 422
    assert await connection.fetchval("SELECT count(*) FROM strategy_version") == 0


# --- conversations --------------------------------------------------------------------------


async def test_threads_and_messages_newest_first(api, connection, acme):
    lead_id = await factories.lead(connection, acme)
    thread = await api.post(f"/leads/{lead_id}/threads")
    assert thread.status_code == 201
    thread_id = thread.json()["id"]
    for n in range(5):
        posted = await api.post(
            f"/threads/{thread_id}/messages",
            {
                "role": "user" if n % 2 else "system",
                "content": f"m{n}",
                "tool_calls": [{"name": "f"}] if n == 4 else None,
            },
        )
        assert posted.status_code == 201
    assert posted.json()["tool_calls"] == [{"name": "f"}]
    page = (await api.get(f"/threads/{thread_id}/messages", limit=3)).json()
    assert [m["content"] for m in page["items"]] == ["m4", "m3", "m2"]
    rest = (
        await api.get(f"/threads/{thread_id}/messages", limit=3, cursor=page["next_cursor"])
    ).json()
    assert [m["content"] for m in rest["items"]] == ["m1", "m0"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"role": "assistant", "content": "x"},
        {"role": "user"},
        {"role": "user", "content": "x", "tool_calls": {}},
    ],
)
async def test_bad_messages_are_422(api, connection, acme, body):
    lead_id = await factories.lead(connection, acme)
    thread_id = await factories.thread(connection, acme, lead_id)
    assert (await api.post(f"/threads/{thread_id}/messages", body)).status_code == 422
    assert await factories.table_snapshot(connection, "chat_message") == []


# --- audit ------------------------------------------------------------------------------------


async def test_policy_decisions_are_listed_oldest_first(api, connection, acme):
    lead_a = await factories.lead(connection, acme, "+a")
    lead_b = await factories.lead(connection, acme, "+b")
    for lead_id in (lead_a, lead_b, lead_a):
        response = await api.post(f"/leads/{lead_id}/send-permits", {"kind": "reply"})
        assert response.status_code == 201
    only_a = (await api.get("/policy-decisions", lead_id=lead_a)).json()["items"]
    assert [d["lead_id"] for d in only_a] == [lead_a, lead_a]
    assert only_a[0]["created_at"] < only_a[1]["created_at"]
    assert only_a[0]["reason_code"] == "ATTESTATION_MISSING"
    first_page = (await api.get("/policy-decisions", limit=2)).json()
    second_page = (
        await api.get("/policy-decisions", limit=2, cursor=first_page["next_cursor"])
    ).json()
    assert len(first_page["items"]) + len(second_page["items"]) == 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await api.get("/policy-decisions", since=future)).json()["items"] == []


async def pages(api, path: str, limit: int) -> list[list[int]]:
    """Every page of a list, following its cursors: the ids of each page."""
    found, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = (await api.get(path, **params)).json()
        found.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_decisions_and_attestations_page_in_order_without_repeats(api, connection, acme):
    lead_id = await factories.lead(connection, acme)
    instants = [datetime(2026, 5, 1, tzinfo=UTC) + timedelta(minutes=n // 3) for n in range(8)]
    for at in instants:  # three rows share each instant: the id breaks the tie
        await factories.policy_decision(connection, acme, lead_id, created_at=at)
        await factories.attestation(connection, acme, timestamp=at)

    decisions = await pages(api, "/policy-decisions", 3)
    attestations = await pages(api, "/attestations", 3)

    oldest_first = await connection.fetch(
        "SELECT id FROM policy_decision WHERE workspace_id = $1 ORDER BY created_at, id", acme
    )
    newest_first = await connection.fetch(
        "SELECT id FROM outreach_attestation WHERE workspace_id = $1 "
        'ORDER BY "timestamp" DESC, id DESC',
        acme,
    )
    assert [len(page) for page in decisions] == [3, 3, 2]
    assert [i for page in decisions for i in page] == [row["id"] for row in oldest_first]
    assert [len(page) for page in attestations] == [3, 3, 2]
    assert [i for page in attestations for i in page] == [row["id"] for row in newest_first]


async def test_clients_cannot_write_policy_decisions(api, connection, acme):
    lead_id = await factories.lead(connection, acme)
    response = await api.post(
        "/policy-decisions", {"lead_id": lead_id, "allow_send": True, "reason_code": "X"}
    )
    assert response.status_code == 405
    assert await connection.fetchval("SELECT count(*) FROM policy_decision") == 0


async def test_attestations_and_the_current_one(api):
    assert (await api.get("/attestations/current")).json() == {
        "granted": False,
        "attestation": None,
    }
    granted = await api.post("/attestations", {"operator_id": "ops@acme.io"})
    assert granted.status_code == 201
    assert (await api.get("/attestations/current")).json()["granted"] is True
    await api.post("/attestations", {"operator_id": "ops@acme.io", "granted": False})
    current = (await api.get("/attestations/current")).json()
    assert (current["granted"], current["attestation"]["granted"]) == (False, False)
    listed = (await api.get("/attestations")).json()["items"]
    assert [a["granted"] for a in listed] == [False, True]


# --- malformed requests -----------------------------------------------------------


async def test_malformed_requests_get_the_error_shape(api):
    bad_json = await api.http.post(
        "/leads", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    too_big = await api.http.post(
        "/leads/import",
        content=b'{"rows": ["' + b"x" * (9 * 1024 * 1024) + b'"]}',
        headers={"Content-Type": "application/json"},
    )
    unknown = await api.get("/nowhere")
    huge_id = await api.get(f"/leads/{2**40}")
    assert [r.status_code for r in (bad_json, too_big, unknown, huge_id)] == [400, 413, 404, 422]
    for response in (bad_json, too_big, unknown, huge_id):
        error_of(response)


# --- races ----------------------------------------------------------------------------


async def test_twenty_simultaneous_upserts_leave_one_lead(api, connection):
    responses = await asyncio.gather(
        *(api.put("/leads/by-external-id/+race", {"name": f"n{n}"}) for n in range(20))
    )
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert await connection.fetchval("SELECT count(*) FROM lead") == 1


async def test_four_simultaneous_claimers_never_share_a_lead(acme, connection):
    past = datetime.now(UTC) - timedelta(minutes=1)
    for n in range(40):
        await factories.lead(connection, acme, f"+{n}", next_followup_at=past)
    workers = [await client_for(acme) for _ in range(4)]
    responses = await asyncio.gather(
        *(worker.post("/followups/claim", {"limit": 15, "lease_seconds": 60}) for worker in workers)
    )
    claimed = [lead["id"] for r in responses for lead in r.json()["items"]]
    assert len(claimed) == len(set(claimed)) == 40
    for worker in workers:
        await worker.http.aclose()


async def test_a_claim_skips_leads_another_claimer_holds_without_waiting(
    api, connection, fresh_database, acme
):
    """The test holds the three most overdue leads as a claimer in flight would: the
    claim returns the others at once and the held ones later."""
    past = datetime.now(UTC) - timedelta(hours=1)
    ids = [
        await factories.lead(connection, acme, f"+1555000{n}", next_followup_at=past + n * MINUTE)
        for n in range(6)
    ]
    lock = "SELECT id FROM lead WHERE id = ANY($1::int[]) FOR UPDATE"
    async with held(fresh_database, lock, ids[:3]):
        claim = api.post("/followups/claim", {"limit": 10, "lease_seconds": 60})
        during = await asyncio.wait_for(claim, timeout=WAIT_SECONDS)
    after = await api.post("/followups/claim", {"limit": 10, "lease_seconds": 60})
    assert [lead["id"] for lead in during.json()["items"]] == ids[3:]
    assert [lead["id"] for lead in after.json()["items"]] == ids[:3]


async def test_two_simultaneous_drafts_get_distinct_numbers(api):
    responses = await asyncio.gather(
        api.post("/strategies", {"followup_preset": "GENTLE"}),
        api.post("/strategies", {"followup_preset": "GENTLE"}),
    )
    assert sorted(r.json()["version_number"] for r in responses) == [1, 2]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/leads", {"external_id": "a\x00b"}),
        ("PATCH", "/workspace", {"name": "nul\x00"}),
        ("POST", "/attestations", {"operator_id": "ops\x00"}),
        ("POST", "/strategies", {"followup_preset": "GENTLE", "tone": "calm\x00"}),
    ],
)
async def test_text_the_database_cannot_store_is_422_as_the_schema_says(
    api, connection, method, path, body
):
    response = await api.request(method, path, json=body)
    assert response.status_code == 422
    [field] = [name for name, value in body.items() if "\x00" in value]
    assert [item["field"] for item in error_of(response)["fields"]] == [field]
    schema = (await api.get("/openapi.json")).json()
    assert "\\x00" in json.dumps(schema["components"]["schemas"])  # the pattern is stated
    assert await connection.fetchval("SELECT count(*) FROM lead") == 0
    assert await connection.fetchval("SELECT count(*) FROM outreach_attestation") == 0
    assert await connection.fetchval("SELECT name FROM workspace") == "Acme"
    assert await connection.fetchval("SELECT count(*) FROM strategy_version") == 0


async def test_strategy_text_cannot_be_nulled(api, connection):
    draft = (await api.post("/strategies", {"followup_preset": "GENTLE"})).json()
    before = await factories.table_snapshot(connection, "strategy_version")
    response = await api.patch(f"/strategies/{draft['id']}", {"tone": None})
    assert await factories.table_snapshot(connection, "strategy_version") == before
    cleared = await api.patch(f"/strategies/{draft['id']}", {"interval_overrides": None})
    assert response.status_code == 422
    assert error_of(response)["fields"] == [{"field": "tone", "message": "must not be null"}]
    assert cleared.status_code == 200


async def test_a_drafts_interval_overrides_are_changed_as_an_object(api, connection):
    draft = (await api.post("/strategies", {"followup_preset": "GENTLE"})).json()
    changed = await api.patch(f"/strategies/{draft['id']}", {"interval_overrides": {"ENGAGED": 12}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["interval_overrides"] == {"ENGAGED": 12}
    stored = await connection.fetchrow(
        "SELECT jsonb_typeof(interval_overrides) AS kind, interval_overrides->>'ENGAGED' AS hours "
        "FROM strategy_version WHERE id = $1",
        draft["id"],
    )
    assert tuple(stored) == ("object", "12")
