"""The WhatsApp webhook: Meta's handshake, signed payloads shaped like the
platform's documented examples, every lead effect, idempotency and races."""

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from app.main import app
from app.settings import settings
from app.whatsapp.signature import signature_of
from tests import factories
from tests.api_client import client_for
from tests.database_setup import until_waiting_for_locks

SECRET, TOKEN = "app-secret-for-tests", "verify-token-for-tests"
PHONE_NUMBER_ID = "106540352242922"
WEBHOOK = "/integrations/whatsapp/webhook"
SENT_AT = 1_790_000_000  # 2026-09-21 14:13:20 UTC


@pytest.fixture(autouse=True)
def whatsapp_on(monkeypatch):
    monkeypatch.setenv("WHATSAPP_APP_SECRET", SECRET)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", TOKEN)
    settings.cache_clear()


@pytest.fixture
async def acme(connection) -> int:
    workspace_id = await factories.workspace(connection, "Acme")
    await factories.insert(
        connection,
        "whatsapp_number",
        workspace_id=workspace_id,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="15550783881",
    )
    return workspace_id


@pytest.fixture
async def meta():
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v1"
    ) as client:
        yield client


def text(
    body: str,
    wamid: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    sender: str = "60123456789",
    at: int = SENT_AT,
) -> dict:
    return {
        "from": sender,
        "id": wamid,
        "timestamp": str(at),
        "type": "text",
        "text": {"body": body},
    }


def payload(
    *messages: dict,
    statuses: list | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
    name: str = "Siti",
) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": name}, "wa_id": m["from"]} for m in messages],
        "messages": list(messages),
    }
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


async def deliver(meta, document, signature: str | None = "valid") -> httpx.Response:
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "valid":
        headers["X-Hub-Signature-256"] = signature_of(body, SECRET)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return await meta.post(WEBHOOK, content=body, headers=headers)


async def stored(connection) -> dict:
    return {
        "leads": [dict(r) for r in await connection.fetch("SELECT * FROM lead ORDER BY id")],
        "threads": await connection.fetchval("SELECT count(*) FROM conversation_thread"),
        "messages": [
            dict(r) for r in await connection.fetch("SELECT * FROM chat_message ORDER BY id")
        ],
    }


# --- handshake and settings ------------------------------------------------------------------


async def test_the_handshake_answers_the_challenge_when_the_token_matches(meta):
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    right = await meta.get(WEBHOOK, params={**params, "hub.verify_token": TOKEN})
    wrong = await meta.get(WEBHOOK, params={**params, "hub.verify_token": "guess"})
    assert (right.status_code, right.text) == (200, "1158201444")
    assert right.headers["content-type"].startswith("text/plain")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"


async def test_without_settings_the_webhook_is_off(meta, monkeypatch, connection, acme):
    monkeypatch.delenv("WHATSAPP_APP_SECRET")
    monkeypatch.delenv("WHATSAPP_VERIFY_TOKEN")
    settings.cache_clear()
    handshake = await meta.get(WEBHOOK, params={"hub.mode": "subscribe"})
    posted = await deliver(meta, payload(text("hi")), signature="sha256=00")
    assert (handshake.status_code, posted.status_code) == (503, 503)
    assert "WHATSAPP_APP_SECRET" in posted.json()["error"]["message"]
    assert (await stored(connection))["messages"] == []


# --- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha1=abc", "other-body"],
)
async def test_an_unsigned_or_badly_signed_body_is_refused(meta, connection, acme, signature):
    document = payload(text("hi"))
    if signature == "other-body":
        signature = signature_of(json.dumps(payload(text("other"))).encode(), SECRET)
    before = await stored(connection)
    response = await deliver(meta, document, signature=signature)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert await stored(connection) == before


