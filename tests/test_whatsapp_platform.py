"""The webhook keeps up with the platform: payloads shaped like Meta's published webhook
reference (messages, statuses, system, user_preferences, user_id_update, account_update,
and business-scoped user ids for people with a username), each posted signed, twice.

Every effect and every refusal is read back from the database."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.enums import SendKind
from app.policy import engine
from app.settings import settings
from tests import factories, test_whatsapp
from tests.api_client import client_for
from tests.policy_setup import outreach_workspace
from tests.test_whatsapp import PHONE_NUMBER_ID, SENT_AT, deliver, queued_behind_a_lock, stored

# The webhook's settings and client, as in tests/test_whatsapp.py.
whatsapp_on = test_whatsapp.whatsapp_on
meta = test_whatsapp.meta

PHONE = "60123456789"
E164 = "+60123456789"
USER_ID = "MY.20481736591027364518"
NEW_USER_ID = "MY.77310294856102938475"
ENTRY = {"id": "104200000000001"}


@pytest.fixture
async def acme(connection) -> int:
    """A workspace ready for outreach that owns the business number."""
    workspace_id = await outreach_workspace(connection)
    await factories.insert(
        connection,
        "whatsapp_number",
        workspace_id=workspace_id,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="15557771000",
    )
    return workspace_id


def envelope(field: str, value: dict, entry: dict = ENTRY) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{**entry, "changes": [{"value": value, "field": field}]}],
    }


def messages_value(*, contacts: list | None = None, **lists) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15557771000", "phone_number_id": PHONE_NUMBER_ID},
    }
    if contacts is not None:
        value["contacts"] = contacts
    return {**value, **lists}


def contact(phone: str | None = PHONE, user_id: str | None = None, username: str | None = None):
    found: dict = {"profile": {"name": "Siti Aminah"}}
    if username:
        found["profile"]["username"] = username
    if phone is not None:
        found["wa_id"] = phone
    if user_id is not None:
        found["user_id"] = user_id
    return found


def message(wamid: str, *, phone: str | None = PHONE, user_id: str | None = None, **content):
    """A message as published: ``from`` (withheld for a username user) and
    ``from_user_id`` (the business-scoped user id), then its type's object."""
    found: dict = {"id": wamid, "timestamp": str(SENT_AT)}
    if phone is not None:
        found["from"] = phone
    if user_id is not None:
        found["from_user_id"] = user_id
    if not content:
        content = {"type": "text", "text": {"body": "Is the offer still on?"}}
    return {**found, **content}


def text_from(wamid: str, phone: str | None, user_id: str | None, body: str = "Hello") -> dict:
    value = messages_value(
        contacts=[contact(phone, user_id, username="siti.aminah" if phone is None else None)],
        messages=[message(wamid, phone=phone, user_id=user_id, type="text", text={"body": body})],
    )
    return envelope("messages", value)


async def twice(meta, document) -> tuple[dict, dict]:
    """Post a body twice, as Meta may; both acknowledged."""
    first, second = await deliver(meta, document), await deliver(meta, document)
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    return first.json(), second.json()


async def leads(connection) -> list[tuple]:
    rows = await connection.fetch(
        "SELECT id, external_id, platform_user_id, name FROM lead ORDER BY id"
    )
    return [tuple(row) for row in rows]


async def inbox(connection) -> list[dict]:
    return [dict(r) for r in await connection.fetch("SELECT * FROM webhook_inbox ORDER BY id")]


async def sent(connection, workspace_id: int, lead_id: int, thread_id: int, wamid: str) -> None:
    """A message we sent to the lead under a permit, with the platform's id."""
    permit = await factories.permit(connection, workspace_id, lead_id)
    await factories.chat_message(
        connection, thread_id, role="model", permit_id=permit, platform_message_id=wamid
    )


# --- 1. leads without a phone number --------------------------------------------------------


async def test_a_username_user_without_a_number_becomes_a_lead_keyed_by_its_user_id(
    meta, connection, acme
):
    first, again = await twice(meta, text_from("wamid.U1", None, USER_ID))
    assert (first["stored"], again["stored"], again["duplicates"]) == (1, 0, 1)
    [(lead_id, external_id, user_id, name)] = await leads(connection)
    assert (external_id, user_id, name) == (USER_ID, USER_ID, "Siti Aminah")
    thread_lead = await connection.fetchval("SELECT lead_id FROM conversation_thread")
    assert thread_lead == lead_id
    assert await inbox(connection) == []


async def test_empty_strings_for_a_withheld_number_are_no_number(meta, connection, acme):
    """The earlier shape: ``from`` and ``wa_id`` are empty strings."""
    document = text_from("wamid.U1", None, USER_ID)
    value = document["entry"][0]["changes"][0]["value"]
    value["messages"][0]["from"] = ""
    value["contacts"][0]["wa_id"] = ""
    assert (await deliver(meta, document)).json()["stored"] == 1
    assert [lead[1:3] for lead in await leads(connection)] == [(USER_ID, USER_ID)]


