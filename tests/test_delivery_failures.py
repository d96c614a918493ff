"""Delivery failures feed the policy: failed status webhooks shaped like the platform's
(``statuses[]`` with ``status: failed`` and ``errors[]``), posted signed, mark the lead
of the failed message (131026 unreachable, 131049 under its marketing limit) or are
only counted (131047, 130429, 131056, any other code). Every effect is read back:
the lead's columns, the change log, the engine's next decision; retried and
reordered statuses apply their effect once."""

import asyncio
import itertools
from datetime import datetime, timedelta

import asyncpg
import pytest

from app.enums import PlatformError, SendKind
from app.policy import engine
from app.whatsapp.failures import UNREACHABLE_LEAD, failure_counts
from app.whatsapp.inbound import lock_id
from tests import factories
from tests.database_setup import until_waiting_for_locks
from tests.policy_setup import WEDNESDAY_NOON_LONDON, london_lead
from tests.test_whatsapp import deliver
from tests.test_whatsapp_platform import acme, envelope, messages_value, meta, sent, whatsapp_on

__all__ = ["acme", "meta", "whatsapp_on"]  # fixtures

E164 = "+447700900001"
PHONE = E164[1:]
WEBHOOK = "/api/v1/integrations/whatsapp/webhook"
# Failures an hour before the engine is asked, inside the lead's send window.
FAILED_AT = WEDNESDAY_NOON_LONDON - timedelta(hours=2)
ASKED_AT = WEDNESDAY_NOON_LONDON

TITLES = {
    131026: "Message undeliverable",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131047: "Re-engagement message",
    130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131000: "Something went wrong",
}


def unix(at: datetime) -> str:
    return str(int(at.timestamp()))


def status(wamid: str, state: str, at: datetime, code: int | None = None) -> dict:
    """A status report as the platform publishes it; a failure carries ``errors[]``."""
    report = {
        "id": wamid,
        "status": state,
        "timestamp": unix(at),
        "recipient_id": PHONE,
    }
    if code is not None:
        report["errors"] = [
            {
                "code": code,
                "title": TITLES[code],
                "message": TITLES[code],
                "error_data": {"details": "The message could not be delivered."},
                "href": "/documentation/business-messaging/whatsapp/support/error-codes",
            }
        ]
    return envelope("messages", messages_value(statuses=[report]))


def failed(wamid: str, code: int, at: datetime = FAILED_AT) -> dict:
    return status(wamid, "failed", at, code)


def written(wamid: str, at: datetime, phone: str = PHONE) -> dict:
    """The lead writes to us at ``at``."""
    item = {
        "from": phone,
        "id": wamid,
        "timestamp": unix(at),
        "type": "text",
        "text": {"body": "Yes, still interested"},
    }
    contacts = [{"profile": {"name": "Siti"}, "wa_id": phone}]
    return envelope("messages", messages_value(contacts=contacts, messages=[item]))


async def post(meta, document: dict) -> dict:
    response = await deliver(meta, document)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def lead(connection, acme) -> tuple[int, int]:
    """A London lead we sent three messages to (wamid.A, wamid.B, wamid.C); its id and
    its thread's."""
    lead_id = await london_lead(connection, acme, E164)
    thread_id = await factories.thread(connection, acme, lead_id)
    for wamid in ("wamid.A", "wamid.B", "wamid.C"):
        await sent(connection, acme, lead_id, thread_id, wamid)
    return lead_id, thread_id


async def marks(connection, lead_id: int) -> dict:
    row = await connection.fetchrow(
        "SELECT stage, tags, unreachable_since, marketing_limited_until, next_followup_at, "
        "last_inbound_at FROM lead WHERE id = $1",
        lead_id,
    )
    return dict(row)


async def lead_changes(connection, lead_id: int) -> list[dict]:
    rows = await connection.fetch(
        "SELECT actor_kind, actor, action, changes::text AS changes FROM change_log "
        "WHERE table_name = 'lead' AND row_id = $1 AND operation = 'EDIT' ORDER BY id",
        lead_id,
    )
    return [dict(row) for row in rows]


