"""Bulk import of leads by external id, with their consent: the one home of the
import's rules and limits, for the API (POST /leads/import) and the admin's CSV
import (app/admin/csv_import.py).

An import is at most ``IMPORT_LIMIT`` rows. Each row is created, updated or rejected
with its reason; a rejected row does not stop the others. An import may cite one
consent wording version of the workspace (another workspace's: NotFound, nothing
stored); a row that carries consent (when the person said yes, and the evidence) gets
a ``marketing`` grant with method ``import`` in the same transaction as its lead
write. Importing the same rows again records no grant twice (app/policy/consent.py,
``record_import_grants``). The lead statements are app/lead_writes.py's (why they are
set-based is said there).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pydantic

from app.db.executor import fetch, transaction
from app.errors import InvalidValue
from app.lead_writes import import_input, import_insert_sql, import_update_sql
from app.leads import checked_fields
from app.phone_numbers import normalized_external_id
from app.policy import consent
from app.validation import in_words, problems

IMPORT_LIMIT = 10_000

# An import that creates this many leads, when the table was thought to hold fewer than
# STALE_SHARE times as many, refreshes the lead table's statistics (see
# _refresh_lead_statistics).
ANALYZE_AFTER_CREATED = 1_000
STALE_SHARE = 10

CREATED, UPDATED, REJECTED, VALID = "created", "updated", "rejected", "valid"
# What happened to a row's grant: a new event, or one imported before (kept as it is).
GRANT_RECORDED, GRANT_ALREADY_RECORDED = "recorded", "already_recorded"


class ImportGrant(NamedTuple):
    """A row's consent: when the person said yes, and the proof of it."""

    captured_at: datetime
    evidence: dict[str, Any]
    # A row may name the wording version too: it must be the import's.
    wording_version: int | None = None


class LeadRow(NamedTuple):
    """One row of an import: its position, external id, lead fields and consent."""

    index: int
    external_id: str
    fields: dict[str, Any]
    grant: ImportGrant | None = None


@dataclass(frozen=True)
class ImportOutcome:
    """What happened (or, in a preview, would happen) to one row of an import."""

    index: int
    external_id: str | None
    result: str  # created | updated | rejected | valid (a preview's accepted row)
    reason: str | None = None
    consent: str | None = None  # recorded | already_recorded, for a row with consent


@dataclass
class CheckedRows:
    """The rows that pass every rule, by normalized external id, and the refused."""

    accepted: dict[str, LeadRow] = field(default_factory=dict)
    refused: list[ImportOutcome] = field(default_factory=list)


def read_rows(
    raw_rows: Sequence[Any], row_model: type[pydantic.BaseModel]
) -> tuple[list[LeadRow], list[ImportOutcome]]:
    """Each raw row (a JSON object, or a CSV row mapped to one) read by ``row_model``
    (the API's ImportLead): the rows read, and those refused with the reason."""
    rows, refused = [], []
    for index, raw in enumerate(raw_rows):
        try:
            given = row_model.model_validate(raw).model_dump(exclude_unset=True)
        except pydantic.ValidationError as error:
            reason = in_words(problems(error.errors(), unnamed="row"))
            refused.append(ImportOutcome(index, _given_id(raw), REJECTED, reason))
            continue
        proof = given.pop("consent", None)
        grant = None if proof is None else _grant(proof)
        rows.append(LeadRow(index, given.pop("external_id"), given, grant))
    return rows, refused


def _grant(proof: dict[str, Any]) -> ImportGrant:
    evidence = {key: value for key, value in proof.pop("evidence").items() if value is not None}
    return ImportGrant(evidence=evidence, **proof)


def _given_id(raw: Any) -> str | None:
    external_id = raw.get("external_id") if isinstance(raw, dict) else None
    return external_id if isinstance(external_id, str) else None


