"""WhatsApp keyword replies in the consent ledger: an opt-out word revokes every
purpose and a workspace's opt-in word grants marketing against its current wording,
with the message as evidence, in the message's transaction, once per message id.
Signed bodies shaped like Meta's; every effect read back from the database."""

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from app.enums import ReasonCode, SendKind
from app.policy import engine
from tests import factories, test_whatsapp
from tests.policy_setup import WEDNESDAY_NOON_LONDON, london_lead, outreach_workspace
from tests.test_whatsapp import PHONE_NUMBER_ID, SENT_AT, deliver, payload, text
from tests.test_whatsapp_platform import BUTTONS, contact, envelope, message, messages_value

whatsapp_on = test_whatsapp.whatsapp_on
meta = test_whatsapp.meta
acme = test_whatsapp.acme

# A Wednesday noon in London after the lead's STOP: inside every send window.
AFTER_THE_STOP = WEDNESDAY_NOON_LONDON
WORDING = "Reply START to get Acme's offers on WhatsApp. Reply STOP to stop."


async def consent_events(connection) -> list[dict]:
    rows = await connection.fetch(
        "SELECT e.*, w.version FROM consent_event e "
        "LEFT JOIN consent_wording w ON w.id = e.wording_id ORDER BY e.id"
    )
    return [{**row, "evidence": json.loads(row["evidence"])} for row in rows]


async def with_opt_in_words(connection, workspace_id: int, *words: str) -> None:
    await connection.execute(
        "UPDATE workspace SET opt_in_words = $1 WHERE id = $2", json.dumps(words), workspace_id
    )


async def with_wording(connection, workspace_id: int) -> None:
    await factories.insert(
        connection, "consent_wording", workspace_id=workspace_id, business_name="Acme", text=WORDING
    )


