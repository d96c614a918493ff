"""The change log records the rows an append-only table gains once per statement.

A history row (a policy decision, a message, an attestation, a marketing preference
or consent event) is recorded in ``change_log`` without its values: who created it,
which row, its workspace and lead. Until now a row trigger did that for each row,
turning the whole row (a decision's rule trace included) into JSON to read three
ids from it. A dispatch batch of 500 decisions paid that 500 times.

Forwards, for each such table:
- ``masterplan_record_created()``: an AFTER INSERT statement trigger function that
  writes one change-log entry per created row from the statement's transition table
  (``created_rows``), reading the id, workspace and lead columns named by its
  arguments (``''`` when the table has none), with the same actor and action as
  ``masterplan_record_change()`` (the transaction-local ``masterplan.*`` settings,
  else the database user) and, like it, nothing for rows written by other triggers;
- the table's ``<table>_record_change`` row trigger now fires on UPDATE and DELETE
  only (an edit or delete of a history row, where a superuser's is refused anyway,
  is still recorded with its values), and ``<table>_record_created`` on INSERT.

Backwards restores the row trigger on INSERT, UPDATE and DELETE and drops the
statement trigger and its function. The entries are the same either way; within one
statement, the created rows' entries now follow the entries of the row triggers.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-02T00:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Change log: the rows of history tables recorded once per statement"

RECORD_CREATED = """
CREATE FUNCTION masterplan_record_created() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    by_kind text := coalesce(nullif(current_setting('masterplan.actor_kind', true), ''),
                             'DATABASE');
    by_name text := left(coalesce(nullif(current_setting('masterplan.actor', true), ''),
                                  session_user), 255);
    by_id integer := nullif(current_setting('masterplan.actor_id', true), '')::integer;
    doing text := left(coalesce(nullif(current_setting('masterplan.action', true), ''),
                                'direct SQL'), 255);
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    -- Each statement names only the columns its tables have: PL/pgSQL plans a
    -- statement for a table the first time that table runs it.
    IF TG_ARGV[0] = 'workspace_id' AND TG_ARGV[1] = 'lead_id' THEN
        INSERT INTO change_log (actor_kind, actor, actor_id, action, operation, table_name,
                                row_id, workspace_id, lead_id)
        SELECT by_kind, by_name, by_id, doing, 'CREATE', TG_TABLE_NAME,
               created.id, created.workspace_id, created.lead_id
          FROM created_rows AS created;
    ELSIF TG_ARGV[0] = 'workspace_id' AND TG_ARGV[1] = '' THEN
        INSERT INTO change_log (actor_kind, actor, actor_id, action, operation, table_name,
                                row_id, workspace_id)
        SELECT by_kind, by_name, by_id, doing, 'CREATE', TG_TABLE_NAME,
               created.id, created.workspace_id
          FROM created_rows AS created;
    ELSIF TG_ARGV[0] = '' AND TG_ARGV[1] = '' THEN
        INSERT INTO change_log (actor_kind, actor, actor_id, action, operation, table_name,
                                row_id)
        SELECT by_kind, by_name, by_id, doing, 'CREATE', TG_TABLE_NAME, created.id
          FROM created_rows AS created;
    ELSE
        RAISE EXCEPTION 'masterplan_record_created: no statement for columns (%, %) of %',
            TG_ARGV[0], TG_ARGV[1], TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$
"""

# table -> (hidden columns of its row trigger, its workspace column, its lead column)
HISTORY_TABLES: dict[str, tuple[str, str, str]] = {
    "chat_message": ("platform_payload", "", ""),
    "policy_decision": ("", "workspace_id", "lead_id"),
    "outreach_attestation": ("", "workspace_id", ""),
    "marketing_preference_event": ("platform_payload", "workspace_id", "lead_id"),
    "consent_event": ("", "workspace_id", "lead_id"),
}


def row_trigger(table: str, events: str, hidden: str) -> str:
    return (
        f"CREATE TRIGGER {table}_record_change AFTER {events} ON {table} FOR EACH ROW "
        f"EXECUTE FUNCTION masterplan_record_change('row_is_record', '', '{hidden}')"
    )


def recorded_once(table: str, hidden: str, workspace: str, lead: str) -> list[Step]:
    drop_row_trigger = f"DROP TRIGGER {table}_record_change ON {table}"
    return [
        (drop_row_trigger, row_trigger(table, "INSERT OR UPDATE OR DELETE", hidden)),
        (row_trigger(table, "UPDATE OR DELETE", hidden), drop_row_trigger),
        (
            f"CREATE TRIGGER {table}_record_created AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS created_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION masterplan_record_created('{workspace}', '{lead}')",
            f"DROP TRIGGER {table}_record_created ON {table}",
        ),
    ]


STEPS: list[Step] = [
    (RECORD_CREATED, "DROP FUNCTION masterplan_record_created()"),
    *(step for table, options in HISTORY_TABLES.items() for step in recorded_once(table, *options)),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
