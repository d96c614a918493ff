"""Leads: the actions an operator or the outreach engine takes (suppress, take over,
release), reading and writing them for the API, and claiming due follow-ups.

Each is one conditional UPDATE scoped to the workspace, so concurrent callers
cannot interleave: the row's state decides, not the caller's earlier read.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.db.executor import fetch
from app.enums import FOLLOW_UP_STAGES, LeadStage
from app.errors import Conflict, InvalidValue, NotFound
from app.lead_writes import (
    LEAD_COLUMN_NAMES,
    LEAD_COLUMNS,
    QUALIFIED_LEAD_COLUMNS,
    WRITABLE_FIELDS,
    create_statement,
    placeholder,
    upsert_statement,
)
from app.pagination import PageFilter
from app.phone_numbers import normalized_external_id
from app.policy.consent import marketing_consent_missing
from app.tables import Lead
from app.validation import lead_tags, timezone_name


@dataclass(frozen=True)
class LeadStageChange:
    """A lead (the whole row, as it is now) and its stage before an action."""

    lead: dict[str, Any]
    stage_before: LeadStage

    @property
    def lead_id(self) -> int:
        return self.lead["id"]

    @property
    def stage_after(self) -> LeadStage:
        return LeadStage(self.lead["stage"])

    @property
    def changed(self) -> bool:
        return self.stage_before != self.stage_after

    @property
    def message(self) -> str:
        external_id = self.lead["external_id"]
        if not self.changed:
            return f"Lead {external_id} was already {self.stage_after}; nothing changed."
        return f"Lead {external_id}: {self.stage_before} -> {self.stage_after}."


async def workspace_of_lead(lead_id: int) -> int:
    """The workspace a lead belongs to."""
    row = await Lead.select(Lead.workspace_id).where(Lead.id == lead_id).first()
    if row is None:
        raise NotFound(f"lead #{lead_id} does not exist")
    return row["workspace_id"]


async def _current(workspace_id: int, lead_id: int) -> dict:
    rows = await fetch(LEAD_BY_ID, lead_id, workspace_id)
    if not rows:
        raise NotFound(f"lead {lead_id} does not exist in workspace {workspace_id}")
    return rows[0]


def _change(row: dict, stage_before: str) -> LeadStageChange:
    lead = {column: row[column] for column in LEAD_COLUMN_NAMES}
    return LeadStageChange(lead=lead, stage_before=LeadStage(stage_before))


SUPPRESSED, TAKE_OVER = LeadStage.SUPPRESSED.value, LeadStage.TAKE_OVER.value


async def suppress_lead(workspace_id: int, lead_id: int) -> LeadStageChange:
    """Stop all outreach to the lead (stage SUPPRESSED); repeating it changes nothing."""
    rows = await fetch(
        f"UPDATE lead SET stage = '{SUPPRESSED}', stage_before_takeover = NULL "
        "FROM lead AS before WHERE lead.id = before.id "
        f"AND lead.id = {{}} AND lead.workspace_id = {{}} AND lead.stage <> '{SUPPRESSED}' "
        f"RETURNING {QUALIFIED_LEAD_COLUMNS}, before.stage AS stage_before",
        lead_id,
        workspace_id,
    )
    if rows:
        return _change(rows[0], rows[0]["stage_before"])
    current = await _current(workspace_id, lead_id)
    return _change(current, current["stage"])


async def take_over_lead(workspace_id: int, lead_id: int) -> LeadStageChange:
    """A human takes the conversation over (stage TAKE_OVER); the stage is remembered."""
    rows = await fetch(
        f"UPDATE lead SET stage = '{TAKE_OVER}', stage_before_takeover = stage "
        f"WHERE id = {{}} AND workspace_id = {{}} AND stage <> '{TAKE_OVER}' "
        f"RETURNING {LEAD_COLUMNS}",
        lead_id,
        workspace_id,
    )
    if rows:
        return _change(rows[0], rows[0]["stage_before_takeover"])
    current = await _current(workspace_id, lead_id)
    raise Conflict(f"lead {current['external_id']} is already taken over")


async def release_lead(workspace_id: int, lead_id: int) -> LeadStageChange:
    """End a takeover: the lead returns to the stage it had before it."""
    rows = await fetch(
        "UPDATE lead SET stage = stage_before_takeover, stage_before_takeover = NULL "
        f"WHERE id = {{}} AND workspace_id = {{}} AND stage = '{TAKE_OVER}' "
        f"RETURNING {LEAD_COLUMNS}",
        lead_id,
        workspace_id,
    )
    if rows:
        return _change(rows[0], TAKE_OVER)
    current = await _current(workspace_id, lead_id)
    raise Conflict(f"lead {current['external_id']} is {current['stage']}, not taken over")


# --- reading and writing leads for the API -------------------------------------------


def takeover_refusal(
    current: LeadStage | None,
    wanted: LeadStage | None,
    take_over: str = "the take-over action",
    release: str = "the release action",
) -> str | None:
    """Why the stage may not be set to ``wanted`` directly, or None: a lead enters and
    leaves TAKE_OVER only through the actions (named as the caller sees them), which
    remember the stage to return to."""
    if wanted is LeadStage.TAKE_OVER and current is not LeadStage.TAKE_OVER:
        return f"use {take_over} to take a lead over"
    if current is LeadStage.TAKE_OVER and wanted not in (None, LeadStage.TAKE_OVER):
        return f"the lead is taken over; use {release} to end the takeover"
    return None


def checked_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Validated writable fields; tags as JSON text for the jsonb column."""
    unknown = set(fields) - set(WRITABLE_FIELDS)
    if unknown:
        raise InvalidValue(sorted(unknown)[0], "cannot be set here")
    checked = dict(fields)
    if "stage" in checked:
        if checked["stage"] is None:
            raise InvalidValue("stage", "must not be null")
        stage = LeadStage(checked["stage"])
        refusal = takeover_refusal(None, stage)
        if refusal:
            raise InvalidValue("stage", refusal)
        checked["stage"] = stage.value
    if checked.get("timezone") is not None:
        timezone_name("timezone", checked["timezone"])
    if "tags" in checked:
        if checked["tags"] is None:
            raise InvalidValue("tags", "must be a list (empty for none)")
        checked["tags"] = json.dumps(lead_tags("tags", checked["tags"]))
    return checked