async def decide(acme: int, lead_id: int, at: datetime = ASKED_AT) -> dict:
    return await engine.simulate(acme, lead_id, SendKind.FOLLOWUP, at)


# --- 131026: unreachable until the lead writes ---------------------------------------------


async def test_undeliverable_marks_the_lead_unreachable_until_it_writes(
    meta, connection, acme, lead
):
    lead_id, _ = lead
    assert (await decide(acme, lead_id))["allow_send"] is True
    receipt = await post(meta, failed("wamid.A", PlatformError.UNDELIVERABLE))
    assert receipt["statuses"] == 1

    assert (await marks(connection, lead_id))["unreachable_since"] == FAILED_AT
    [change] = await lead_changes(connection, lead_id)
    assert (change["actor_kind"], change["actor"], change["action"]) == (
        "WEBHOOK",
        "WhatsApp",
        f"POST {WEBHOOK}",
    )
    assert "unreachable_since" in change["changes"]
    message = await connection.fetchrow(
        "SELECT delivery_status, delivery_error_code, delivery_error_title FROM chat_message "
        "WHERE platform_message_id = 'wamid.A'"
    )
    assert tuple(message) == ("failed", 131026, TITLES[131026])
    held = await decide(acme, lead_id)
    assert (held["allow_send"], held["reason_code"]) == (False, "LEAD_UNREACHABLE")
    # Days later, still held: only the lead's own message releases it.
    assert (await decide(acme, lead_id, ASKED_AT + timedelta(days=5)))[
        "reason_code"
    ] == "LEAD_UNREACHABLE"

    await post(meta, written("wamid.IN1", FAILED_AT + timedelta(minutes=30)))
    released = await decide(acme, lead_id)
    assert released["allow_send"] is True, released["summary"]
    assert (
        await connection.fetchval(
            f"SELECT count(*) FROM lead WHERE id = $1 AND {UNREACHABLE_LEAD}", lead_id
        )
        == 0
    )


async def test_a_retried_failure_changes_nothing_more(meta, connection, acme, lead):
    lead_id, _ = lead
    document = failed("wamid.A", PlatformError.UNDELIVERABLE)
    await post(meta, document)
    after_first = (await marks(connection, lead_id), await lead_changes(connection, lead_id))
    log_size = await connection.fetchval("SELECT count(*) FROM change_log")
    for _ in range(3):
        await post(meta, document)
    assert (await marks(connection, lead_id), await lead_changes(connection, lead_id)) == (
        after_first
    )
    assert await connection.fetchval("SELECT count(*) FROM change_log") == log_size


async def test_a_failure_after_a_later_read_is_not_applied_and_marks_nothing(
    meta, connection, acme, lead
):
    lead_id, _ = lead
    before = await marks(connection, lead_id)
    await post(meta, status("wamid.A", "read", FAILED_AT + timedelta(minutes=5)))
    for code in (PlatformError.UNDELIVERABLE, PlatformError.USER_MARKETING_LIMIT):
        receipt = await post(meta, failed("wamid.A", code))
        assert receipt["statuses"] == 0
    assert await marks(connection, lead_id) == before
    assert await lead_changes(connection, lead_id) == []
    row = await connection.fetchrow(
        "SELECT delivery_status, delivery_error_code FROM chat_message "
        "WHERE platform_message_id = 'wamid.A'"
    )
    assert tuple(row) == ("read", None)
    assert (await decide(acme, lead_id))["allow_send"] is True


def held_by(failures: list[datetime], wrote: datetime | None) -> datetime | None:
    """The oracle, from the issue: a 131026 holds the lead until it writes again. The
    failure it has not answered that holds it longest (the latest), or None."""
    unanswered = [at for at in failures if wrote is None or at >= wrote]
    return max(unanswered, default=None)


