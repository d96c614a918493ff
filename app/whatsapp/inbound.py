"""Act on a read webhook body: one transaction, each item once, nothing lost.

Per message: the lead (found or created by its phone number, its platform user
id, or both: see ``lead_of``), its open thread (found or created), the message
(unique by the platform's id), and the lead's effects: NEW or CONTACTED becomes
ENGAGED, NO_RESPONSE goes, and a whole message (or a tapped quick reply) that is
an opt-out word adds DISCONNECT and is recorded as a marketing preference and as a
consent revocation of every purpose; one that is an opt-in word of the workspace
records a marketing consent grant against its current WhatsApp wording (none
without a wording: the log says so). The message is the consent's evidence. A
``system`` message that the person changed numbers moves the lead to the new
number. Status reports update our messages, failures with the platform's error,
and a failure's error marks the lead (unreachable, or under its marketing limit:
app/whatsapp/failures.py); the platform's marketing stop/resume is recorded (the
database holds or frees the lead's follow-ups from it).

Every person a body names is locked first (transaction-level advisory locks on
each phone number and user id, in one order), so concurrent deliveries naming
one person, by either key or both, resolve to one lead and one thread; with
them, the leads of the messages whose failure may mark them; in the same round
trip, a savepoint.

The lead statements are app/lead_writes.py's, the thread's app/conversations.py's.

What cannot be acted on (``KeptItem``s, items for a number no workspace has,
items the database refuses) is kept in ``webhook_inbox``. A refused item rolls
back alone: the body is applied again item by item, each in a savepoint.
"""

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app import conversations, lead_writes
from app.db.executor import execute_on, fetch_on, fetchval_on, transaction
from app.enums import (
    ChatRole,
    ConsentAction,
    ConsentMethod,
    ConsentPurpose,
    DeliveryStatus,
    LeadStage,
    LeadTag,
    MarketingPreference,
    PreferenceSource,
)
from app.policy import consent
from app.validation import reply_word
from app.whatsapp import failures
from app.whatsapp.payload import (
    ChangeReading,
    InboundMessage,
    KeptItem,
    Person,
    PreferenceUpdate,
    Reading,
    StatusUpdate,
    UserIdUpdate,
)

log = logging.getLogger("masterplan.whatsapp")

ROUTE = (
    "SELECT n.workspace_id, w.opt_out_words, w.opt_in_words FROM whatsapp_number n "
    "JOIN workspace w ON w.id = n.workspace_id WHERE n.phone_number_id = {}"
)
# Each key once, in one order: no two deliveries wait for each other in a cycle.
SAVEPOINT = "masterplan_webhook_items"
MESSAGE = (
    "INSERT INTO chat_message (thread_id, role, content, platform_message_id, "
    "platform_payload, created_at) VALUES ({}, {}, {}, {}, {}::jsonb, {}) "
    "ON CONFLICT (platform_message_id) DO NOTHING RETURNING id"
)
STORED = "SELECT true FROM chat_message WHERE platform_message_id = {}"
ENGAGING_STAGES = (LeadStage.NEW, LeadStage.CONTACTED)
LEAD_EFFECTS = f"""
UPDATE lead SET
    stage = CASE WHEN stage IN ({", ".join(f"'{s}'" for s in ENGAGING_STAGES)})
                 THEN '{LeadStage.ENGAGED}' ELSE stage END,
    tags = (tags - '{LeadTag.NO_RESPONSE}')
           || CASE WHEN {{}} AND NOT tags @> '["{LeadTag.DISCONNECT}"]'
                   THEN '["{LeadTag.DISCONNECT}"]'::jsonb ELSE '[]'::jsonb END
WHERE id = {{}}
"""
PREFERENCE = (
    "INSERT INTO marketing_preference_event (workspace_id, lead_id, preference, source, "
    "occurred_at, platform_message_id, platform_payload) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}::jsonb) "
    "ON CONFLICT (lead_id, source, preference, occurred_at) DO NOTHING RETURNING id"
)
DELIVERY = (
    "UPDATE chat_message SET delivery_status = {}, delivery_status_at = {}, "
    "delivery_error_code = {}, delivery_error_title = {} "
    f"WHERE platform_message_id = {{}} AND role = '{ChatRole.MODEL}' "
    "AND (delivery_status_at IS NULL OR delivery_status_at <= {}) RETURNING thread_id"
)
INBOX = (
    "INSERT INTO webhook_inbox (field, phone_number_id, workspace_id, reason, body, digest) "
    "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (digest) DO NOTHING RETURNING id"
)
# What the database refuses in an item (a value it cannot hold, a rule it breaks),
# as opposed to the database being unreachable, which fails the whole delivery.
REFUSED = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)