LEAD_BY_ID = f"SELECT {LEAD_COLUMNS} FROM lead WHERE id = {{}} AND workspace_id = {{}}"


async def _one_lead(missing: str, sql: str, *args: Any) -> dict[str, Any]:
    """The lead ``sql`` finds, or NotFound saying ``missing``."""
    rows = await fetch(sql, *args)
    if not rows:
        raise NotFound(missing)
    return rows[0]


async def get_lead(workspace_id: int, lead_id: int) -> dict[str, Any]:
    return await _one_lead(f"lead {lead_id} does not exist", LEAD_BY_ID, lead_id, workspace_id)


LEAD_BY_EXTERNAL_ID = (
    f"SELECT {LEAD_COLUMNS} FROM lead WHERE workspace_id = {{}} AND external_id = {{}}"
)
LEAD_BY_PLATFORM_USER_ID = (
    f"SELECT {LEAD_COLUMNS} FROM lead WHERE workspace_id = {{}} AND platform_user_id = {{}}"
)


async def lead_by_external_id(workspace_id: int, external_id: str) -> dict[str, Any]:
    found = normalized_external_id(external_id)
    missing = f"lead {external_id!r} does not exist"
    return await _one_lead(missing, LEAD_BY_EXTERNAL_ID, workspace_id, found)


async def lead_by_platform_user_id(workspace_id: int, platform_user_id: str) -> dict[str, Any]:
    missing = f"no lead has the platform user id {platform_user_id!r}"
    return await _one_lead(missing, LEAD_BY_PLATFORM_USER_ID, workspace_id, platform_user_id)


async def create_lead(workspace_id: int, external_id: str, fields: dict[str, Any]) -> dict:
    """A new lead; Conflict when the workspace already has this external id."""
    checked = checked_fields(fields)
    external_id = normalized_external_id(external_id)
    rows = await fetch(
        create_statement(tuple(checked)), workspace_id, external_id, *checked.values()
    )
    if not rows:
        raise Conflict(f"lead {external_id!r} already exists; use PUT /leads/by-external-id")
    return rows[0]


