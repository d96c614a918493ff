"""The consent ledger: what each lead agreed to be sent, with its proof.

A workspace keeps numbered versions of the exact words it shows a person when asking
for consent (``consent_wording``: the database numbers them and hashes the text). Each
grant or revocation is an append-only ``consent_event`` of one lead for one purpose:
for a grant, the wording version shown and how the person said yes; the evidence;
when the person said it (``captured_at``) and when and by whom it was recorded (set
by the database). A lead's consent for a purpose is its latest event by
``captured_at`` (then id): a grant recorded late for an earlier moment does not undo
a revocation the person made after it.

The policy engine reads the latest ``marketing`` event (rule CONSENT_MISSING,
app/policy/rules.py) in its loading statement, due follow-ups are claimed only with
it where the workspace requires consent, and the overview counts those held: all
three through ``latest_marketing``.
"""

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.db.executor import fetch, transaction
from app.enums import ConsentAction, ConsentChannel, ConsentMethod, ConsentPurpose
from app.errors import InvalidValue, NotFound, RuleBroken
from app.pagination import NEWEST

WORDING_COLUMNS = "id, workspace_id, version, channel, business_name, text, sha256, created_at"
EVENT_COLUMNS = (
    "e.id, e.workspace_id, e.lead_id, e.action, e.purpose, e.channel, e.wording_id, "
    "w.version AS wording_version, w.sha256 AS wording_sha256, e.method, e.evidence, "
    "e.captured_at, e.recorded_at, e.recorded_by_kind, e.recorded_by"
)
EVENT_FROM = "consent_event AS e LEFT JOIN consent_wording AS w ON w.id = e.wording_id"

# The ledger's rules only the database states, as the field each is about and why.
FIELD_RULES = {
    "consent_wording_names_business": (
        "text",
        "must name the business (business_name): WhatsApp asks that an opt-in names it",
    ),
    "consent_wording_text_not_blank": ("text", "must not be blank"),
    "consent_wording_business_name_not_blank": ("business_name", "must not be blank"),
    "consent_event_captured_not_future": (
        "captured_at",
        "must not be later than now (clocks may differ by 5 minutes)",
    ),
}


@contextlib.contextmanager
def fields_named() -> Iterator[None]:
    """A database check of ``FIELD_RULES`` refused inside: RuleBroken, with the field."""
    try:
        yield
    except asyncpg.CheckViolationError as error:
        rule = FIELD_RULES.get(error.constraint_name or "")
        if rule is None:
            raise
        raise RuleBroken(*rule) from None


async def create_wording(
    workspace_id: int,
    business_name: str,
    text: str,
    channel: ConsentChannel = ConsentChannel.WHATSAPP,
) -> dict[str, Any]:
    """A new wording version; the database numbers it and hashes its text. Refused
    (RuleBroken, with the field): a blank text or name, a text that does not name
    the business."""
    with fields_named():
        rows = await _insert_wording(workspace_id, business_name, text, channel)
    if not rows:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return rows[0]


async def _insert_wording(
    workspace_id: int, business_name: str, text: str, channel: ConsentChannel
) -> list[dict[str, Any]]:
    return await fetch(
        "INSERT INTO consent_wording (workspace_id, channel, business_name, text) "
        f"SELECT id, {{}}, {{}}, {{}} FROM workspace WHERE id = {{}} RETURNING {WORDING_COLUMNS}",
        ConsentChannel(channel).value,
        business_name,
        text,
        workspace_id,
    )


async def wordings(workspace_id: int) -> list[dict[str, Any]]:
    """The workspace's wording versions, newest first."""
    return await fetch(
        f"SELECT {WORDING_COLUMNS} FROM consent_wording WHERE workspace_id = {{}} "
        "ORDER BY version DESC",
        workspace_id,
    )


async def wording(workspace_id: int, version: int) -> dict[str, Any]:
    """One wording version of the workspace; NotFound otherwise."""
    rows = await fetch(
        f"SELECT {WORDING_COLUMNS} FROM consent_wording WHERE workspace_id = {{}} "
        "AND version = {}",
        workspace_id,
        version,
    )
    if not rows:
        raise NotFound(f"consent wording version {version} does not exist")
    return rows[0]


async def current_wording(
    workspace_id: int, channel: ConsentChannel = ConsentChannel.WHATSAPP
) -> dict[str, Any] | None:
    """The workspace's latest wording version for ``channel``, if it has one."""
    rows = await fetch(
        f"SELECT {WORDING_COLUMNS} FROM consent_wording WHERE workspace_id = {{}} "
        "AND channel = {} ORDER BY version DESC LIMIT 1",
        workspace_id,
        ConsentChannel(channel).value,
    )
    return rows[0] if rows else None


