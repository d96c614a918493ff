"""The change log names the request each change was made by.

Forwards, and backwards in reverse:

- ``masterplan_record_change()`` and ``masterplan_record_created()`` also write
  ``change_log.request_id`` (added by the migration before this one) from the
  transaction-local setting ``masterplan.request_id`` (app/change_log.py: the
  ``X-Request-ID`` of the request, app/request_ids.py); NULL when it is not set or
  empty (psql, commands). Going back restores both functions as they were; the
  column goes with the previous migration's backwards.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.masterplan.masterplan_2026_11_26t19_40_00_000000 import RECORD_CHANGE
from piccolo_migrations.masterplan.masterplan_2026_12_02t00_50_00_000000 import RECORD_CREATED
from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-02T10:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Change log: the triggers record the request id"

REQUEST_ID = "left(nullif(current_setting('masterplan.request_id', true), ''), 128)"


def replacing(function: str) -> str:
    """A function's ``CREATE FUNCTION`` text as ``CREATE OR REPLACE``."""
    return function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def rewritten(text: str, *replacements: tuple[str, str]) -> str:
    """``text`` with each (old, new) replaced; each old must occur exactly once."""
    for old, new in replacements:
        if text.count(old) != 1:
            raise ValueError(f"expected exactly one {old!r} in the function")
        text = text.replace(old, new)
    return text


RECORD_CHANGE_WITH_REQUEST = rewritten(
    replacing(RECORD_CHANGE),
    ("workspace_id, lead_id, changes)", "workspace_id, lead_id, changes, request_id)"),
    ("        changed\n    );", f"        changed,\n        {REQUEST_ID}\n    );"),
)

# Each of the three INSERTs gains the column and its value.
RECORD_CREATED_WITH_REQUEST = rewritten(
    replacing(RECORD_CREATED),
    ("    doing text :=", f"    request text := {REQUEST_ID};\n    doing text :="),
    (
        "row_id, workspace_id, lead_id)\n        SELECT by_kind, by_name, by_id, doing, 'CREATE', "
        "TG_TABLE_NAME,\n               created.id, created.workspace_id, created.lead_id",
        "row_id, workspace_id, lead_id, request_id)\n        SELECT by_kind, by_name, by_id, "
        "doing, 'CREATE', TG_TABLE_NAME,\n               created.id, created.workspace_id, "
        "created.lead_id, request",
    ),
    (
        "row_id, workspace_id)\n        SELECT by_kind, by_name, by_id, doing, 'CREATE', "
        "TG_TABLE_NAME,\n               created.id, created.workspace_id\n",
        "row_id, workspace_id, request_id)\n        SELECT by_kind, by_name, by_id, doing, "
        "'CREATE', TG_TABLE_NAME,\n               created.id, created.workspace_id, request\n",
    ),
    (
        "row_id)\n        SELECT by_kind, by_name, by_id, doing, 'CREATE', TG_TABLE_NAME, "
        "created.id\n",
        "row_id, request_id)\n        SELECT by_kind, by_name, by_id, doing, 'CREATE', "
        "TG_TABLE_NAME, created.id,\n               request\n",
    ),
)

STEPS: list[Step] = [
    (RECORD_CHANGE_WITH_REQUEST, replacing(RECORD_CHANGE)),
    (RECORD_CREATED_WITH_REQUEST, replacing(RECORD_CREATED)),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