async def upsert_lead(
    workspace_id: int, external_id: str, fields: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Create or update by external id in one statement; (lead, created)."""
    checked = checked_fields(fields)
    external_id = normalized_external_id(external_id)
    rows = await fetch(
        upsert_statement(tuple(checked)), workspace_id, external_id, *checked.values()
    )
    row = rows[0]
    return row, row.pop("created")


async def update_lead(workspace_id: int, lead_id: int, fields: dict[str, Any]) -> dict:
    """Change some fields of a lead of the workspace."""
    checked = checked_fields(fields)
    if not checked:
        return await get_lead(workspace_id, lead_id)
    assignments = ", ".join(f"{field} = {placeholder(field)}" for field in checked)
    # A taken-over lead keeps its stage; the row decides, in the same statement.
    kept_stage = f" AND stage <> '{TAKE_OVER}'" if "stage" in checked else ""
    rows = await fetch(
        f"UPDATE lead SET {assignments} WHERE id = {{}} AND workspace_id = {{}}{kept_stage} "
        f"RETURNING {LEAD_COLUMNS}",
        *checked.values(),
        lead_id,
        workspace_id,
    )
    if rows:
        return rows[0]
    await get_lead(workspace_id, lead_id)  # NotFound when it is not the caller's
    raise Conflict(takeover_refusal(LeadStage.TAKE_OVER, LeadStage(checked["stage"])))


async def list_leads(
    workspace_id: int,
    *,
    stage: LeadStage | None = None,
    tags: list[str] | None = None,
    due_before: datetime | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Leads in id order, filtered; keyset pagination after ``after_id``."""
    sql, arguments = lead_list_query(workspace_id, stage, tags, due_before, after_id, limit)
    return await fetch(sql, *arguments)


def lead_list_query(
    workspace_id: int,
    stage: LeadStage | None,
    tags: list[str] | None,
    due_before: datetime | None,
    after_id: int | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The statement of a lead list page and its arguments."""
    page = PageFilter(workspace_id)
    if stage is not None:
        page.add("stage = {}", LeadStage(stage).value)
    if tags:
        page.add("tags @> {}::jsonb", json.dumps(lead_tags("tag", list(dict.fromkeys(tags)))))
    if due_before is not None:
        page.add("next_followup_at <= {}", due_before)
    if after_id is not None:
        page.add("id > {}", after_id)
    sql = f"SELECT {LEAD_COLUMNS} FROM lead WHERE {page.where()} ORDER BY id LIMIT {{}}"
    return sql, [*page.arguments, limit]


# Due leads in a follow-up stage without a live lease, oldest due first, locked for
# the caller's transaction; rows another caller is locking are skipped, not waited
# for. Where the workspace requires consent, a lead whose latest marketing consent
# event is not a grant is held, not claimed (rule CONSENT_MISSING): it stays due and
# is claimed once a grant is recorded. The instant is the transaction's clock unless
# one is given.
DUE_LEADS = f"""
WITH clock AS (SELECT coalesce({{}}::timestamptz, now()) AS at),
scope AS (SELECT id, consent_required FROM workspace WHERE id = {{}})
SELECT lead.id, clock.at FROM lead, clock
WHERE workspace_id = (SELECT id FROM scope) AND next_followup_at <= clock.at
  AND stage IN ({", ".join(f"'{stage.value}'" for stage in FOLLOW_UP_STAGES)})
  AND (followup_lease_until IS NULL OR followup_lease_until <= clock.at)
  AND NOT ((SELECT consent_required FROM scope)
           AND {marketing_consent_missing("lead.id", "clock.at")})
ORDER BY next_followup_at
LIMIT {{}}
FOR UPDATE OF lead SKIP LOCKED
"""

CLAIM_DUE = f"""
WITH due AS ({DUE_LEADS})
UPDATE lead SET followup_lease_until = due.at + {{}} * interval '1 second'
FROM due WHERE lead.id = due.id
RETURNING {QUALIFIED_LEAD_COLUMNS}
"""


async def claim_due_followups(workspace_id: int, limit: int, lease_seconds: int) -> list[dict]:
    """Leads due for a follow-up, leased to the caller: no other claimer gets them
    until the lease ends. Rows another claimer is taking are skipped, not waited for."""
    return await fetch(CLAIM_DUE, None, workspace_id, limit, lease_seconds)