async def test_during_a_rotation_both_secrets_are_accepted_and_no_other(
    meta, connection, acme, monkeypatch
):
    previous, unknown = "app-secret-before-the-rotation", "app-secret-of-no-one"
    monkeypatch.setenv("WHATSAPP_APP_SECRET_PREVIOUS", previous)
    settings.cache_clear()
    answers = {}
    for n, secret in enumerate((SECRET, previous, unknown)):
        wamid = f"wamid.rotation-{n}"
        body = json.dumps(payload(text(f"hello {n}", wamid=wamid))).encode()
        answers[secret] = await meta.post(
            WEBHOOK,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature_of(body, secret),
            },
        )
    assert [answer.status_code for answer in answers.values()] == [200, 200, 401]
    assert answers[unknown].json()["error"]["code"] == "unauthorized"
    stored_ids = await connection.fetch(
        "SELECT platform_message_id FROM chat_message ORDER BY platform_message_id"
    )
    assert [row["platform_message_id"] for row in stored_ids] == [
        "wamid.rotation-0",
        "wamid.rotation-1",
    ]


async def test_after_the_rotation_the_previous_secret_is_refused(meta, connection, acme):
    """The rotation ends by unsetting WHATSAPP_APP_SECRET_PREVIOUS (here never set)."""
    body = json.dumps(payload(text("late"))).encode()
    old = signature_of(body, "app-secret-before-the-rotation")
    response = await meta.post(WEBHOOK, content=body, headers={"X-Hub-Signature-256": old})
    assert response.status_code == 401
    assert await connection.fetchval("SELECT count(*) FROM chat_message") == 0


async def test_signed_bodies_of_any_shape_are_acknowledged_and_kept(meta, connection, acme, caplog):
    before = await stored(connection)
    bodies = (b'{"secret": "not json', b'{"object": "page", "entry": []}', b"[1, 2]")
    with caplog.at_level("WARNING", logger="masterplan.whatsapp"):
        for body in bodies:
            response = await meta.post(
                WEBHOOK, content=body, headers={"X-Hub-Signature-256": signature_of(body, SECRET)}
            )
            assert response.status_code == 200, response.text
            assert response.json()["kept"] == 1
    assert await stored(connection) == before
    kept = await connection.fetch("SELECT field, reason, body FROM webhook_inbox ORDER BY id")
    assert [row["body"].encode() for row in kept] == list(bodies)
    assert {row["field"] for row in kept} == {None}
    assert kept[0]["reason"].startswith("the body is not JSON")
    assert "not a WhatsApp Business Account webhook body" in kept[1]["reason"]
    # The log says why, never what the body said.
    logged = [record.getMessage() for record in caplog.records]
    assert len(logged) == 3
    assert not any("secret" in line or "page" in line for line in logged)


# --- what a message does -----------------------------------------------------------------------


async def test_a_text_message_creates_the_lead_thread_and_message(meta, connection, acme):
    response = await deliver(meta, payload(text("Is the offer still on?")))
    assert response.status_code == 200
    assert response.json() == {
        "stored": 1,
        "duplicates": 0,
        "statuses": 0,
        "preferences": 0,
        "consent_events": 0,
        "kept": 0,
        "unknown_numbers": [],
    }
    state = await stored(connection)
    [lead] = state["leads"]
    assert (lead["external_id"], lead["name"], lead["stage"]) == ("+60123456789", "Siti", "ENGAGED")
    assert lead["last_inbound_at"] == datetime.fromtimestamp(SENT_AT, UTC)
    [message] = state["messages"]
    assert (message["role"], message["content"]) == ("user", "Is the offer still on?")
    assert message["created_at"] == datetime.fromtimestamp(SENT_AT, UTC)
    assert json.loads(message["platform_payload"])["text"] == {"body": "Is the offer still on?"}
    assert state["threads"] == 1


@pytest.mark.parametrize(
    ("message", "content"),
    [
        (
            {
                "type": "image",
                "image": {"caption": "My car", "mime_type": "image/jpeg", "id": "MEDIA_ID"},
            },
            "[image] My car",
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "call", "title": "Yes, call me"},
                },
            },
            "[interactive] Yes, call me",
        ),
        (
            {"type": "button", "button": {"text": "Yes, call me", "payload": "CALL"}},
            "[button] Yes, call me",
        ),
        (
            {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "\U0001f44d"}},
            "[reaction] \U0001f44d",
        ),
        (
            {
                "type": "location",
                "location": {"latitude": 3.139, "longitude": 101.6869, "name": "KLCC"},
            },
            "[location] KLCC",
        ),
        ({"type": "sticker", "sticker": {"id": "S"}}, "[sticker]"),
    ],
)
async def test_other_types_get_a_readable_line_and_keep_the_platform_object(
    meta, connection, acme, message, content
):
    raw = {"from": "60123456789", "id": "wamid.typed", "timestamp": str(SENT_AT), **message}
    assert (await deliver(meta, payload(raw))).status_code == 200
    [stored_message] = (await stored(connection))["messages"]
    assert stored_message["content"] == content
    assert json.loads(stored_message["platform_payload"]) == raw


