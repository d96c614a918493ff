"""Writing lead rows by their key, ``(workspace_id, external_id)``: the one home of
that SQL and of its column handling, for the API's create and upsert
(app/leads.py), the bulk import (app/lead_import.py), the WhatsApp webhook
(app/whatsapp/inbound.py) and the prototype backfill.

Every write that may create a lead has ``insert_by_key``'s shape::

    INSERT INTO lead (workspace_id, external_id, <fields>) VALUES (...) | SELECT ...
    ON CONFLICT (workspace_id, external_id) DO NOTHING | DO UPDATE SET <assignments>
    RETURNING <columns>

and on a conflict a field is either ``replaced`` by the written value (a lead taken
over keeps its stage) or ``filled``, when empty, by it. What differs, and why:

- create: ``DO NOTHING``; no row back means the external id is taken (a Conflict);
- upsert: the given fields ``replaced``; ``created`` says which happened;
- webhook: the profile name only ``filled`` (an operator's name stays), the
  platform user id ``replaced``; only the id comes back. Linking a person's keys
  and moving a lead to a new number or user id are updates by the lead's id
  (``link_lead``, ``move_number``, ``move_user_id``), taken under the webhook's
  advisory locks on the person's keys;
- import: set-based, for up to 10,000 rows in a few statements instead of one
  per row: the rows arrive as one array per column (an ``input`` CTE over
  ``unnest``), and each row must be reported created or updated with absent
  fields kept (on update) or defaulted (on insert), which one ``ON CONFLICT DO
  UPDATE`` cannot tell apart for many rows. So an update pass by key
  (``import_update_sql``) runs first, then the insert of the rest, the same
  ``insert_by_key`` shape with ``DO NOTHING`` (``import_insert_sql``);
- the prototype backfill (app/legacy/backfill.py): ``insert_by_key`` of a batch's
  placeholder leads inside its one statement per batch.
"""

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from piccolo.columns import JSONB

from app.db.executor import execute_on, fetch_on, fetchval_on
from app.enums import LeadStage
from app.tables import LEAD_KEPT_COLUMNS, Lead

# The row as the API and the admin read it, and the fields callers write: all from
# the table (app/tables.py), so a new column is added there and in its migration.
LEAD_COLUMN_NAMES = tuple(column._meta.db_column_name for column in Lead._meta.columns)
LEAD_COLUMNS = ", ".join(LEAD_COLUMN_NAMES)
QUALIFIED_LEAD_COLUMNS = ", ".join(f"lead.{name}" for name in LEAD_COLUMN_NAMES)
WRITABLE_FIELDS = tuple(name for name in LEAD_COLUMN_NAMES if name not in LEAD_KEPT_COLUMNS)
JSON_FIELDS = frozenset(
    column._meta.db_column_name for column in Lead._meta.columns if isinstance(column, JSONB)
)
KEY = "workspace_id, external_id"
TAKE_OVER = LeadStage.TAKE_OVER.value
# Each writable field, with its column's SQL type without a length (an explicit cast
# to varchar(n) would cut a longer value instead of refusing it).
IMPORT_COLUMNS = {
    name: Lead._meta.get_column_by_name(name).column_type.lower().partition("(")[0]
    for name in WRITABLE_FIELDS
}


def placeholder(field: str) -> str:
    """A field's value placeholder; JSON arrives as text for its jsonb column."""
    return "{}::jsonb" if field in JSON_FIELDS else "{}"


def stage_kept_in_takeover(field: str, source: str) -> str:
    """The assignment of ``source`` to ``field``; a lead taken over keeps its stage
    until released."""
    if field == "stage":
        return f"stage = CASE WHEN lead.stage = '{TAKE_OVER}' THEN lead.stage ELSE {source} END"
    return f"{field} = {source}"


def replaced(field: str) -> str:
    """On a conflict, the field takes the written value."""
    return stage_kept_in_takeover(field, f"EXCLUDED.{field}")


def filled(field: str) -> str:
    """On a conflict, the written value fills the field only when it is empty."""
    return f"{field} = coalesce(nullif(lead.{field}, ''), EXCLUDED.{field})"


# A conflict that changes nothing, so that RETURNING still returns the row.
UNCHANGED = "external_id = EXCLUDED.external_id"


def insert_by_key(
    fields: Iterable[str],
    *,
    returning: str,
    on_conflict: Sequence[str] | None = None,
    rows: str | None = None,
) -> str:
    """``INSERT INTO lead (workspace_id, external_id, *fields)`` of one row (``VALUES``,
    its placeholders in column order) or of ``rows`` (a query giving the columns in
    that order); on a conflict on the key ``DO NOTHING``, or ``DO UPDATE SET`` the
    ``on_conflict`` assignments; ``RETURNING returning``."""
    fields = list(fields)
    if rows is None:
        rows = "VALUES ({})".format(", ".join(["{}", "{}", *map(placeholder, fields)]))
    action = "DO NOTHING" if on_conflict is None else f"DO UPDATE SET {', '.join(on_conflict)}"
    return (
        f"INSERT INTO lead ({', '.join([KEY, *fields])}) {rows} "
        f"ON CONFLICT ({KEY}) {action} RETURNING {returning}"
    )


# --- the API -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def create_statement(fields: tuple[str, ...]) -> str:
    """A new lead with these fields (arguments: workspace id, external id, the values);
    no row back when the workspace has the external id already."""
    return insert_by_key(fields, returning=LEAD_COLUMNS)