async def test_failures_and_the_leads_message_in_every_order_hold_it_as_the_oracle_says(
    meta, connection, acme
):
    """Three undeliverable reports and one message from the lead, delivered in each of
    the 24 orders (one lead per order): the lead is held, and since when, as the
    oracle says, whatever the order."""
    times = {
        "wamid.A": FAILED_AT - timedelta(hours=3),
        "wamid.B": FAILED_AT - timedelta(hours=1),
        "wamid.C": FAILED_AT,
    }
    wrote = FAILED_AT - timedelta(hours=2)  # between A and B
    expected = held_by(list(times.values()), wrote)
    assert expected == times["wamid.C"]
    events = [*times, "inbound"]
    for n, order in enumerate(itertools.permutations(events)):
        number = f"+4477009{n:05d}"
        lead_id = await london_lead(connection, acme, number)
        thread_id = await factories.thread(connection, acme, lead_id)
        for wamid in times:
            await sent(connection, acme, lead_id, thread_id, f"{wamid}.{n}")
        for event in order:
            if event == "inbound":
                await post(meta, written(f"wamid.IN.{n}", wrote, number[1:]))
            else:
                await post(meta, failed(f"{event}.{n}", 131026, times[event]))
        row = await marks(connection, lead_id)
        since, last = row["unreachable_since"], row["last_inbound_at"]
        effective = since if since is not None and (last is None or last <= since) else None
        assert effective == expected, order
        verdict = await decide(acme, lead_id)
        assert verdict["reason_code"] == "LEAD_UNREACHABLE", (order, verdict["summary"])


async def test_a_failure_after_the_lead_wrote_again_marks_it_anew(meta, connection, acme, lead):
    lead_id, _ = lead
    await post(meta, failed("wamid.A", 131026, FAILED_AT - timedelta(hours=5)))
    await post(meta, written("wamid.IN1", FAILED_AT - timedelta(hours=4)))
    assert (await decide(acme, lead_id))["allow_send"] is True
    await post(meta, failed("wamid.B", 131026, FAILED_AT))
    assert (await marks(connection, lead_id))["unreachable_since"] == FAILED_AT
    assert (await decide(acme, lead_id))["reason_code"] == "LEAD_UNREACHABLE"
    # The older report again (retried for days) changes nothing.
    await post(meta, failed("wamid.A", 131026, FAILED_AT - timedelta(hours=5)))
    assert (await marks(connection, lead_id))["unreachable_since"] == FAILED_AT


# --- 131049: the per-user marketing limit ------------------------------------------------------


async def test_the_marketing_limit_defers_the_lead_24_hours(meta, connection, acme, lead):
    lead_id, _ = lead
    scheduled = FAILED_AT + timedelta(hours=1)
    await connection.execute(
        "UPDATE lead SET next_followup_at = $1 WHERE id = $2", scheduled, lead_id
    )
    await post(meta, failed("wamid.A", PlatformError.USER_MARKETING_LIMIT))

    until = FAILED_AT + timedelta(hours=24)
    row = await marks(connection, lead_id)
    assert (row["marketing_limited_until"], row["next_followup_at"]) == (until, until)
    assert row["unreachable_since"] is None
    scheduling, change = await lead_changes(connection, lead_id)
    assert (scheduling["actor_kind"], scheduling["action"]) == ("DATABASE", "direct SQL")
    assert (change["actor_kind"], change["action"]) == ("WEBHOOK", f"POST {WEBHOOK}")
    assert "marketing_limited_until" in change["changes"]
    assert "next_followup_at" in change["changes"]

    held = await decide(acme, lead_id)
    assert (held["allow_send"], held["reason_code"]) == (False, "USER_MARKETING_LIMIT")
    allowed_at = held["next_allowed_at"]
    assert allowed_at >= until
    # The engine's own promise: allowed at next_allowed_at, and not a minute before.
    assert (await decide(acme, lead_id, allowed_at))["allow_send"] is True
    earlier = await decide(acme, lead_id, allowed_at - timedelta(minutes=1))
    assert earlier["allow_send"] is False