async def test_two_messages_in_one_entry_and_two_entries_in_one_payload(meta, connection, acme):
    first = payload(text("one", "wamid.1", at=SENT_AT + 5), text("two", "wamid.2", at=SENT_AT))
    second = payload(text("three", "wamid.3", sender="447700900123", at=SENT_AT + 9))
    first["entry"] += second["entry"]
    assert (await deliver(meta, first)).json()["stored"] == 3
    rows = await connection.fetch(
        "SELECT l.external_id, m.content FROM chat_message m JOIN conversation_thread t "
        "ON t.id = m.thread_id JOIN lead l ON l.id = t.lead_id ORDER BY m.created_at"
    )
    # Out-of-order deliveries keep the true order of the platform's timestamps.
    assert [tuple(row) for row in rows] == [
        ("+60123456789", "two"),
        ("+60123456789", "one"),
        ("+447700900123", "three"),
    ]


async def test_a_payload_for_an_unknown_number_is_acknowledged_and_kept(
    meta, connection, acme, caplog
):
    before = await stored(connection)
    two_messages = payload(text("hi", "wamid.a"), text("again", "wamid.b"), phone_number_id="999")
    with caplog.at_level("WARNING", logger="masterplan.whatsapp"):
        response = await deliver(meta, two_messages)
    assert response.status_code == 200
    assert (response.json()["unknown_numbers"], response.json()["kept"]) == (["999"], 1)
    assert [record.getMessage() for record in caplog.records] == [
        "WhatsApp items kept in the inbox: no workspace has the WhatsApp number 999"
    ]
    assert await stored(connection) == before
    [kept] = await connection.fetch("SELECT * FROM webhook_inbox")
    assert (kept["field"], kept["phone_number_id"], kept["workspace_id"]) == (
        "messages",
        "999",
        None,
    )
    assert (
        json.loads(kept["body"])["entry"][0]["changes"][0]["value"]["messages"]
        == (two_messages["entry"][0]["changes"][0]["value"]["messages"])
    )


async def test_a_retried_delivery_stores_nothing_twice(meta, connection, acme):
    document = payload(text("hello"))
    first, again = await deliver(meta, document), await deliver(meta, document)
    assert (first.json()["stored"], again.json()["stored"], again.json()["duplicates"]) == (1, 0, 1)
    state = await stored(connection)
    assert (len(state["leads"]), state["threads"], len(state["messages"])) == (1, 1, 1)


@pytest.mark.parametrize("words", ["STOP", "  stop! ", "Berhenti.", "unsubscribe"])
async def test_an_opt_out_word_disconnects_the_lead(meta, connection, acme, words):
    await factories.lead(connection, acme, "+60123456789", tags=["NO_RESPONSE", "POSITIVE"])
    await deliver(meta, payload(text(words)))
    tags = json.loads(await connection.fetchval("SELECT tags FROM lead"))
    assert tags == ["POSITIVE", "DISCONNECT"]


async def test_a_message_that_merely_contains_stop_is_no_opt_out(meta, connection, acme):
    await deliver(meta, payload(text("please don't stop calling")))
    assert json.loads(await connection.fetchval("SELECT tags FROM lead")) == []


async def test_a_workspace_lists_its_own_opt_out_words(meta, connection, acme):
    await connection.execute("UPDATE workspace SET opt_out_words = '[\"PARAR\"]'")
    await deliver(meta, payload(text("Parar")))
    assert json.loads(await connection.fetchval("SELECT tags FROM lead")) == ["DISCONNECT"]