@pytest.mark.parametrize("both_first", [False, True], ids=["one-key-first", "both-first"])
@pytest.mark.parametrize("alone", ["user id", "phone number"])
async def test_a_number_and_a_user_id_resolve_to_one_lead_in_either_order(
    meta, connection, acme, alone, both_first
):
    with_both = text_from("wamid.BOTH", PHONE, USER_ID)
    one = (None, USER_ID) if alone == "user id" else (PHONE, None)
    by_one = text_from("wamid.ALONE", *one)
    for document in (with_both, by_one) if both_first else (by_one, with_both):
        assert (await deliver(meta, document)).json()["stored"] == 1
    # And a later message by the user id alone finds the same lead.
    assert (await deliver(meta, text_from("wamid.LATER", None, USER_ID))).json()["stored"] == 1
    [(_, external_id, user_id, _)] = await leads(connection)
    assert (external_id, user_id) == (E164, USER_ID)
    state = await stored(connection)
    assert (state["threads"], len(state["messages"])) == (1, 3)


@pytest.mark.parametrize("alone", ["user id", "phone number"])
async def test_both_keys_arriving_concurrently_make_one_lead_and_one_thread(
    meta, connection, fresh_database, acme, alone, caplog
):
    """Messages naming the person by one key race messages naming it by both: the
    person's keys are locked first, so none of them even meets a unique key (which
    would make a delivery fall back to item by item, said in the log)."""
    deliveries = []
    for n in range(10):
        one = (None, USER_ID) if alone == "user id" else (PHONE, None)
        deliveries.append(deliver(meta, text_from(f"wamid.a{n}", *one)))
        deliveries.append(deliver(meta, text_from(f"wamid.b{n}", PHONE, USER_ID)))
    with caplog.at_level("INFO", logger="masterplan.whatsapp"):
        responses = await queued_behind_a_lock(connection, fresh_database, deliveries)
    assert [r.getMessage() for r in caplog.records] == []
    assert {r.status_code for r in responses} == {200}
    assert sum(r.json()["stored"] for r in responses) == 20
    [(_, external_id, user_id, _)] = await leads(connection)
    assert (external_id, user_id) == (E164, USER_ID)
    state = await stored(connection)
    assert (state["threads"], len(state["messages"])) == (1, 20)
    assert await inbox(connection) == []


async def test_two_leads_already_holding_one_key_each_stay_two(meta, connection, acme):
    by_number = await factories.lead(connection, acme, E164)
    assert (await deliver(meta, text_from("wamid.U1", None, USER_ID))).json()["stored"] == 1
    assert (await deliver(meta, text_from("wamid.B1", PHONE, USER_ID))).json()["stored"] == 1
    rows = await leads(connection)
    assert [row[1:3] for row in rows] == [(E164, None), (USER_ID, USER_ID)]
    # The message naming both went to the lead that has the user id.
    threads = await connection.fetch(
        "SELECT t.lead_id, count(*) FROM chat_message m JOIN conversation_thread t "
        "ON t.id = m.thread_id GROUP BY t.lead_id"
    )
    assert {row["lead_id"]: row["count"] for row in threads} == {rows[1][0]: 2}
    assert rows[0][0] == by_number


async def test_statuses_to_a_user_id_update_our_message(meta, connection, acme):
    assert (await deliver(meta, text_from("wamid.U1", None, USER_ID))).json()["stored"] == 1
    [(lead_id, *_)] = await leads(connection)
    thread_id = await connection.fetchval("SELECT id FROM conversation_thread")
    await sent(connection, acme, lead_id, thread_id, "wamid.O")
    status = {
        "id": "wamid.O",
        "status": "delivered",
        "timestamp": str(SENT_AT + 60),
        "recipient_user_id": USER_ID,
        "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular"},
    }
    value = messages_value(contacts=[contact(None, USER_ID, "siti.aminah")], statuses=[status])
    first, again = await twice(meta, envelope("messages", value))
    assert (first["statuses"], first["kept"], again["kept"]) == (1, 0, 0)
    row = await connection.fetchrow(
        "SELECT delivery_status, delivery_status_at FROM chat_message WHERE role = 'model'"
    )
    assert tuple(row) == ("delivered", datetime.fromtimestamp(SENT_AT + 60, UTC))