def checked_rows(
    rows: Iterable[LeadRow], wording: dict[str, Any] | None, now: datetime
) -> CheckedRows:
    """The lead rules (app/leads.py) and the consent rules applied to every row; a
    repeated external id is refused after its first row."""
    checked = CheckedRows()
    for row in rows:
        external_id = normalized_external_id(row.external_id)
        first = checked.accepted.get(external_id)
        if first is not None:
            reason = f"external_id repeats row {first.index}"
            checked.refused.append(ImportOutcome(row.index, external_id, REJECTED, reason))
            continue
        try:
            fields = checked_fields(row.fields)
            check_grant(row.grant, wording, now)
        except ValueError as error:  # InvalidValue, or a bad enum value
            checked.refused.append(ImportOutcome(row.index, external_id, REJECTED, str(error)))
            continue
        checked.accepted[external_id] = row._replace(fields=fields)
    return checked


def check_grant(grant: ImportGrant | None, wording: dict[str, Any] | None, now: datetime) -> None:
    """A row's consent cites the import's wording, was said by ``now`` and has evidence
    (each field's bounds are the schema's, ConsentEvidence, as for any consent event)."""
    if grant is None:
        return
    if wording is None:
        raise InvalidValue(
            "consent", "the import names no consent wording version (the words the person saw)"
        )
    if grant.wording_version is not None and grant.wording_version != wording["version"]:
        raise InvalidValue(
            "consent.wording_version",
            f"is {grant.wording_version}, but this import cites version {wording['version']} "
            "(one wording version per import)",
        )
    if consent.utc_instant("consent.captured_at", grant.captured_at) > now:
        raise InvalidValue("consent.captured_at", f"{grant.captured_at} is in the future")
    if not grant.evidence:
        raise InvalidValue(
            "consent.evidence", "must say where and how the person consented (at least one field)"
        )


async def import_rows(
    workspace_id: int,
    raw_rows: Sequence[Any],
    row_model: type[pydantic.BaseModel],
    wording_version: int | None = None,
    *,
    batch: range | None = None,
    preview: bool = False,
) -> list[ImportOutcome]:
    """Read ``raw_rows`` with ``row_model``, then import them (or, for a ``preview``,
    only check them: nothing is written). With ``batch``, the rows up to its end are
    checked, as in the whole import, and only those whose index is in it are written
    and reported."""
    check_size(raw_rows)
    if batch is not None:
        # A row's outcome depends on the rows before it only (a repeated number).
        raw_rows = raw_rows[: batch.stop]
    rows, refused = read_rows(raw_rows, row_model)
    if preview:
        outcomes = await preview_leads(workspace_id, rows, wording_version)
    else:
        outcomes = await import_leads(workspace_id, rows, wording_version, batch=batch)
    refused = [outcome for outcome in refused if batch is None or outcome.index in batch]
    return sorted([*refused, *outcomes], key=lambda outcome: outcome.index)


async def preview_leads(
    workspace_id: int, rows: Sequence[LeadRow], wording_version: int | None = None
) -> list[ImportOutcome]:
    """What an import of ``rows`` would do to each row: valid or rejected, with the
    same checks as ``import_leads``; nothing is written."""
    check_size(rows)
    wording = await _wording(workspace_id, wording_version)
    checked = checked_rows([LeadRow(*row) for row in rows], wording, datetime.now(UTC))
    valid = [ImportOutcome(row.index, key, VALID) for key, row in checked.accepted.items()]
    return sorted([*checked.refused, *valid], key=lambda outcome: outcome.index)


async def import_leads(
    workspace_id: int,
    rows: Sequence[LeadRow | tuple],
    wording_version: int | None = None,
    *,
    batch: range | None = None,
) -> list[ImportOutcome]:
    """Create or update many leads by external id, and record their grants, in one
    transaction.

    ``rows`` are LeadRows (or (index, external_id, fields) tuples), at most
    ``IMPORT_LIMIT``. A row that breaks a rule is rejected with the reason and the
    others still go in. With ``batch``, only the rows whose index is in it are written.
    """
    check_size(rows)
    wording = await _wording(workspace_id, wording_version)
    checked = checked_rows([LeadRow(*row) for row in rows], wording, datetime.now(UTC))
    accepted = {
        key: row for key, row in checked.accepted.items() if batch is None or row.index in batch
    }
    created, granted = await _write(workspace_id, accepted, wording)
    outcomes = [outcome for outcome in checked.refused if batch is None or outcome.index in batch]
    for external_id, row in accepted.items():
        result = CREATED if external_id in created else UPDATED
        grant = _grant_outcome(row, external_id in granted)
        outcomes.append(ImportOutcome(row.index, external_id, result, consent=grant))
    return sorted(outcomes, key=lambda outcome: outcome.index)