@pytest.mark.parametrize("stage", ["TAKE_OVER", "QUALIFIED", "CLOSED_LOST", "SUPPRESSED"])
async def test_leads_taken_over_or_further_along_keep_their_stage(meta, connection, acme, stage):
    extra = {"stage_before_takeover": "NEW"} if stage == "TAKE_OVER" else {}
    await factories.lead(connection, acme, "+60123456789", stage=stage, **extra)
    await deliver(meta, payload(text("hello again")))
    assert await connection.fetchval("SELECT stage FROM lead") == stage
    assert await connection.fetchval("SELECT count(*) FROM chat_message") == 1


async def test_a_number_in_any_form_is_one_lead(meta, connection, acme):
    client = await client_for(acme)
    created = await client.post("/leads", {"external_id": "+60 12-345 6789", "name": "Siti A."})
    await client.http.aclose()
    assert created.json()["external_id"] == "+60123456789"
    await deliver(meta, payload(text("hi"), name="Siti"))
    [lead] = (await stored(connection))["leads"]
    assert (lead["external_id"], lead["name"]) == ("+60123456789", "Siti A.")


async def test_delivery_statuses_are_recorded_on_our_messages(meta, connection, acme):
    lead_id = await factories.lead(connection, acme, "+60123456789")
    thread_id = await factories.thread(connection, acme, lead_id)
    permit = await factories.permit(connection, acme, lead_id)
    await factories.chat_message(
        connection, thread_id, role="model", permit_id=permit, platform_message_id="wamid.OUT"
    )
    report = [
        {
            "id": "wamid.OUT",
            "status": "read",
            "timestamp": str(SENT_AT),
            "recipient_id": "60123456789",
        }
    ]
    response = await deliver(meta, payload(statuses=report))
    unknown = [{"id": "wamid.NOT-OURS", "status": "delivered", "timestamp": str(SENT_AT)}]
    ignored = await deliver(meta, payload(statuses=unknown))
    assert (response.json()["statuses"], ignored.json()["statuses"]) == (1, 0)
    row = await connection.fetchrow("SELECT delivery_status, delivery_status_at FROM chat_message")
    assert tuple(row) == ("read", datetime.fromtimestamp(SENT_AT, UTC))


# --- races -------------------------------------------------------------------------------------


async def queued_behind_a_lock(connection, fresh_database, deliveries) -> list[httpx.Response]:
    """Start every delivery while the test holds a lock on the lead table, so that all of
    them wait at the same step (all that hold a connection, with a pool); then release."""
    import asyncpg

    from app.db.connections import POOL_SIZE
    from app.main import database_engine

    connections = POOL_SIZE if database_engine().pool is not None else len(deliveries)

    blocker = await asyncpg.connect(fresh_database)
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE lead IN SHARE ROW EXCLUSIVE MODE")
    tasks = [asyncio.create_task(delivery) for delivery in deliveries]
    await until_waiting_for_locks(connection, min(len(tasks), connections))
    await transaction.rollback()
    await blocker.close()
    return await asyncio.gather(*tasks)


async def test_twenty_deliveries_of_one_payload_store_one_message(
    meta, connection, fresh_database, acme
):
    document = payload(text("hello"))
    responses = await queued_behind_a_lock(
        connection, fresh_database, [deliver(meta, document) for _ in range(20)]
    )
    assert {r.status_code for r in responses} == {200}
    assert sum(r.json()["stored"] for r in responses) == 1
    state = await stored(connection)
    assert (len(state["leads"]), state["threads"], len(state["messages"])) == (1, 1, 1)


async def test_twenty_first_messages_from_one_sender_make_one_lead_and_one_thread(
    meta, connection, fresh_database, acme
):
    deliveries = [deliver(meta, payload(text(f"m{n}", f"wamid.{n}"))) for n in range(20)]
    responses = await queued_behind_a_lock(connection, fresh_database, deliveries)
    assert {r.status_code for r in responses} == {200}
    state = await stored(connection)
    assert (len(state["leads"]), state["threads"], len(state["messages"])) == (1, 1, 20)