async def test_the_api_finds_a_lead_by_its_user_id_and_only_in_its_workspace(
    meta, connection, acme
):
    assert (await deliver(meta, text_from("wamid.U1", None, USER_ID))).json()["stored"] == 1
    other = await factories.workspace(connection, "Other")
    mine, theirs = await client_for(acme), await client_for(other)
    found = await mine.get(f"/leads/by-platform-user-id/{USER_ID}")
    by_external_id = await mine.get(f"/leads/by-external-id/{USER_ID}")
    hidden = await theirs.get(f"/leads/by-platform-user-id/{USER_ID}")
    unknown = await mine.get("/leads/by-platform-user-id/MY.1")
    for client in (mine, theirs):
        await client.http.aclose()
    assert found.status_code == 200, found.text
    assert (found.json()["platform_user_id"], found.json()["external_id"]) == (USER_ID, USER_ID)
    assert by_external_id.json()["id"] == found.json()["id"]
    assert (hidden.status_code, unknown.status_code) == (404, 404)


# --- 2. acknowledge what Meta signed ------------------------------------------------------------


ACCOUNT_UPDATES = [
    {
        "event": "DISABLED_UPDATE",
        "ban_info": {"waba_ban_state": "SCHEDULE_FOR_DISABLE", "waba_ban_date": "November 3, 2026"},
    },
    {
        "event": "ACCOUNT_RESTRICTION",
        "restriction_info": [
            {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1_800_000_000}
        ],
    },
    {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}},
    {
        "event": "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
        "partner_client_certification_info": {
            "client_business_id": "1029384756",
            "status": "REJECTED",
            "rejection_reasons": ["LEGAL NAME NOT MATCHING"],
        },
    },
]


@pytest.mark.parametrize("value", ACCOUNT_UPDATES, ids=lambda v: v["event"])
async def test_account_updates_are_acknowledged_and_kept(meta, connection, acme, value):
    before = await stored(connection)
    document = envelope("account_update", value, {**ENTRY, "time": SENT_AT})
    first, again = await twice(meta, document)
    assert (first["kept"], again["kept"]) == (1, 0)
    [kept] = await inbox(connection)
    assert (kept["field"], kept["workspace_id"], kept["processed_at"]) == (
        "account_update",
        None,
        None,
    )
    assert kept["reason"] == "the webhook field 'account_update' is not acted on"
    assert json.loads(kept["body"]) == document
    assert await stored(connection) == before


async def test_template_updates_are_acknowledged_and_kept(meta, connection, acme):
    value = {
        "event": "APPROVED",
        "message_template_id": 12345678,
        "message_template_name": "spring_offer",
        "message_template_language": "en_US",
        "reason": "NONE",
    }
    first, _ = await twice(meta, envelope("message_template_status_update", value))
    assert first["kept"] == 1
    assert [k["field"] for k in await inbox(connection)] == ["message_template_status_update"]


async def test_value_level_errors_are_logged_once_and_kept(meta, connection, acme, caplog):
    error = {
        "code": 130429,
        "title": "Rate limit hit",
        "message": "Rate limit hit",
        "error_data": {"details": "Too many messages sent from this phone number"},
        "href": "/documentation/business-messaging/whatsapp/support/error-codes",
    }
    with caplog.at_level("WARNING", logger="masterplan.whatsapp"):
        first, again = await twice(meta, envelope("messages", messages_value(errors=[error])))
    assert (first["kept"], again["kept"]) == (1, 0)
    [kept] = await inbox(connection)
    assert kept["workspace_id"] == acme
    assert kept["reason"] == (
        "an error: the platform reported 130429 Rate limit hit: "
        "Too many messages sent from this phone number"
    )
    assert [r.getMessage() for r in caplog.records] == [
        f"WhatsApp items kept in the inbox: {kept['reason']}"
    ]


async def test_one_unreadable_item_never_blocks_the_others(meta, connection, acme):
    good = [message(f"wamid.G{n}", type="text", text={"body": f"hi {n}"}) for n in range(3)]
    no_id = {"from": PHONE, "timestamp": str(SENT_AT), "type": "text", "text": {"body": "x"}}
    # Readable, but no database holds a NUL character: refused by PostgreSQL itself.
    nul = message("wamid.NUL", type="text", text={"body": "a\u0000b"})
    value = messages_value(contacts=[contact()], messages=[good[0], no_id, good[1], nul, good[2]])
    first, again = await twice(meta, envelope("messages", value))
    assert (first["stored"], first["kept"]) == (3, 2)
    assert (again["stored"], again["duplicates"], again["kept"]) == (0, 3, 0)
    state = await stored(connection)
    assert sorted(m["content"] for m in state["messages"]) == ["hi 0", "hi 1", "hi 2"]
    kept = await inbox(connection)
    reasons = sorted(k["reason"] for k in kept)
    assert reasons[0].startswith("a message: id: Field required")
    assert reasons[1].startswith("the database refused it: ")
    for item in kept:
        [only] = json.loads(item["body"])["entry"][0]["changes"][0]["value"]["messages"]
        assert only in (no_id, nul)