@functools.lru_cache(maxsize=256)
def upsert_statement(fields: tuple[str, ...]) -> str:
    """Create or update by key with these fields (arguments as ``create_statement``'s);
    the row, and ``created`` saying which happened."""
    return insert_by_key(
        fields,
        on_conflict=[replaced(field) for field in fields] or [UNCHANGED],
        returning=f"{LEAD_COLUMNS}, (xmax = 0) AS created",
    )


# --- the WhatsApp webhook (its caller holds the person's advisory locks) ---------------

# A person known by a phone number only: creates the lead or finds it.
LEAD_BY_PHONE = insert_by_key(["name"], on_conflict=[filled("name")], returning="id")
# A person with a user id whom no lead has: keyed by the phone number (or the user id).
NEW_LEAD = insert_by_key(
    ["platform_user_id", "name"],
    on_conflict=[replaced("platform_user_id"), filled("name")],
    returning="id",
)
LEADS_OF_PERSON = (
    "SELECT id, external_id, platform_user_id FROM lead "
    "WHERE workspace_id = {} AND (external_id = ANY({}::text[]) OR platform_user_id = {}) "
    "ORDER BY id FOR UPDATE"
)
LINK_LEAD = (
    "UPDATE lead SET platform_user_id = {}, external_id = coalesce({}, external_id), "
    "name = coalesce(nullif(name, ''), {}) WHERE id = {}"
)
LEAD_HOLDING = (
    "SELECT id FROM lead WHERE workspace_id = {} "
    "AND (external_id = {} OR platform_user_id = {}) ORDER BY id LIMIT 1"
)
MOVE_NUMBER = "UPDATE lead SET external_id = {} WHERE id = {}"
# The lead keyed by its user id keeps being keyed by it.
MOVE_USER_ID = (
    "UPDATE lead SET platform_user_id = {}, external_id = CASE "
    "WHEN external_id = platform_user_id THEN {} ELSE external_id END WHERE id = {}"
)


async def lead_by_phone(connection: Any, workspace_id: int, phone: str, name: str | None) -> int:
    """The lead whose external id is the phone number, created when there is none;
    the profile name fills an empty name only."""
    return await fetchval_on(connection, LEAD_BY_PHONE, workspace_id, phone, name)


async def new_lead(
    connection: Any, workspace_id: int, external_id: str, user_id: str, name: str | None
) -> int:
    """A lead for a person with a user id (found by its external id if one has it)."""
    return await fetchval_on(connection, NEW_LEAD, workspace_id, external_id, user_id, name)


async def leads_of_person(
    connection: Any, workspace_id: int, keys: list[str], user_id: str | None
) -> list[Any]:
    """The leads (id, external_id, platform_user_id) whose external id is one of
    ``keys`` or whose user id is ``user_id``, locked, in id order."""
    return await fetch_on(connection, LEADS_OF_PERSON, workspace_id, keys, user_id)


async def link_lead(
    connection: Any, lead_id: int, user_id: str | None, takes_number: str | None, name: str | None
) -> None:
    """The lead takes the user id, the number as its external id (when given), and
    the name when its own is empty."""
    await execute_on(connection, LINK_LEAD, user_id, takes_number, name, lead_id)


async def lead_holding(connection: Any, workspace_id: int, key: str) -> int | None:
    """The lead whose external id or user id is ``key``, if any."""
    return await fetchval_on(connection, LEAD_HOLDING, workspace_id, key, key)


async def move_number(connection: Any, lead_id: int, phone: str) -> None:
    """The lead's external id becomes its person's new number."""
    await execute_on(connection, MOVE_NUMBER, phone, lead_id)


async def move_user_id(connection: Any, lead_id: int, user_id: str) -> None:
    """The lead takes its person's new user id."""
    await execute_on(connection, MOVE_USER_ID, user_id, user_id, lead_id)


# --- the bulk import ---------------------------------------------------------------------


def import_input(rows: dict[str, dict[str, Any]]) -> tuple[str, list[Any]]:
    """An ``input`` CTE over the rows (external id -> checked fields), one array per
    column, and its arguments."""
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


def import_update_sql(input_cte: str) -> str:
    """Update the workspace's leads that ``input`` names (arguments: the input's, then
    the workspace id); absent (or null) fields keep the lead's current value."""

    def assignment(column: str) -> str:
        return stage_kept_in_takeover(column, f"coalesce({_input(column)}, lead.{column})")

    assignments = ", ".join(assignment(column) for column in IMPORT_COLUMNS)
    return (
        f"{input_cte} UPDATE lead SET {assignments} FROM input "
        "WHERE lead.workspace_id = {} AND lead.external_id = input.external_id "
        "RETURNING lead.id, lead.external_id"
    )


def import_insert_sql(input_cte: str) -> str:
    """Create the leads ``input`` names (arguments: the input's, then the workspace
    id); absent (or null) fields get the column's default."""
    values = ", ".join(_value_or_default(column) for column in IMPORT_COLUMNS)
    rows = f"SELECT {{}}, external_id, {values} FROM input"
    return f"{input_cte} " + insert_by_key(IMPORT_COLUMNS, rows=rows, returning="id, external_id")


def _input(name: str) -> str:
    """An input column as its lead column's type (JSON arrives as text)."""
    return f"input.{name}::jsonb" if name in JSON_FIELDS else f"input.{name}"


def _value_or_default(name: str) -> str:
    column = Lead._meta.get_column_by_name(name)
    if column._meta.null:
        return _input(name)
    return f"coalesce({_input(name)}, {column.get_sql_value(column.get_default_value())})"
