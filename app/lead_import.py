"""Bulk import of leads by external id: one transaction, each row created, updated or
rejected with its reason; a rejected row does not stop the others."""

from dataclasses import dataclass
from typing import Any

from app.db.executor import transaction
from app.errors import InvalidValue
from app.leads import JSON_FIELDS, WRITABLE_FIELDS, checked_fields, stage_kept_in_takeover
from app.phone_numbers import normalized_external_id
from app.tables import Lead

IMPORT_LIMIT = 10_000
# Each writable field, with its column's SQL type without a length (an explicit cast
# to varchar(n) would cut a longer value instead of refusing it).
IMPORT_COLUMNS = {
    name: Lead._meta.get_column_by_name(name).column_type.lower().partition("(")[0]
    for name in WRITABLE_FIELDS
}


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one row of an import."""

    index: int
    external_id: str | None
    result: str  # created | updated | rejected
    reason: str | None = None


def _import_input(rows: dict[str, dict[str, Any]]) -> tuple[str, list[Any]]:
    """An ``input`` CTE over the rows, one array per column."""
    external_ids = list(rows)
    arrays = [external_ids] + [
        [rows[key].get(column) for key in external_ids] for column in IMPORT_COLUMNS
    ]
    casts = ", ".join(
        ["{}::text[]"]
        + [
            f"{{}}::{'text' if name in JSON_FIELDS else kind}[]"
            for name, kind in IMPORT_COLUMNS.items()
        ]
    )
    names = ", ".join(["external_id", *IMPORT_COLUMNS])
    return f"WITH input ({names}) AS (SELECT * FROM unnest({casts}))", arrays


def _import_update_sql(input_cte: str) -> str:
    # Absent (or null) fields keep the lead's current value.
    def assignment(column: str) -> str:
        source = f"coalesce({_input(column)}, lead.{column})"
        return stage_kept_in_takeover(column, source)

    assignments = ", ".join(assignment(column) for column in IMPORT_COLUMNS)
    return (
        f"{input_cte} UPDATE lead SET {assignments} FROM input "
        "WHERE lead.workspace_id = {} AND lead.external_id = input.external_id "
        "RETURNING lead.external_id"
    )


def _import_insert_sql(input_cte: str) -> str:
    # Absent (or null) fields get the column's default.
    columns = ", ".join(IMPORT_COLUMNS)
    values = ", ".join(_value_or_default(column) for column in IMPORT_COLUMNS)
    return (
        f"{input_cte} INSERT INTO lead (workspace_id, external_id, {columns}) "
        f"SELECT {{}}, external_id, {values} FROM input "
        "ON CONFLICT (workspace_id, external_id) DO NOTHING RETURNING external_id"
    )


def _input(name: str) -> str:
    """An input column as its lead column's type (JSON arrives as text)."""
    return f"input.{name}::jsonb" if name in JSON_FIELDS else f"input.{name}"


def _value_or_default(name: str) -> str:
    column = Lead._meta.get_column_by_name(name)
    if column._meta.null:
        return _input(name)
    return f"coalesce({_input(name)}, {column.get_sql_value(column.get_default_value())})"


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
            updated |= await _import_pass(_import_update_sql, workspace_id, accepted)
            remaining = {key: value for key, value in accepted.items() if key not in updated}
            if remaining:
                created |= await _import_pass(_import_insert_sql, workspace_id, remaining)
            # Rows another writer created meanwhile exist now: update them.
            late = {key: value for key, value in remaining.items() if key not in created}
            if late:
                updated |= await _import_pass(_import_update_sql, workspace_id, late)
    for external_id, index in index_of.items():
        result = "created" if external_id in created else "updated"
        outcomes[index] = ImportOutcome(index, external_id, result)
    return [outcomes[index] for index in sorted(outcomes)]


async def _import_pass(sql_for, workspace_id: int, rows: dict[str, dict[str, Any]]) -> set[str]:
    input_cte, arrays = _import_input(rows)
    result = await Lead.raw(sql_for(input_cte), *arrays, workspace_id)
    return {row["external_id"] for row in result}