async def test_only_a_bad_signature_an_oversized_body_or_no_settings_are_refused(
    meta, connection, acme, monkeypatch
):
    document = text_from("wamid.1", PHONE, None)
    unsigned = await deliver(meta, document, signature=None)
    wrong = await deliver(meta, document, signature="sha256=" + "0" * 64)
    from app.main import API_MAX_BODY_BYTES

    huge = await deliver(meta, {**document, "padding": "x" * API_MAX_BODY_BYTES})
    monkeypatch.delenv("WHATSAPP_APP_SECRET")
    settings.cache_clear()
    off = await deliver(meta, document)
    assert [r.status_code for r in (unsigned, wrong, huge, off)] == [401, 401, 413, 503]
    assert (await stored(connection))["leads"] == []
    assert await inbox(connection) == []


# --- 3. marketing opt-out from the platform --------------------------------------------------


def preference(value: str, at: int, *, phone: str | None = PHONE, user_id: str | None = None):
    item: dict = {
        "detail": f"User requested to {value} marketing messages",
        "category": "marketing_messages",
        "value": value,
        "timestamp": at,
    }
    if phone is not None:
        item["wa_id"] = phone
    if user_id is not None:
        item["user_id"] = user_id
    contacts = [contact(phone, user_id)]
    return envelope("user_preferences", messages_value(contacts=contacts, user_preferences=[item]))


async def followup(acme: int, lead_id: int) -> dict:
    return await engine.request_permit(acme, lead_id, SendKind.FOLLOWUP)


async def test_stop_holds_followups_until_resume(meta, connection, acme, replayed_decisions):
    lead_id = await factories.lead(connection, acme, E164, timezone="UTC", stage="CONTACTED")
    now = int(datetime.now(UTC).timestamp())
    first, again = await twice(meta, preference("stop", now - 60))
    assert (first["preferences"], again["preferences"]) == (1, 0)
    lead = await connection.fetchrow("SELECT * FROM lead WHERE id = $1", lead_id)
    assert lead["marketing_stopped_at"] == datetime.fromtimestamp(now - 60, UTC)
    held = await followup(acme, lead_id)
    assert (held["allow_send"], held["reason_code"]) == (False, "MARKETING_STOPPED")
    [outcome] = [r for r in held["rule_trace"]["rules"] if r["rule"] == "MARKETING_STOPPED"]
    assert "stopped marketing messages on WhatsApp" in outcome["detail"]
    reply = await engine.request_permit(acme, lead_id, SendKind.REPLY)
    assert reply["reason_code"] != "MARKETING_STOPPED"
    # An older resume arriving late changes nothing; a newer one frees the lead.
    await deliver(meta, preference("resume", now - 120))
    assert await connection.fetchval(
        "SELECT marketing_stopped_at FROM lead WHERE id = $1", lead_id
    ) == datetime.fromtimestamp(now - 60, UTC)
    await deliver(meta, preference("resume", now - 30))
    lead = await connection.fetchrow("SELECT * FROM lead WHERE id = $1", lead_id)
    assert lead["marketing_stopped_at"] is None
    assert (await followup(acme, lead_id))["reason_code"] != "MARKETING_STOPPED"
    events = await connection.fetch(
        "SELECT preference, source, occurred_at FROM marketing_preference_event ORDER BY id"
    )
    assert [(e["preference"], e["source"]) for e in events] == [
        ("stop", "platform_setting"),
        ("resume", "platform_setting"),
        ("resume", "platform_setting"),
    ]


async def test_a_resume_makes_a_lead_whose_schedule_was_cleared_due(meta, connection, acme):
    lead_id = await factories.lead(connection, acme, E164, stage="CONTACTED")
    await deliver(meta, preference("stop", SENT_AT))
    assert await connection.fetchval("SELECT next_followup_at FROM lead") is None
    await deliver(meta, preference("resume", SENT_AT + 3600))
    due = await connection.fetchval("SELECT next_followup_at FROM lead WHERE id = $1", lead_id)
    assert due == datetime.fromtimestamp(SENT_AT + 3600, UTC)


async def test_a_preference_by_user_id_alone_reaches_the_lead(meta, connection, acme):
    await deliver(meta, text_from("wamid.B", PHONE, USER_ID))
    await deliver(meta, preference("stop", SENT_AT, phone=None, user_id=USER_ID))
    [(lead_id, external_id, *_)] = await leads(connection)
    assert external_id == E164
    assert (
        await connection.fetchval("SELECT marketing_stopped_at FROM lead WHERE id = $1", lead_id)
        is not None
    )


BUTTONS = [
    {"type": "button", "button": {"payload": "STOP", "text": "Stop promotions"}},
    {"type": "button", "button": {"payload": "offer-17-optout", "text": "Unsubscribe"}},
    {
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "b2", "title": "Stop"}},
    },
]