async def test_the_workspace_reads_its_numbers(connection, acme):
    client = await client_for(acme)
    numbers = (await client.get("/integrations/whatsapp/numbers")).json()
    await client.http.aclose()
    assert [(n["phone_number_id"], n["display_phone_number"]) for n in numbers] == [
        (PHONE_NUMBER_ID, "15550783881")
    ]


async def test_twenty_first_messages_from_a_known_lead_open_one_thread(
    meta, connection, fresh_database, acme
):
    await factories.lead(connection, acme, "+60123456789")  # imported, never written to
    deliveries = [deliver(meta, payload(text(f"m{n}", f"wamid.{n}"))) for n in range(20)]
    responses = await queued_behind_a_lock(connection, fresh_database, deliveries)
    assert {r.status_code for r in responses} == {200}
    state = await stored(connection)
    assert (len(state["leads"]), state["threads"], len(state["messages"])) == (1, 1, 20)


async def test_imports_and_the_admin_keep_phone_numbers_in_one_form(connection, acme):
    from tests.admin_client import logged_in_operator

    client = await client_for(acme)
    imported = await client.post(
        "/leads/import",
        {"rows": [{"external_id": "(+44) 7700-900 123"}, {"external_id": "crm:42"}]},
    )
    found = await client.get("/leads", limit=10)
    await client.http.aclose()
    assert [r["external_id"] for r in imported.json()["results"]] == ["+447700900123", "crm:42"]
    assert {lead["external_id"] for lead in found.json()["items"]} == {"+447700900123", "crm:42"}
    operator = await logged_in_operator()
    created = await operator.create("lead", workspace_id=acme, external_id="60 12 345 6789")
    await operator.http.aclose()
    assert created.status_code == 201, created.text
    assert (
        await connection.fetchval("SELECT count(*) FROM lead WHERE external_id = '+60123456789'")
        == 1
    )