async def record_event(
    workspace_id: int,
    lead_id: int,
    action: ConsentAction,
    purpose: ConsentPurpose,
    captured_at: datetime,
    *,
    wording_version: int | None = None,
    method: ConsentMethod | None = None,
    evidence: dict[str, Any] | None = None,
    channel: ConsentChannel = ConsentChannel.WHATSAPP,
) -> dict[str, Any]:
    """Append a grant or a revocation of ``lead_id``'s consent for ``purpose``.

    A grant names the wording version (of this workspace) the person was shown and
    how they said yes. Refused with nothing stored: a lead not of this workspace
    (NotFound), a grant without wording or method (InvalidValue), a wording version
    not of this workspace or a ``captured_at`` ahead of the database clock
    (RuleBroken)."""
    action = ConsentAction(action)
    captured_at = utc_instant("captured_at", captured_at)
    if action is ConsentAction.GRANT and wording_version is None:
        raise InvalidValue("wording_version", "a grant must name the wording the person was shown")
    if action is ConsentAction.GRANT and method is None:
        raise InvalidValue("method", "a grant must say how the person consented")
    if action is ConsentAction.REVOKE and wording_version is not None:
        raise InvalidValue("wording_version", "a revocation cites no wording")
    async with transaction():
        with fields_named():
            return await _insert_event(
                workspace_id,
                lead_id,
                action,
                ConsentPurpose(purpose),
                captured_at,
                wording_version,
                None if method is None else ConsentMethod(method),
                evidence or {},
                ConsentChannel(channel),
            )