@pytest.mark.parametrize("tapped", BUTTONS, ids=["payload", "text", "reply-button"])
async def test_a_quick_reply_opt_out_counts_like_the_typed_word(meta, connection, acme, tapped):
    reply = message("wamid.Q", **tapped, context={"from": "15557771000", "id": "wamid.T"})
    value = messages_value(contacts=[contact()], messages=[reply])
    first, again = await twice(meta, envelope("messages", value))
    assert (first["stored"], again["stored"]) == (1, 0)
    tags = json.loads(await connection.fetchval("SELECT tags FROM lead"))
    assert tags == ["DISCONNECT"]
    [event] = await connection.fetch("SELECT * FROM marketing_preference_event")
    assert (event["preference"], event["source"], event["platform_message_id"]) == (
        "stop",
        "quick_reply",
        "wamid.Q",
    )


async def test_a_button_that_is_no_opt_out_word_is_just_a_reply(meta, connection, acme):
    tapped = {"type": "button", "button": {"payload": "more-info", "text": "Tell me more"}}
    value = messages_value(contacts=[contact()], messages=[message("wamid.Q", **tapped)])
    await deliver(meta, envelope("messages", value))
    lead = await connection.fetchrow("SELECT stage, tags FROM lead")
    assert (lead["stage"], json.loads(lead["tags"])) == ("ENGAGED", [])
    assert await connection.fetchval("SELECT count(*) FROM marketing_preference_event") == 0


async def test_a_typed_opt_out_word_is_recorded_too(meta, connection, acme):
    await deliver(meta, text_from("wamid.S", PHONE, None, body="stop!"))
    [event] = await connection.fetch("SELECT source FROM marketing_preference_event")
    assert event["source"] == "typed_word"


# --- 4. changed numbers and user ids -----------------------------------------------------------

NEW_PHONE, NEW_E164 = "60198765432", "+60198765432"


def changed_number(wamid: str = "wamid.SYS", new: str = NEW_PHONE) -> dict:
    system = {
        "body": f"User Siti Aminah changed from {PHONE} to {new}",
        "wa_id": new,
        "type": "user_changed_number",
    }
    item = {"from": PHONE, "id": wamid, "timestamp": str(SENT_AT), "system": system}
    return envelope("messages", messages_value(messages=[{**item, "type": "system"}]))


async def test_a_changed_number_moves_the_lead_and_its_thread(meta, connection, acme):
    assert (await deliver(meta, text_from("wamid.1", PHONE, None))).json()["stored"] == 1
    [(lead_id, *_)] = await leads(connection)
    first, again = await twice(meta, changed_number())
    assert (first["stored"], again["duplicates"]) == (1, 1)
    assert await deliver(meta, text_from("wamid.2", NEW_PHONE, None))
    assert [row[:2] for row in await leads(connection)] == [(lead_id, NEW_E164)]
    state = await stored(connection)
    assert state["threads"] == 1
    assert [(m["role"], m["content"]) for m in state["messages"]] == [
        ("user", "Hello"),
        ("system", f"[system] User Siti Aminah changed from {PHONE} to {NEW_PHONE}"),
        ("user", "Hello"),
    ]
    # Not the lead writing: its last message is still its own.
    lead = await connection.fetchrow("SELECT stage, last_inbound_at FROM lead")
    assert lead["stage"] == "ENGAGED"
    change = await connection.fetchrow(
        "SELECT actor_kind, actor, changes FROM change_log WHERE table_name = 'lead' "
        "AND operation = 'EDIT' AND changes ? 'external_id'"
    )
    assert (change["actor_kind"], change["actor"]) == ("WEBHOOK", "WhatsApp")
    assert json.loads(change["changes"])["external_id"] == {"old": E164, "new": NEW_E164}


async def test_a_new_number_another_lead_has_is_left_to_an_operator(meta, connection, acme):
    await deliver(meta, text_from("wamid.1", PHONE, None))
    other = await factories.lead(connection, acme, NEW_E164)
    before = await leads(connection)
    first = await deliver(meta, changed_number())
    assert (first.json()["stored"], first.json()["kept"]) == (1, 1)
    assert await leads(connection) == before
    [kept] = await inbox(connection)
    assert f"which lead {other} already has" in kept["reason"]


