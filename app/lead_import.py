"""Bulk import of leads by external id: one transaction, each row created, updated or
rejected with its reason; a rejected row does not stop the others. The statements
are app/lead_writes.py's (why they are set-based is said there)."""

from dataclasses import dataclass
from typing import Any

from app.db.executor import fetch, transaction
from app.errors import InvalidValue
from app.lead_writes import import_input, import_insert_sql, import_update_sql
from app.leads import checked_fields
from app.phone_numbers import normalized_external_id

IMPORT_LIMIT = 10_000


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one row of an import."""

    index: int
    external_id: str | None
    result: str  # created | updated | rejected
    reason: str | None = None


async def import_leads(
    workspace_id: int, rows: list[tuple[int, str, dict[str, Any]]]
) -> list[ImportOutcome]:
    """Create or update many leads by external id in one transaction.

    ``rows`` are (index, external_id, fields), at most ``IMPORT_LIMIT``. A row that
    breaks a rule is rejected with the reason and the others still go in.
    """
    if len(rows) > IMPORT_LIMIT:
        raise InvalidValue("rows", f"at most {IMPORT_LIMIT:,} rows per import")
    outcomes: dict[int, ImportOutcome] = {}
    accepted: dict[str, dict[str, Any]] = {}
    index_of: dict[str, int] = {}
    for index, given_id, fields in rows:
        external_id = normalized_external_id(given_id)
        if external_id in index_of:
            outcomes[index] = ImportOutcome(
                index, external_id, "rejected", f"external_id repeats row {index_of[external_id]}"
            )
            continue
        try:
            accepted[external_id] = checked_fields(fields)
        except ValueError as error:  # InvalidValue, or a bad enum value
            outcomes[index] = ImportOutcome(index, external_id, "rejected", str(error))
            continue
        index_of[external_id] = index

    updated: set[str] = set()
    created: set[str] = set()
    if accepted:
        async with transaction():
            updated |= await _import_pass(import_update_sql, workspace_id, accepted)
            remaining = {key: value for key, value in accepted.items() if key not in updated}
            if remaining:
                created |= await _import_pass(import_insert_sql, workspace_id, remaining)
            # Rows another writer created meanwhile exist now: update them.
            late = {key: value for key, value in remaining.items() if key not in created}
            if late:
                updated |= await _import_pass(import_update_sql, workspace_id, late)
    for external_id, index in index_of.items():
        result = "created" if external_id in created else "updated"
        outcomes[index] = ImportOutcome(index, external_id, result)
    return [outcomes[index] for index in sorted(outcomes)]


async def _import_pass(sql_for, workspace_id: int, rows: dict[str, dict[str, Any]]) -> set[str]:
    input_cte, arrays = import_input(rows)
    result = await fetch(sql_for(input_cte), *arrays, workspace_id)
    return {row["external_id"] for row in result}