def _grant_outcome(row: LeadRow, recorded: bool) -> str | None:
    if row.grant is None:
        return None
    return GRANT_RECORDED if recorded else GRANT_ALREADY_RECORDED


def summary(outcomes: Iterable[ImportOutcome]) -> dict[str, int]:
    """How many rows were created, updated, rejected (or valid), and their grants."""
    results = [outcome.result for outcome in outcomes]
    consents = [outcome.consent for outcome in outcomes]
    return {
        CREATED: results.count(CREATED),
        UPDATED: results.count(UPDATED),
        REJECTED: results.count(REJECTED),
        VALID: results.count(VALID),
        "granted": consents.count(GRANT_RECORDED),
        "already_granted": consents.count(GRANT_ALREADY_RECORDED),
    }


def check_size(rows: Sequence[Any]) -> None:
    """An import is at most ``IMPORT_LIMIT`` rows."""
    if len(rows) > IMPORT_LIMIT:
        raise InvalidValue("rows", f"at most {IMPORT_LIMIT:,} rows per import")


async def _wording(workspace_id: int, version: int | None) -> dict[str, Any] | None:
    return None if version is None else await consent.wording(workspace_id, version)


async def _write(
    workspace_id: int, rows: dict[str, LeadRow], wording: dict[str, Any] | None
) -> tuple[set[str], set[str]]:
    """The leads created (the others were updated) and those whose grant was recorded,
    by external id."""
    if not rows:
        return set(), set()
    fields = {key: row.fields for key, row in rows.items()}
    async with transaction():
        updated = await _import_pass(import_update_sql, workspace_id, fields)
        remaining = {key: value for key, value in fields.items() if key not in updated}
        created = (
            await _import_pass(import_insert_sql, workspace_id, remaining) if remaining else {}
        )
        # Rows another writer created meanwhile exist now: update them.
        late = {key: value for key, value in remaining.items() if key not in created}
        if late:
            updated |= await _import_pass(import_update_sql, workspace_id, late)
        if len(created) >= ANALYZE_AFTER_CREATED:
            await _refresh_lead_statistics(len(created))
        lead_ids = {**updated, **created}
        grants = {
            lead_ids[key]: row.grant[:2] for key, row in rows.items() if row.grant is not None
        }
        granted: set[int] = set()
        if grants and wording is not None:
            granted = await consent.record_import_grants(workspace_id, wording, grants)
    return set(created), {key for key, lead_id in lead_ids.items() if lead_id in granted}


async def _refresh_lead_statistics(created: int) -> None:
    """ANALYZE the lead table in the import's transaction when the leads it created are
    many next to what the planner knows of the table (its rows since the last ANALYZE:
    none on a fresh install). The grants' tenant foreign key checks, one per row, are
    planned from those statistics: planned for a near-empty table they read every lead
    of the workspace per row (measured: 12 s instead of 0.1 s for 10,000 grants)."""
    known = await fetch("SELECT reltuples FROM pg_class WHERE oid = 'lead'::regclass")
    if known[0]["reltuples"] < created * STALE_SHARE:
        await fetch("ANALYZE lead")


async def _import_pass(
    sql_for, workspace_id: int, rows: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """The leads the statement wrote: external id -> lead id."""
    input_cte, arrays = import_input(rows)
    result = await fetch(sql_for(input_cte), *arrays, workspace_id)
    return {row["external_id"]: row["id"] for row in result}