async def test_a_user_id_update_moves_the_lead_to_its_new_user_id(meta, connection, acme):
    await deliver(meta, text_from("wamid.U1", None, USER_ID))
    update = {
        "detail": "User id for Siti Aminah has been updated.",
        "user_id": {"previous": USER_ID, "current": NEW_USER_ID},
        "timestamp": str(SENT_AT + 10),
    }
    value = messages_value(contacts=[contact(None, NEW_USER_ID)], user_id_update=[update])
    first, again = await twice(meta, envelope("user_id_update", value))
    assert (first["kept"], again["kept"]) == (0, 0)
    assert [row[1:3] for row in await leads(connection)] == [(NEW_USER_ID, NEW_USER_ID)]
    await deliver(meta, text_from("wamid.U2", None, NEW_USER_ID))
    assert len(await leads(connection)) == 1
    assert (await stored(connection))["threads"] == 1


async def test_a_system_message_with_a_new_user_id_moves_it_too(meta, connection, acme):
    await deliver(meta, text_from("wamid.B", PHONE, USER_ID))
    system = {
        "body": f"User Siti Aminah changed from {USER_ID} to {NEW_USER_ID}",
        "user_id": NEW_USER_ID,
        "type": "user_changed_user_id",
    }
    item = {"from": PHONE, "id": "wamid.SYS", "timestamp": str(SENT_AT), "type": "system"}
    await deliver(meta, envelope("messages", messages_value(messages=[{**item, "system": system}])))
    assert [row[1:3] for row in await leads(connection)] == [(E164, NEW_USER_ID)]


# --- 5. errors kept ------------------------------------------------------------------------------

FAILURES = [
    (131026, "Message undeliverable"),
    (131047, "Re-engagement message"),
    (131049, "This message was not delivered to maintain healthy ecosystem engagement."),
]


@pytest.mark.parametrize(("code", "title"), FAILURES, ids=[str(code) for code, _ in FAILURES])
async def test_a_failed_status_keeps_its_error(meta, connection, acme, code, title):
    lead_id = await factories.lead(connection, acme, E164)
    thread_id = await factories.thread(connection, acme, lead_id)
    await sent(connection, acme, lead_id, thread_id, "wamid.OUT")
    failed = {
        "id": "wamid.OUT",
        "status": "failed",
        "timestamp": str(SENT_AT),
        "recipient_id": PHONE,
        "errors": [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": "The message could not be delivered."},
                "href": "/documentation/business-messaging/whatsapp/support/error-codes",
            }
        ],
    }
    first, _ = await twice(meta, envelope("messages", messages_value(statuses=[failed])))
    assert first["statuses"] == 1
    row = await connection.fetchrow(
        "SELECT delivery_status, delivery_error_code, delivery_error_title FROM chat_message"
    )
    assert tuple(row) == ("failed", code, title)
    client = await client_for(acme)
    page = await client.get(f"/threads/{thread_id}/messages", limit=10)
    await client.http.aclose()
    [shown] = page.json()["items"]
    assert (shown["delivery_error_code"], shown["delivery_error_title"]) == (code, title)


# --- 6. readable content -------------------------------------------------------------------------


async def test_orders_and_flows_replies_read_as_lines(meta, connection, acme):
    order = message(
        "wamid.ORDER",
        type="order",
        order={
            "catalog_id": "194836987003835",
            "text": "Please deliver after 6pm",
            "product_items": [
                {
                    "product_retailer_id": "SKU-12",
                    "quantity": 2,
                    "item_price": 12.5,
                    "currency": "MYR",
                },
                {
                    "product_retailer_id": "SKU-40",
                    "quantity": 1,
                    "item_price": 80,
                    "currency": "MYR",
                },
            ],
        },
    )
    flow = message(
        "wamid.FLOW",
        type="interactive",
        context={"from": "15557771000", "id": "wamid.SENT"},
        interactive={
            "type": "nfm_reply",
            "nfm_reply": {
                "name": "flow",
                "body": "Sent",
                "response_json": json.dumps(
                    {"flow_token": "secret-token", "size": "M", "days": ["Mon", "Tue"]}
                ),
            },
        },
    )
    value = messages_value(contacts=[contact()], messages=[order, flow])
    assert (await deliver(meta, envelope("messages", value))).json()["stored"] == 2
    contents = [m["content"] for m in (await stored(connection))["messages"]]
    assert contents == [
        "[order] 2 x SKU-12 at 12.5 MYR; 1 x SKU-40 at 80 MYR; note: Please deliver after 6pm",
        "[interactive] Sent; size: M; days: Mon, Tue",
    ]


# --- the inbox, acted on again -------------------------------------------------------------------