async def test_marketing_limit_marks_never_move_back_and_apply_once(meta, connection, acme, lead):
    lead_id, _ = lead
    newer = FAILED_AT
    await post(meta, failed("wamid.B", 131049, newer))
    after_newer = await marks(connection, lead_id)
    changes = await lead_changes(connection, lead_id)
    assert after_newer["marketing_limited_until"] == newer + timedelta(hours=24)
    assert after_newer["next_followup_at"] is None  # nothing was scheduled: nothing is
    # An older failure of another message, then the newer one retried.
    await post(meta, failed("wamid.A", 131049, newer - timedelta(hours=6)))
    await post(meta, failed("wamid.B", 131049, newer))
    assert await marks(connection, lead_id) == after_newer
    assert await lead_changes(connection, lead_id) == changes
    # A later one moves the limit on.
    await post(meta, failed("wamid.C", 131049, newer + timedelta(hours=3)))
    later = await marks(connection, lead_id)
    assert later["marketing_limited_until"] == newer + timedelta(hours=27)


async def test_a_scheduled_follow_up_after_the_limit_stays(meta, connection, acme, lead):
    lead_id, _ = lead
    scheduled = FAILED_AT + timedelta(days=3)
    await connection.execute(
        "UPDATE lead SET next_followup_at = $1 WHERE id = $2", scheduled, lead_id
    )
    await post(meta, failed("wamid.A", 131049))
    assert (await marks(connection, lead_id))["next_followup_at"] == scheduled


# --- counted, never held against the lead ---------------------------------------------------------


@pytest.mark.parametrize("code", [131047, 130429, 131056, 131000])
async def test_other_failures_are_kept_and_counted_and_leave_the_lead_alone(
    meta, connection, acme, lead, code
):
    lead_id, _ = lead
    before = await marks(connection, lead_id)
    await post(meta, failed("wamid.A", code))
    await post(meta, failed("wamid.B", code, FAILED_AT + timedelta(minutes=1)))
    assert await marks(connection, lead_id) == before
    assert await lead_changes(connection, lead_id) == []
    row = await connection.fetchrow(
        "SELECT delivery_error_code, delivery_error_title FROM chat_message "
        "WHERE platform_message_id = 'wamid.A'"
    )
    assert tuple(row) == (code, TITLES[code])
    assert (await decide(acme, lead_id))["allow_send"] is True
    week = (FAILED_AT - timedelta(days=7), FAILED_AT + timedelta(hours=1))
    assert await failure_counts(acme, *week) == {code: 2}


async def test_failure_counts_are_per_workspace_and_period(meta, connection, acme, lead):
    await post(meta, failed("wamid.A", 130429, FAILED_AT - timedelta(days=8)))
    await post(meta, failed("wamid.B", 131056))
    await post(meta, failed("wamid.C", 131026))
    other = await factories.workspace(connection, "Other")
    week = (FAILED_AT - timedelta(days=7), FAILED_AT + timedelta(seconds=1))
    assert await failure_counts(acme, *week) == {131056: 1, 131026: 1}
    assert await failure_counts(acme, FAILED_AT - timedelta(days=9), week[1]) == {
        130429: 1,
        131056: 1,
        131026: 1,
    }
    assert await failure_counts(other, *week) == {}


# --- locking ------------------------------------------------------------------------------------


async def test_a_marking_failure_waits_for_the_leads_lock(
    meta, connection, fresh_database, acme, lead
):
    """The delivery takes the lead's lock (the one its inbound messages take) before
    it writes the lead, so it never holds one lead's row while waiting for another's."""
    lead_id, _ = lead
    blocker = await asyncpg.connect(fresh_database)
    key = f"lead:{acme}:phone:{E164}"
    await blocker.execute("SELECT pg_advisory_lock($1)", lock_id(key))
    delivery = asyncio.create_task(post(meta, failed("wamid.A", 131026)))
    try:
        await until_waiting_for_locks(connection, 1)
        assert (await marks(connection, lead_id))["unreachable_since"] is None
    finally:
        await blocker.execute("SELECT pg_advisory_unlock($1)", lock_id(key))
        await blocker.close()
    await delivery
    assert (await marks(connection, lead_id))["unreachable_since"] == FAILED_AT