async def test_an_opt_out_word_revokes_every_purpose_with_the_message_as_evidence(
    meta, connection, acme
):
    body = payload(text(" Stop! ", wamid="wamid.STOP"))

    first = await deliver(meta, body)
    again = await deliver(meta, body)

    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["consent_events"], again.json()["consent_events"]) == (2, 0)
    events = await consent_events(connection)
    lead_id = await connection.fetchval("SELECT id FROM lead")
    assert [(e["action"], e["purpose"]) for e in events] == [
        ("revoke", "marketing"),
        ("revoke", "utility"),
    ]
    for event in events:
        assert (event["workspace_id"], event["lead_id"]) == (acme, lead_id)
        assert (event["method"], event["channel"], event["wording_id"]) == (
            "keyword_reply",
            "whatsapp",
            None,
        )
        assert event["captured_at"] == datetime.fromtimestamp(SENT_AT, UTC)
        assert (event["recorded_by_kind"], event["recorded_by"]) == ("WEBHOOK", "WhatsApp")
        evidence = event["evidence"]
        assert (evidence["platform_message_id"], evidence["text"]) == ("wamid.STOP", " Stop! ")
        assert evidence["timestamp"] == str(SENT_AT)
        assert evidence["message"]["text"] == {"body": " Stop! "}
    # The message's transaction: the database clock is the same for both rows.
    message_logged_at = await connection.fetchval(
        "SELECT created_at FROM change_log WHERE table_name = 'lead' AND operation = 'EDIT' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert {e["recorded_at"] for e in events} == {message_logged_at}


@pytest.mark.parametrize("tapped", BUTTONS, ids=["payload", "text", "reply-button"])
async def test_a_tapped_opt_out_button_revokes_too(meta, connection, acme, tapped):
    reply = message("wamid.Q", **tapped, context={"from": "15557771000", "id": "wamid.T"})
    await deliver(
        meta, envelope("messages", messages_value(contacts=[contact()], messages=[reply]))
    )

    events = await consent_events(connection)
    assert [(e["action"], e["purpose"]) for e in events] == [
        ("revoke", "marketing"),
        ("revoke", "utility"),
    ]
    assert all(e["evidence"]["tapped_button"] is True for e in events)


async def test_an_opt_in_word_grants_marketing_against_the_current_wording(meta, connection, acme):
    await with_opt_in_words(connection, acme, "START", "Yes please")
    await with_wording(connection, acme)
    await factories.insert(
        connection, "consent_wording", workspace_id=acme, business_name="Acme", text=f"{WORDING} v2"
    )
    body = payload(text("yes PLEASE.", wamid="wamid.YES"))

    first = await deliver(meta, body)
    again = await deliver(meta, body)

    assert (first.json()["consent_events"], again.json()["consent_events"]) == (1, 0)
    [event] = await consent_events(connection)
    assert (event["action"], event["purpose"], event["method"]) == (
        "grant",
        "marketing",
        "keyword_reply",
    )
    assert event["version"] == 2
    assert event["evidence"]["platform_message_id"] == "wamid.YES"
    assert (event["recorded_by_kind"], event["recorded_by"]) == ("WEBHOOK", "WhatsApp")


async def test_words_that_only_contain_an_opt_in_word_grant_nothing(meta, connection, acme):
    await with_opt_in_words(connection, acme, "START")
    await with_wording(connection, acme)

    response = await deliver(meta, payload(text("please don't start yet", wamid="wamid.NO")))

    assert response.json()["consent_events"] == 0
    assert await consent_events(connection) == []


async def test_an_opt_in_without_a_wording_keeps_the_message_and_grants_nothing(
    meta, connection, acme, caplog
):
    await with_opt_in_words(connection, acme, "START")

    with caplog.at_level(logging.WARNING, logger="masterplan.whatsapp"):
        response = await deliver(meta, payload(text("START", wamid="wamid.START")))

    assert response.status_code == 200
    assert (response.json()["stored"], response.json()["consent_events"]) == (1, 0)
    assert await connection.fetchval("SELECT content FROM chat_message") == "START"
    assert await consent_events(connection) == []
    assert "no WhatsApp consent wording" in caplog.text
    assert "START" not in caplog.text  # the reason, never the content


async def test_a_word_that_is_both_opts_out(meta, connection, acme):
    await with_opt_in_words(connection, acme, "STOP")
    await with_wording(connection, acme)

    await deliver(meta, payload(text("stop", wamid="wamid.BOTH")))

    assert {e["action"] for e in await consent_events(connection)} == {"revoke"}


async def test_a_timestamp_ahead_of_the_clock_is_recorded_as_now(meta, connection, acme):
    ahead = int(datetime.now(UTC).timestamp()) + 3_600

    response = await deliver(meta, payload(text("STOP", wamid="wamid.AHEAD", at=ahead)))

    assert (response.json()["stored"], response.json()["consent_events"]) == (1, 2)
    for event in await consent_events(connection):
        assert abs(event["captured_at"] - event["recorded_at"]) < timedelta(minutes=1)
        assert event["evidence"]["timestamp"] == str(ahead)


async def test_concurrent_deliveries_of_one_opt_out_record_it_once(meta, connection, acme):
    body = payload(text("STOP", wamid="wamid.RACE"))

    answers = await asyncio.gather(*(deliver(meta, body) for _ in range(4)))

    assert [a.status_code for a in answers] == [200] * 4
    assert sorted(a.json()["consent_events"] for a in answers) == [0, 0, 0, 2]
    assert len(await consent_events(connection)) == 2


async def test_an_opt_out_on_whatsapp_holds_the_next_follow_up_for_want_of_consent(
    meta, connection
):
    """Granted, a follow-up may go; after the lead's STOP on WhatsApp the next decision
    is refused: by the first failing rule in the order (the opt-out also disconnects
    the lead), with CONSENT_MISSING failing too and citing the revocation."""
    workspace_id = await outreach_workspace(connection, "Acme Outreach")
    await connection.execute(
        "UPDATE workspace SET consent_required = true WHERE id = $1", workspace_id
    )
    await factories.insert(
        connection,
        "whatsapp_number",
        workspace_id=workspace_id,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="15550783881",
    )
    lead_id = await london_lead(connection, workspace_id, "+60123456789")
    wording_id = await factories.consent_wording(connection, workspace_id)
    await factories.consent_grant(connection, workspace_id, lead_id, wording_id)
    granted = await engine.simulate(workspace_id, lead_id, SendKind.FOLLOWUP, AFTER_THE_STOP)
    assert granted["allow_send"], granted["summary"]

    said_at = int(datetime.now(UTC).timestamp())
    stop = payload(text("STOP", wamid="wamid.OPT_OUT", sender="60123456789", at=said_at))
    assert (await deliver(meta, stop)).status_code == 200

    held = await engine.simulate(workspace_id, lead_id, SendKind.FOLLOWUP, AFTER_THE_STOP)
    failed = [o for o in held["rule_trace"]["rules"] if o["applies"] and not o["passed"]]
    assert held["allow_send"] is False
    assert held["reason_code"] == failed[0]["rule"]
    assert held["reason_code"] in (ReasonCode.LEAD_DISCONNECTED, ReasonCode.CONSENT_MISSING)
    [consent_failed] = [o for o in failed if o["rule"] == ReasonCode.CONSENT_MISSING]
    [revocation] = await connection.fetch(
        "SELECT id FROM consent_event WHERE lead_id = $1 AND action = 'revoke' "
        "AND purpose = 'marketing'",
        lead_id,
    )
    assert f"event #{revocation['id']} is a revocation" in consent_failed["detail"]