@dataclass
class Receipt:
    """What one body changed."""

    stored: int = 0
    duplicates: int = 0
    statuses: int = 0
    preferences: int = 0
    consent_events: int = 0
    kept: int = 0
    unknown_numbers: list[str] = field(default_factory=list)


Item = InboundMessage | StatusUpdate | PreferenceUpdate | UserIdUpdate


@dataclass(frozen=True)
class Route:
    workspace_id: int
    opt_out_words: frozenset[str]  # as ``reply_word`` reads them
    opt_in_words: frozenset[str]


def _words(stored: str) -> frozenset[str]:
    """A workspace's JSON array of words, as ``reply_word`` reads them."""
    words = (reply_word(word) for word in json.loads(stored) if isinstance(word, str))
    return frozenset(word for word in words if word)


def says_one_of(answers: tuple[str, ...], words: frozenset[str]) -> bool:
    """One of the answers is wholly one of the words (as ``reply_word`` reads both: any
    case, surrounding spaces and punctuation ignored)."""
    return any(reply_word(answer) in words for answer in answers)


async def receive(reading: Reading) -> Receipt:
    """Act on every item of a read body in the current transaction (or a new one)."""
    return (await deliver(reading)).receipt


async def deliver(reading: Reading, again: str | None = None) -> "Delivery":
    """``receive``, with what the delivery did; ``again``: an inbox item's body."""
    async with transaction() as connection:
        delivery = Delivery(connection, isolated=False, again=again)
        routed = await delivery.routed(reading)
        # One round trip: lock every person the body names (and the leads its failed
        # statuses mark), then mark where to return to if the database refuses an item
        # (a lock taken after it would be let go).
        marked = await marked_leads(connection, routed)
        await execute_on(connection, f"{lock_people(routed, marked)}SAVEPOINT {SAVEPOINT}")
        try:
            await delivery.apply(reading, routed)
        except REFUSED as error:
            # One item the database refuses: again, each item on its own.
            log.info("WhatsApp body applied again item by item: %s", error.__class__.__name__)
            await execute_on(connection, f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            delivery = Delivery(connection, isolated=True, again=again)
            await delivery.apply(reading, await delivery.routed(reading))
        return delivery


async def marked_leads(
    connection: asyncpg.Connection, routed: list[tuple[ChangeReading, Route | None]]
) -> list[tuple[int, Person]]:
    """The leads (workspace, keys) the body's failed statuses may mark: locked with
    the people it names, so a delivery never waits for a lead's row while holding
    another that the first one's holder waits for."""
    ids = [
        status.platform_message_id
        for change, route in routed
        if route is not None
        for status in change.statuses
        if status.status is DeliveryStatus.FAILED and status.error_code in failures.MARKING_ERRORS
    ]
    if not ids:
        return []
    rows = await fetch_on(connection, failures.MARKED_LEADS, ids)
    return [
        (row["workspace_id"], Person(row["external_id"], row["platform_user_id"])) for row in rows
    ]


def lock_people(
    routed: list[tuple[ChangeReading, Route | None]], leads: Sequence[tuple[int, Person]] = ()
) -> str:
    """The statement that locks every person (each key) a body names, and each of
    ``leads``, in one order."""
    keys = set()
    for workspace_id, person in leads:
        keys.update(person_keys(workspace_id, person))
    for change, route in routed:
        if route is None:
            continue
        items = [*change.messages, *change.preferences, *change.user_id_updates]
        for item in items:
            keys.update(person_keys(route.workspace_id, item.person))
        for item in [*change.messages, *change.user_id_updates]:
            moved_to = Person(item.new_phone, item.new_user_id)
            keys.update(person_keys(route.workspace_id, moved_to))
    if not keys:
        return ""
    # Lock ids are computed here: integers, so the statement carries no text from the body.
    ids = sorted(lock_id(key) for key in keys)
    listed = ",".join(map(str, ids))
    return f"SELECT pg_advisory_xact_lock(id) FROM unnest(ARRAY[{listed}]::bigint[]) AS id; "


def lock_id(name: str) -> int:
    """A person key's advisory lock id: 64 bits of its BLAKE2b hash."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


class Delivery:
    """One body's effects on one connection."""

    def __init__(
        self, connection: asyncpg.Connection, *, isolated: bool, again: str | None = None
    ) -> None:
        self.connection = connection
        self.isolated = isolated
        self.receipt = Receipt()
        self.routes: dict[str, Route | None] = {}
        self.reasons: list[str] = []
        # Reprocessing an inbox item: its body, which is not kept a second time; why
        # it still cannot be acted on is said here instead.
        self.again = again
        self.still: list[str] = []

    async def routed(self, reading: Reading) -> list[tuple[ChangeReading, Route | None]]:
        """Each change with its workspace (None: no workspace has its number)."""
        return [(change, await self.route(change.phone_number_id)) for change in reading.changes]

    async def apply(self, reading: Reading, routed: list[tuple[ChangeReading, Route | None]]):
        for change, route in routed:
            if route is None:
                reason = f"no workspace has the WhatsApp number {change.phone_number_id}"
                await self.keep(KeptItem.of(change.source, reason, change.phone_number_id))
            else:
                await self.apply_change(change, route)
        for kept in reading.kept:
            await self.keep(kept)
        if self.reasons:
            # Said once per body: the reasons, never the content.
            log.warning("WhatsApp items kept in the inbox: %s", "; ".join(self.reasons[:5]))

    async def route(self, phone_number_id: str) -> Route | None:
        if phone_number_id not in self.routes:
            rows = await fetch_on(self.connection, ROUTE, phone_number_id)
            row = rows[0] if rows else None
            self.routes[phone_number_id] = row and Route(
                row["workspace_id"], _words(row["opt_out_words"]), _words(row["opt_in_words"])
            )
            if row is None:
                self.receipt.unknown_numbers.append(phone_number_id)
        return self.routes[phone_number_id]

    async def apply_change(self, change: ChangeReading, route: Route) -> None:
        for message in change.messages:
            stored = await self.item(message, route, self.store_message(message, route))
            if stored is not None:
                self.receipt.stored += stored
                self.receipt.duplicates += not stored
        for status in change.statuses:
            updated = await self.item(status, route, self.record_status(status))
            self.receipt.statuses += updated or 0
        for preference in change.preferences:
            recorded = await self.item(preference, route, self.record_preference(preference, route))
            self.receipt.preferences += recorded or 0
        for update in change.user_id_updates:
            await self.item(update, route, self.record_user_id_update(update, route))

    async def item(self, item: Item, route: Route, work: Any) -> Any:
        """Await an item's work; isolated, in a savepoint, kept when refused."""
        if not self.isolated:
            return await work
        try:
            async with self.connection.transaction():
                return await work
        except REFUSED as error:
            reason = f"the database refused it: {error.__class__.__name__}: {error}"
            await self.keep(
                KeptItem.of(item.source, reason, item.phone_number_id), route.workspace_id
            )
            return None

    async def keep(self, kept: KeptItem, workspace_id: int | None = None) -> None:
        if workspace_id is None and kept.phone_number_id:
            route = await self.route(kept.phone_number_id)
            workspace_id = route and route.workspace_id
        reason = kept.reason.replace("\x00", "")
        if kept.body == self.again:
            self.still.append(reason)
            return
        digest = hashlib.sha256(kept.body.encode()).hexdigest()
        inserted = await fetchval_on(
            self.connection,
            INBOX,
            kept.field,
            kept.phone_number_id,
            workspace_id,
            reason,
            kept.body,
            digest,
        )
        if inserted is not None:
            self.receipt.kept += 1
            self.reasons.append(reason)

    # --- items -----------------------------------------------------------------------------

    async def store_message(self, message: InboundMessage, route: Route) -> bool | None:
        connection = self.connection
        if message.is_system:
            # The platform speaks of a person: never a reason to create a lead.
            if await fetchval_on(connection, STORED, message.platform_message_id):
                return False
            found = await find_lead(connection, route.workspace_id, message.person)
            if found is None:
                return None  # about someone this workspace does not know
            lead_id = found
        else:
            lead_id = await lead_of(connection, route.workspace_id, message.person)
        thread_id = await conversations.active_thread(connection, route.workspace_id, lead_id)
        role = ChatRole.SYSTEM if message.is_system else ChatRole.USER
        message_id = await fetchval_on(
            connection,
            MESSAGE,
            thread_id,
            role.value,
            message.content,
            message.platform_message_id,
            json.dumps(message.raw),
            message.sent_at,
        )
        if message_id is None:
            return False  # delivered before
        await self.move_keys(message, route, lead_id)
        if message.is_system:
            return True  # the platform wrote it, not the lead
        opted_out = says_one_of(message.answers, route.opt_out_words)
        await execute_on(connection, LEAD_EFFECTS, opted_out, lead_id)
        if opted_out:
            source = PreferenceSource.QUICK_REPLY if message.tapped else PreferenceSource.TYPED_WORD
            await fetchval_on(
                connection,
                PREFERENCE,
                route.workspace_id,
                lead_id,
                MarketingPreference.STOP.value,
                source.value,
                message.sent_at,
                message.platform_message_id,
                json.dumps(message.raw),
            )
            await self.record_consent(message, route, lead_id, ConsentAction.REVOKE)
        elif says_one_of(message.answers, route.opt_in_words):
            await self.record_consent(message, route, lead_id, ConsentAction.GRANT)
        return True

    async def record_consent(
        self, message: InboundMessage, route: Route, lead_id: int, action: ConsentAction
    ) -> None:
        """The lead's keyword reply as consent events, the message as their evidence: a
        revocation of every purpose, or a marketing grant against the workspace's
        current WhatsApp wording (none without one: the log says so)."""
        wording = None
        if action is ConsentAction.GRANT:
            wording = await consent.current_wording(route.workspace_id)
            if wording is None:
                log.warning(
                    "WhatsApp opt-in word of lead %s recorded no consent: workspace %s has "
                    "no WhatsApp consent wording",
                    lead_id,
                    route.workspace_id,
                )
                return
        purposes = list(ConsentPurpose) if wording is None else [ConsentPurpose.MARKETING]
        # Said when the message was sent; a timestamp ahead of our clock is read as now.
        said_at = min(message.sent_at, datetime.now(UTC))
        for purpose in purposes:
            await consent.record_event(
                route.workspace_id,
                lead_id,
                action,
                purpose,
                said_at,
                wording_version=wording and wording["version"],
                method=ConsentMethod.KEYWORD_REPLY,
                evidence=message.consent_evidence(),
            )
            self.receipt.consent_events += 1

    async def move_keys(self, item: "Item", route: Route, lead_id: int) -> None:
        """The lead takes the person's new number and user id, unless another lead
        has one of them: then an operator decides, from the inbox."""
        moves = [
            (lead_writes.move_number, item.new_phone),
            (lead_writes.move_user_id, item.new_user_id),
        ]
        for move, key in moves:
            if key is None:
                continue
            holder = await lead_writes.lead_holding(self.connection, route.workspace_id, key)
            if holder is None:
                await move(self.connection, lead_id, key)
            elif holder != lead_id:
                reason = (
                    f"lead {lead_id} is now {key}, which lead {holder} already has: "
                    "an operator decides which lead to keep"
                )
                kept = KeptItem.of(item.source, reason, item.phone_number_id)
                await self.keep(kept, route.workspace_id)

    async def record_user_id_update(self, update: UserIdUpdate, route: Route) -> int:
        lead_id = await find_lead(self.connection, route.workspace_id, update.person)
        if lead_id is None:
            return 0  # nobody this workspace knows
        await self.move_keys(update, route, lead_id)
        return 1

    async def record_status(self, status: StatusUpdate) -> int:
        return await record_status(self.connection, status)

    async def record_preference(self, update: PreferenceUpdate, route: Route) -> int:
        lead_id = await lead_of(self.connection, route.workspace_id, update.person)
        recorded = await fetchval_on(
            self.connection,
            PREFERENCE,
            route.workspace_id,
            lead_id,
            update.preference.value,
            PreferenceSource.PLATFORM_SETTING.value,
            update.at,
            None,
            json.dumps(update.raw),
        )
        return int(recorded is not None)


async def record_status(connection: asyncpg.Connection, status: StatusUpdate) -> int:
    """The message's new status (none when it has a later one: 0); a failure's error
    then marks the lead (app/whatsapp/failures.py)."""
    updated = await fetch_on(
        connection,
        DELIVERY,
        status.status.value,
        status.at,
        status.error_code,
        status.error_title,
        status.platform_message_id,
        status.at,
    )
    failed = status.status is DeliveryStatus.FAILED
    effect = failures.lead_effect(status.error_code, status.at) if failed else None
    if effect is not None and updated:
        statement, at = effect
        await execute_on(connection, statement, at, updated[0]["thread_id"])
    return len(updated)


def person_keys(workspace_id: int, person: Person) -> list[str]:
    """The advisory lock names of a person's keys in a workspace."""
    keys = [f"lead:{workspace_id}:phone:{person.phone}"] if person.phone else []
    return keys + ([f"lead:{workspace_id}:user:{person.user_id}"] if person.user_id else [])


async def lead_of(connection: asyncpg.Connection, workspace_id: int, person: Person) -> int:
    """The person's lead, created when there is none; its keys are locked already.

    A phone number alone finds the lead whose external_id it is. A user id finds the
    lead that has it (or whose external_id it is); when a phone number comes with
    it, the two are linked: the lead keyed by its user id takes the number as its
    external_id (unless another lead has it), the lead with the number takes the
    user id. Two leads already holding one key each stay two (the user id's lead
    is used): decisions are audit rows, so leads are never merged.
    """
    if person.user_id is None:
        return await lead_writes.lead_by_phone(connection, workspace_id, person.phone, person.name)
    found = await find_lead(connection, workspace_id, person, link=True)
    if found is not None:
        return found
    external_id = person.phone or person.user_id
    return await lead_writes.new_lead(
        connection, workspace_id, external_id, person.user_id, person.name
    )


async def find_lead(
    connection: asyncpg.Connection, workspace_id: int, person: Person, *, link: bool = False
) -> int | None:
    """The person's lead, or None; ``link``: it takes the keys it lacks (``lead_of``)."""
    user_id = person.user_id
    keys = [key for key in (person.phone, user_id) if key]
    rows = await lead_writes.leads_of_person(connection, workspace_id, keys, user_id)
    by_user = next((r for r in rows if user_id and r["platform_user_id"] == user_id), None) or next(
        (r for r in rows if user_id and r["external_id"] == user_id), None
    )
    by_phone = next((r for r in rows if person.phone and r["external_id"] == person.phone), None)
    lead = by_user or by_phone
    if lead is None or not link:
        return lead and lead["id"]
    if by_user is not None and by_phone is not None and by_user["id"] != by_phone["id"]:
        log.warning(
            "leads %s and %s are one WhatsApp user: kept apart", by_user["id"], by_phone["id"]
        )
    takes_number = person.phone if by_phone is None and lead["external_id"] == user_id else None
    await lead_writes.link_lead(connection, lead["id"], user_id, takes_number, person.name)
    return lead["id"]
