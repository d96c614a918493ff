"""The admin's search of a policy decision's reason code, served by an index.

Forwards adds, backwards removes: a GIN index on
``masterplan_search_trigrams(reason_code)``. Reason codes have no fixed list
(decisions recorded before the policy engine keep their own), so the admin's text
search of them is answered like a lead's name (app/admin/crud.py).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-11-26T21:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Admin at scale: trigram search of policy decision reason codes"

STEPS: list[Step] = [
    (
        "CREATE INDEX policy_decision_reason_search "
        "ON policy_decision USING gin (masterplan_search_trigrams(reason_code))",
        "DROP INDEX policy_decision_reason_search",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
