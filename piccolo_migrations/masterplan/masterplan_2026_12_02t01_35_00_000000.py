"""Delivery failures by time: an index of the messages WhatsApp reported failed.

Forwards adds, backwards drops ``chat_message_failed``: the failed messages by the
failure's time (a partial index: failures are few among messages), which the count
of a workspace's failures by error code over a period reads
(app/whatsapp/failures.py ``failure_counts``, for the overview).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-02T01:35:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Delivery failures: an index of failed messages by the failure's time"

STEPS: list[Step] = [
    (
        "CREATE INDEX chat_message_failed ON chat_message (delivery_status_at) "
        "WHERE delivery_status = 'failed'",
        "DROP INDEX chat_message_failed",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