def utc_instant(field: str, value: datetime) -> datetime:
    """``value`` in UTC; refused when it has no offset or falls outside years 1-9999 in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, "must be an instant with its offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise RuleBroken(field, "is out of range: years 1 to 9999 in UTC") from None


async def _insert_event(
    workspace_id: int,
    lead_id: int,
    action: ConsentAction,
    purpose: ConsentPurpose,
    captured_at: datetime,
    wording_version: int | None,
    method: ConsentMethod | None,
    evidence: dict[str, Any],
    channel: ConsentChannel,
) -> dict[str, Any]:
    if not await fetch(
        "SELECT 1 FROM lead WHERE id = {} AND workspace_id = {} FOR KEY SHARE",
        lead_id,
        workspace_id,
    ):
        raise NotFound(f"lead {lead_id} does not exist")
    wording_id = None
    if wording_version is not None:
        found = await fetch(
            "SELECT id FROM consent_wording WHERE workspace_id = {} AND version = {}",
            workspace_id,
            wording_version,
        )
        if not found:
            # The request's target (the lead) exists: a body naming no wording of the
            # workspace breaks a rule across rows (409 with the field), not a 404 that
            # would say the lead is missing.
            raise RuleBroken(
                "wording_version", f"consent wording version {wording_version} does not exist"
            )
        wording_id = found[0]["id"]
    [row] = await fetch(
        "INSERT INTO consent_event (workspace_id, lead_id, action, purpose, channel, "
        "wording_id, method, evidence, captured_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}::jsonb, {}) RETURNING id",
        workspace_id,
        lead_id,
        action.value,
        purpose.value,
        channel.value,
        wording_id,
        None if method is None else method.value,
        json.dumps(evidence),
        captured_at,
    )
    return await event(workspace_id, row["id"])


async def event(workspace_id: int, event_id: int) -> dict[str, Any]:
    rows = await fetch(
        f"SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE e.id = {{}} AND e.workspace_id = {{}}",
        event_id,
        workspace_id,
    )
    if not rows:
        raise NotFound(f"consent event {event_id} does not exist")
    return rows[0]


# A lead's latest event for a purpose: one lookup on consent_event_lead_latest.
LATEST_EVENT = (
    f"SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} "
    "WHERE e.lead_id = {} AND e.workspace_id = {} AND e.purpose = {} "
    "ORDER BY e.captured_at DESC, e.id DESC LIMIT 1"
)


def latest_marketing(select: str, lead_id: str, at: str) -> str:
    """SQL: ``select`` of the latest marketing event ``e`` of the lead ``lead_id`` (an SQL
    expression naming its table: a bare ``id`` would be the event's) recorded by ``at``,
    "latest" as above: one lookup on consent_event_lead_latest."""
    return (
        f"SELECT {select} FROM consent_event AS e WHERE e.lead_id = {lead_id} "
        f"AND e.purpose = '{ConsentPurpose.MARKETING.value}' AND e.recorded_at <= {at} "
        "ORDER BY e.captured_at DESC, e.id DESC LIMIT 1"
    )


# For the policy engine's loading statement (a LATERAL join on its lead ``l`` and its
# ``clock``): the event as rules.ConsentRecord reads it, with its wording's version and
# hash looked up by key for the one event found (a join here let the planner read the
# wording table in order for every lead).
LATEST_MARKETING_CONSENT = latest_marketing(
    "jsonb_build_object('event_id', e.id, 'action', e.action, 'captured_at', e.captured_at) "
    "|| coalesce((SELECT jsonb_build_object('wording_version', w.version, "
    "'wording_sha256', w.sha256) FROM consent_wording AS w WHERE w.id = e.wording_id), "
    "jsonb_build_object()) AS marketing_consent",
    "l.id",
    "clock.at",
)


def marketing_consent_missing(lead_id: str, at: str) -> str:
    """SQL, true when the lead's latest marketing event recorded by ``at`` is not a
    grant: where a workspace requires consent, its follow-ups are held (CONSENT_MISSING)."""
    grant = ConsentAction.GRANT.value
    return f"({latest_marketing('e.action', lead_id, at)}) IS DISTINCT FROM '{grant}'"


async def latest_event(
    workspace_id: int, lead_id: int, purpose: ConsentPurpose
) -> dict[str, Any] | None:
    """The event that stands for the lead's consent for ``purpose``, if any."""
    rows = await fetch(LATEST_EVENT, lead_id, workspace_id, ConsentPurpose(purpose).value)
    return rows[0] if rows else None


async def consent_state(workspace_id: int, lead_id: int) -> dict[str, dict[str, Any] | None]:
    """Per purpose, the latest event (None: nothing recorded)."""
    return {
        purpose.value: await latest_event(workspace_id, lead_id, purpose)
        for purpose in ConsentPurpose
    }


EVENT_PAGE = (
    f"SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} "
    "WHERE e.lead_id = {} AND e.workspace_id = {} AND (e.captured_at, e.id) < ({}, {}) "
    "ORDER BY e.captured_at DESC, e.id DESC LIMIT {}"
)


async def history(
    workspace_id: int,
    lead_id: int,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """A lead's consent events, newest (by when said) first, older than the cursor."""
    captured_at, event_id = before or NEWEST
    return await fetch(EVENT_PAGE, lead_id, workspace_id, captured_at, event_id, limit)


# Imported grants, set-based: one statement for a whole import. A grant of a lead for
# the same wording and moment, imported before, is not recorded again
# (consent_event_imported_once).
IMPORT_GRANTS = f"""
INSERT INTO consent_event (workspace_id, lead_id, action, purpose, channel, wording_id, method,
                           evidence, captured_at)
SELECT wording.workspace_id, item.lead_id, '{ConsentAction.GRANT.value}', {{}}, wording.channel,
       wording.id, '{ConsentMethod.IMPORT.value}', item.evidence::jsonb, item.captured_at
  FROM unnest({{}}::integer[], {{}}::timestamptz[], {{}}::text[])
       AS item (lead_id, captured_at, evidence)
  JOIN consent_wording AS wording ON wording.id = {{}} AND wording.workspace_id = {{}}
ON CONFLICT (lead_id, purpose, wording_id, captured_at)
   WHERE method = '{ConsentMethod.IMPORT.value}' DO NOTHING
RETURNING lead_id
"""


async def record_import_grants(
    workspace_id: int,
    wording: dict[str, Any],
    grants: dict[int, tuple[datetime, dict[str, Any]]],
    purpose: ConsentPurpose = ConsentPurpose.MARKETING,
) -> set[int]:
    """Append a grant (method ``import``, ``wording``) for each of the workspace's leads
    in ``grants`` (lead id -> captured_at, evidence), in the caller's transaction; the
    lead ids whose grant is new (one imported before is kept). A lead of another
    workspace is refused by the database (the events' tenant foreign key)."""
    lead_ids = list(grants)
    rows = await fetch(
        IMPORT_GRANTS,
        ConsentPurpose(purpose).value,
        lead_ids,
        [grants[lead_id][0] for lead_id in lead_ids],
        [json.dumps(grants[lead_id][1]) for lead_id in lead_ids],
        wording["id"],
        workspace_id,
    )
    return {row["lead_id"] for row in rows}