async def test_the_inbox_is_acted_on_again_once_the_number_is_routed(meta, connection, acme):
    from app.whatsapp.inbox import reprocess

    value = messages_value(contacts=[contact()], messages=[message("wamid.LATE")])
    value["metadata"]["phone_number_id"] = "555000111"
    unreadable = b'{"object": "whatsapp_business_account", "entry": 7}'
    await deliver(meta, envelope("messages", value))
    await meta.post(
        "/integrations/whatsapp/webhook",
        content=unreadable,
        headers={"X-Hub-Signature-256": signature(unreadable)},
    )
    assert (await stored(connection))["leads"] == []
    await factories.insert(
        connection, "whatsapp_number", workspace_id=acme, phone_number_id="555000111"
    )
    report = await reprocess()
    assert [outcome for _, outcome in report.processed] == ["1 messages stored"]
    assert len(report.still_kept) == 1
    state = await stored(connection)
    assert [m["platform_message_id"] for m in state["messages"]] == ["wamid.LATE"]
    items = await inbox(connection)
    assert [(i["processed_at"] is not None, i["attempts"]) for i in items] == [
        (True, 1),
        (False, 1),
    ]
    again = await reprocess()
    assert (again.processed, len(again.still_kept)) == ([], 1)
    assert (await stored(connection))["messages"] == state["messages"]


def signature(body: bytes) -> str:
    from app.whatsapp.signature import signature_of
    from tests.test_whatsapp import SECRET

    return signature_of(body, SECRET)