async def test_a_sent_message_recorded_through_the_api_gets_its_delivery_reports(
    meta, connection, acme
):
    from datetime import timedelta

    from app.enums import SendKind
    from app.policy import engine

    lead_id = await factories.lead(connection, acme, "+60123456789")
    thread_id = await factories.thread(connection, acme, lead_id)
    await factories.chat_message(
        connection, thread_id, role="user", created_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    await factories.attestation(connection, acme, timestamp=datetime.now(UTC) - timedelta(days=1))
    permit = await engine.request_permit(acme, lead_id, SendKind.REPLY)
    client = await client_for(acme)
    body = {
        "role": "model",
        "content": "Yes!",
        "permit_id": permit["id"],
        "platform_message_id": "wamid.SENT",
    }
    sent = await client.post(f"/threads/{thread_id}/messages", body)
    again = await client.post(f"/threads/{thread_id}/messages", {**body, "permit_id": None})
    await client.http.aclose()
    assert sent.status_code == 201, sent.text
    assert (sent.json()["platform_message_id"], sent.json()["delivery_status"]) == (
        "wamid.SENT",
        None,
    )
    assert again.status_code == 409
    report = [{"id": "wamid.SENT", "status": "delivered", "timestamp": str(SENT_AT)}]
    assert (await deliver(meta, payload(statuses=report))).json()["statuses"] == 1
    assert (
        await connection.fetchval(
            "SELECT delivery_status FROM chat_message WHERE platform_message_id = 'wamid.SENT'"
        )
        == "delivered"
    )


@pytest.mark.parametrize("stage", ["NEW", "CONTACTED"])
async def test_a_reply_engages_a_new_or_contacted_lead(meta, connection, acme, stage):
    await factories.lead(connection, acme, "+60123456789", stage=stage, tags=["NO_RESPONSE"])
    await deliver(meta, payload(text("yes, interested")))
    row = await connection.fetchrow("SELECT stage, tags FROM lead")
    assert (row["stage"], json.loads(row["tags"])) == ("ENGAGED", [])


async def test_operators_route_numbers_and_edit_leads_in_the_admin(connection, acme):
    from tests.admin_client import logged_in_operator

    operator = await logged_in_operator()
    added = await operator.create(
        "whatsapp_number", workspace_id=acme, phone_number_id="777", display_phone_number="+1 555"
    )
    twice = await operator.create("whatsapp_number", workspace_id=acme, phone_number_id="777")
    lead_id = await factories.lead(connection, acme, "crm:1")
    edited = await operator.edit("lead", lead_id, external_id="0060 12 345 6789")
    national = await operator.create("lead", workspace_id=acme, external_id="012-345 6789")
    await operator.http.aclose()
    assert (added.status_code, twice.status_code, edited.status_code) == (201, 422, 200)
    assert national.status_code == 201
    assert await connection.fetchval("SELECT count(*) FROM whatsapp_number") == 2
    ids = await connection.fetch("SELECT external_id FROM lead ORDER BY id")
    # A national number names no country: kept as typed.
    assert [row["external_id"] for row in ids] == ["+60123456789", "012-345 6789"]


# The one rule on every surface (app/phone_numbers.py): (as written, as stored, zone
# source). A valid number in E.164 with its zone; a possible but invalid one in E.164,
# flagged (the workspace's zone); anything else kept as given.
PHONE_FORMS = [
    ("+1 (212) 555-0123", "+12125550123", "phone_number"),
    ("0044 7911 123456", "+447911123456", "phone_number"),
    ("1 000 000 0000", "+10000000000", "workspace"),
    ("012-345 6789", "012-345 6789", "workspace"),
]


async def lead_rows(connection, workspace_id: int) -> list[str]:
    rows = await connection.fetch(
        "SELECT external_id FROM lead WHERE workspace_id = $1 ORDER BY external_id", workspace_id
    )
    return [row["external_id"] for row in rows]


@pytest.mark.parametrize(("written", "kept", "source"), PHONE_FORMS)
async def test_every_surface_keeps_one_form_of_a_phone_number(
    meta, connection, acme, written, kept, source
):
    client = await client_for(acme)
    created = await client.post("/leads", {"external_id": written})
    assert created.status_code == 201, created.text
    assert (created.json()["external_id"], created.json()["zone_source"]) == (kept, source)
    # Every other surface finds that lead, and changes nothing else.
    upserted = await client.put(f"/leads/by-external-id/{written}", {"name": "Ana"})
    found = await client.get(f"/leads/by-external-id/{written}")
    imported = await client.post("/leads/import", {"rows": [{"external_id": written}]})
    await client.http.aclose()
    assert upserted.status_code == 200 and upserted.json()["external_id"] == kept
    assert found.status_code == 200 and found.json()["id"] == created.json()["id"]
    assert imported.json()["results"][0]["result"] == "updated"
    from tests.admin_client import logged_in_operator

    operator = await logged_in_operator()
    again = await operator.create("lead", workspace_id=acme, external_id=written)
    await operator.http.aclose()
    assert again.status_code == 422  # the same lead: (workspace, external_id) is unique
    assert await lead_rows(connection, acme) == [kept]


@pytest.mark.parametrize(("written", "kept", "source"), PHONE_FORMS[:3])
async def test_the_webhook_keeps_the_same_form(meta, connection, acme, written, kept, source):
    sender = written.replace(" ", "").replace("(", "").replace(")", "").replace("-", "")
    sender = sender.removeprefix("+").removeprefix("00")
    response = await deliver(meta, payload(text("hi", sender=sender)))
    assert response.status_code == 200
    assert await lead_rows(connection, acme) == [kept]


async def test_the_api_says_which_zone_a_lead_is_read_in(connection, acme):
    client = await client_for(acme)
    numbered = (await client.post("/leads", {"external_id": "+12125550123"})).json()
    chosen = (
        await client.post("/leads", {"external_id": "crm:7", "timezone": "Asia/Tokyo"})
    ).json()
    plain = (await client.post("/leads", {"external_id": "crm:8"})).json()
    await client.http.aclose()
    assert (numbered["zones"], numbered["zone_reason"]) == (
        ["America/New_York"],
        "America/New_York, from the +1 212 number",
    )
    assert (chosen["zones"], chosen["zone_source"]) == (["Asia/Tokyo"], "lead_timezone")
    assert (plain["zones"], plain["zone_source"]) == ([], "workspace")
