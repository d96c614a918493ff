"""A policy decision's rule trace is compressed with LZ4 where the server has it.

Every decision carries its rule trace (about 4 kB of JSON), which PostgreSQL
compresses when it stores the row. Its default method, pglz, costs a dispatch batch
more time than LZ4 does, for a similar size, and reading a trace back (the admin,
replays) decompresses it. Servers built with LZ4 (Debian's, most packaged ones)
compress the traces written from now on with it; rows already stored keep theirs,
which PostgreSQL reads either way. A server built without LZ4 (the embedded one)
keeps pglz: the statement is skipped there.

Backwards returns the column to the server's default method.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-02T00:51:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Policy decisions: rule traces compressed with LZ4 where the server has it"

STEPS: list[Step] = [
    (
        """
DO $$
BEGIN
    ALTER TABLE policy_decision ALTER COLUMN rule_trace SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server has no LZ4: rule traces stay compressed with pglz';
END
$$
""",
        "ALTER TABLE policy_decision ALTER COLUMN rule_trace SET COMPRESSION default",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