async def test_the_reprocess_command_shows_progress_and_a_summary(meta, connection, acme):
    import subprocess
    import sys

    await deliver(meta, envelope("account_update", ACCOUNT_UPDATES[0]))
    done = subprocess.run(
        [sys.executable, "-m", "piccolo.main", "masterplan", "reprocess_webhook_inbox"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Inbox items [" in done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        "1 inbox items read again: 0 acted on, 1 still kept"
    )


async def test_a_preference_written_by_hand_holds_the_lead_too(connection, acme):
    """The database keeps ``marketing_stopped_at``, whoever records the preference."""
    lead_id = await factories.lead(connection, acme, E164)
    at = datetime.now(UTC) - timedelta(hours=1)
    await connection.execute(
        "INSERT INTO marketing_preference_event (workspace_id, lead_id, preference, source, "
        "occurred_at) VALUES ($1, $2, 'stop', 'platform_setting', $3)",
        acme,
        lead_id,
        at,
    )
    assert (
        await connection.fetchval("SELECT marketing_stopped_at FROM lead WHERE id = $1", lead_id)
        == at
    )
    import asyncpg

    with pytest.raises(asyncpg.RestrictViolationError):
        await connection.execute("DELETE FROM marketing_preference_event")
    other = await factories.workspace(connection, "Other")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await connection.execute(
            "INSERT INTO marketing_preference_event (workspace_id, lead_id, preference, source, "
            "occurred_at) VALUES ($1, $2, 'stop', 'platform_setting', now())",
            other,
            lead_id,
        )


# --- operators see it in the admin ---------------------------------------------------------------


async def test_operators_read_the_inbox_and_act_on_it_again(meta, connection, acme, admin):
    value = messages_value(contacts=[contact()], messages=[message("wamid.LATE")])
    value["metadata"]["phone_number_id"] = "555000111"
    await deliver(meta, envelope("messages", value))
    await deliver(meta, envelope("account_update", ACCOUNT_UPDATES[0]))
    listed = (await admin.get("/tables/webhook_inbox/", __order="id")).json()["rows"]
    assert [(row["field"], row["processed_at"]) for row in listed] == [
        ("messages", None),
        ("account_update", None),
    ]
    before = await inbox(connection)
    edits = [
        await admin.patch(f"/tables/webhook_inbox/{listed[0]['id']}/", {"reason": "x"}),
        await admin.delete(f"/tables/webhook_inbox/{listed[0]['id']}/"),
    ]
    assert [response.status_code for response in edits] == [405, 405]
    assert await inbox(connection) == before
    await factories.insert(
        connection, "whatsapp_number", workspace_id=acme, phone_number_id="555000111"
    )
    done = await admin.submit("reprocess-webhook-inbox", items=10)
    assert done.json() == {
        "custom_form_success": "2 inbox items read again: 1 acted on, 1 still kept"
    }
    change = await connection.fetchrow(
        "SELECT actor_kind, actor, action FROM change_log WHERE table_name = 'chat_message'"
    )
    assert tuple(change) == ("OPERATOR", admin.username, "Reprocess webhook inbox")


async def test_operators_find_a_lead_by_user_id_and_cannot_unstop_it(meta, connection, acme, admin):
    await deliver(meta, text_from("wamid.U1", None, USER_ID))
    await deliver(meta, preference("stop", SENT_AT, phone=None, user_id=USER_ID))
    found = (await admin.get("/tables/lead/", platform_user_id=USER_ID)).json()["rows"]
    assert [row["external_id"] for row in found] == [USER_ID]
    before = await leads(connection)
    stopped = await connection.fetchval("SELECT marketing_stopped_at FROM lead")
    response = await admin.patch(f"/tables/lead/{found[0]['id']}/", {"marketing_stopped_at": None})
    assert response.status_code == 422
    assert "kept by the database from the lead's marketing preferences" in response.text
    assert await leads(connection) == before
    assert await connection.fetchval("SELECT marketing_stopped_at FROM lead") == stopped


# --- every published shape, twice ----------------------------------------------------------------

MEDIA = {"mime_type": "image/jpeg", "sha256": "f0a1", "id": "1234567890"}
PUBLISHED_MESSAGES = {
    "text": {"type": "text", "text": {"body": "Hi there"}},
    "image": {"type": "image", "image": {**MEDIA, "caption": "the shop front"}},
    "video": {"type": "video", "video": {**MEDIA, "mime_type": "video/mp4"}},
    "audio": {"type": "audio", "audio": {**MEDIA, "mime_type": "audio/ogg", "voice": True}},
    "document": {"type": "document", "document": {**MEDIA, "filename": "quote.pdf"}},
    "sticker": {"type": "sticker", "sticker": {**MEDIA, "animated": False}},
    "location": {
        "type": "location",
        "location": {"latitude": 3.139, "longitude": 101.6869, "name": "KLCC"},
    },
    "contacts": {
        "type": "contacts",
        "contacts": [{"name": {"formatted_name": "Ahmad Ali", "first_name": "Ahmad"}}],
    },
    "list_reply": {
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": "slot-2", "title": "Tuesday 10:00", "description": "1 h"},
        },
    },
    "reaction": {"type": "reaction", "reaction": {"message_id": "wamid.SENT", "emoji": "👍"}},
    "unsupported": {
        "type": "unsupported",
        "errors": [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
    },
    "referral": {
        "type": "text",
        "text": {"body": "I saw your ad"},
        "referral": {"source_url": "https://fb.me/x", "source_type": "ad", "source_id": "42"},
    },
}


def published_bodies() -> dict[str, dict]:
    bodies = {
        f"message-{name}": envelope(
            "messages",
            messages_value(contacts=[contact()], messages=[message(f"wamid.{name}", **content)]),
        )
        for name, content in PUBLISHED_MESSAGES.items()
    }
    for status in ("sent", "delivered", "read", "failed", "played"):
        report = {"id": "wamid.OURS", "status": status, "timestamp": str(SENT_AT)}
        bodies[f"status-{status}"] = envelope("messages", messages_value(statuses=[report]))
    bodies["username-message"] = text_from("wamid.USERNAME", None, USER_ID)
    bodies["user-preferences"] = preference("stop", SENT_AT)
    bodies["system"] = changed_number("wamid.SYSTEM", "60111111111")
    for update in ACCOUNT_UPDATES:
        bodies[update["event"]] = envelope("account_update", update)
    return bodies


async def snapshot(connection) -> dict:
    tables = (
        "lead",
        "conversation_thread",
        "chat_message",
        "marketing_preference_event",
        "webhook_inbox",
        "change_log",
    )
    return {t: await factories.table_snapshot(connection, t) for t in tables}


async def test_every_published_shape_is_acknowledged_and_a_second_delivery_changes_nothing(
    meta, connection, acme
):
    for name, document in published_bodies().items():
        first = await deliver(meta, document)
        assert first.status_code == 200, (name, first.text)
        after_first = await snapshot(connection)
        second = await deliver(meta, document)
        assert second.status_code == 200, (name, second.text)
        assert (second.json()["stored"], second.json()["kept"]) == (0, 0), name
        assert await snapshot(connection) == after_first, name
    contents = await connection.fetch(
        "SELECT platform_message_id, content FROM chat_message ORDER BY id"
    )
    lines = {row["platform_message_id"]: row["content"] for row in contents}
    assert lines["wamid.image"] == "[image] the shop front"
    assert lines["wamid.list_reply"] == "[interactive] Tuesday 10:00"
    assert lines["wamid.unsupported"] == "[unsupported]"
    kept = {row["field"] for row in await inbox(connection)}
    assert kept == {"account_update", "messages"}  # the status "played" is not recorded


async def test_the_overview_says_how_many_items_wait_in_the_inbox(meta, connection, acme, admin):
    from app.admin.overview import OVERVIEW_PATH

    async def figure() -> str:
        page = await admin.http.get(OVERVIEW_PATH, params={"workspace": acme})
        return page.text.split('data-figure="inbox">')[1].split("</dd>")[0]

    assert await figure() == "nothing waiting: every WhatsApp item was acted on"
    errors = [{"code": 130429, "title": "Rate limit hit"}, {"code": 131000, "title": "Failed"}]
    for error in errors:
        await deliver(meta, envelope("messages", messages_value(errors=[error])))
    await deliver(meta, envelope("account_update", ACCOUNT_UPDATES[0]))  # no workspace
    assert f'<a href="/admin/#/webhook_inbox?workspace_id={acme}">2 WhatsApp items' in (
        await figure()
    )
