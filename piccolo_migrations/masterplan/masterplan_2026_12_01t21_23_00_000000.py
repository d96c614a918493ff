"""Consent imports are idempotent: a lead's grant imported for a wording version and
a moment (``captured_at``) is recorded once, however often the file is imported.

Forwards: a unique index over (lead, purpose, wording, captured_at) of the events
whose method is ``import``; the import inserts with ``ON CONFLICT DO NOTHING`` on it
(app/policy/consent.py, ``record_import_grants``). Backwards: the index is dropped.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-01T21:23:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Consent ledger: an imported grant is recorded once (unique index)"

STEPS: list[Step] = [
    (
        "CREATE UNIQUE INDEX consent_event_imported_once "
        "ON consent_event (lead_id, purpose, wording_id, captured_at) WHERE method = 'import'",
        "DROP INDEX consent_event_imported_once",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
