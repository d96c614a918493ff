"""Indexes for the overview's channel figures.

Forwards, and backwards in reverse:

- ``chat_message_failed_deliveries``: failed deliveries by when they failed (a partial
  index: failures are few among the messages), so that a workspace's failures of a
  period are counted by error code without reading every message
  (app/whatsapp/failures.py ``failure_counts``, for the overview);
- ``lead_unreachable``: the leads WhatsApp reported undeliverable, by workspace (a
  partial index: few leads are), for the overview's count of unreachable leads.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-02T01:35:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Channel: indexes of failed deliveries and unreachable leads"

STEPS: list[Step] = [
    (
        "CREATE INDEX chat_message_failed_deliveries ON chat_message (delivery_status_at) "
        "WHERE delivery_status = 'failed'",
        "DROP INDEX chat_message_failed_deliveries",
    ),
    (
        "CREATE INDEX lead_unreachable ON lead (workspace_id) WHERE unreachable_since IS NOT NULL",
        "DROP INDEX lead_unreachable",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
