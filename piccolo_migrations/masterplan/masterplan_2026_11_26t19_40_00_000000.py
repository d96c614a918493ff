"""The change log is written by the database, in the writer's transaction.

Forwards adds, backwards removes, in reverse order:
- ``masterplan_record_change()``: an AFTER ROW trigger function that records each
  created, edited or deleted row in ``change_log``: the actor and action named by the
  transaction-local settings ``masterplan.actor_kind``, ``masterplan.actor``,
  ``masterplan.actor_id`` and ``masterplan.action`` (app/change_log.py), or the
  database user when they are not set; the changed columns with old and new values.
  Its arguments: ``values`` or ``row_is_record`` (append-only history rows: their
  creation is recorded without copying them), then columns left out (comma-separated),
  then columns whose values are not copied (comma-separated). Creates and deletes
  record the columns that hold a value; edits the columns that changed. Changes made by other
  triggers (cascades, bookkeeping) are not recorded: the statement that caused them is;
- the trigger on each table operators or API clients change;
- ``change_log`` is append-only like the other audit tables.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, append_only, sql_steps_manager

ID = "2026-11-26T19:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Change log: recorded by a trigger on every table operators and API clients change"

RECORD_CHANGE = """
CREATE FUNCTION masterplan_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    row_data jsonb := coalesce(new_row, old_row);
    left_out text[] := string_to_array(TG_ARGV[1], ',');
    hidden text[] := string_to_array(TG_ARGV[2], ',');
    changed jsonb;
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' AND TG_ARGV[0] = 'row_is_record' THEN
        changed := NULL;
    ELSE
        SELECT jsonb_object_agg(
                   key,
                   CASE WHEN key = ANY (hidden) THEN '"(not shown)"'::jsonb
                        WHEN TG_OP = 'INSERT' THEN jsonb_build_object('new', new_row -> key)
                        WHEN TG_OP = 'DELETE' THEN jsonb_build_object('old', old_row -> key)
                        ELSE jsonb_build_object('old', old_row -> key, 'new', new_row -> key)
                   END)
          INTO changed
          FROM jsonb_each(row_data) AS field (key, value)
         WHERE NOT key = ANY (left_out)
           AND CASE WHEN TG_OP = 'UPDATE'
                    THEN (old_row -> key) IS DISTINCT FROM (new_row -> key)
                    ELSE value <> 'null'::jsonb
               END;
        IF TG_OP = 'UPDATE' AND changed IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO change_log (actor_kind, actor, actor_id, action, operation, table_name, row_id,
                            workspace_id, lead_id, changes)
    VALUES (
        coalesce(nullif(current_setting('masterplan.actor_kind', true), ''), 'DATABASE'),
        left(coalesce(nullif(current_setting('masterplan.actor', true), ''), session_user), 255),
        nullif(current_setting('masterplan.actor_id', true), '')::integer,
        left(coalesce(nullif(current_setting('masterplan.action', true), ''), 'direct SQL'), 255),
        CASE TG_OP WHEN 'INSERT' THEN 'CREATE' WHEN 'UPDATE' THEN 'EDIT' ELSE 'DELETE' END,
        TG_TABLE_NAME,
        (row_data ->> 'id')::bigint,
        CASE WHEN TG_TABLE_NAME = 'workspace' THEN row_data ->> 'id'
             ELSE row_data ->> 'workspace_id' END::integer,
        CASE WHEN TG_TABLE_NAME = 'lead' THEN row_data ->> 'id'
             ELSE row_data ->> 'lead_id' END::integer,
        changed
    );
    RETURN NULL;
END
$$
"""

# table -> (mode, columns left out, columns whose values are not copied)
RECORDED_TABLES: dict[str, tuple[str, str, str]] = {
    "workspace": ("values", "", ""),
    "whatsapp_number": ("values", "", ""),
    "strategy_version": ("values", "", ""),
    # A follow-up lease is a worker's short hold on a lead, not a change to it.
    "lead": ("values", "followup_lease_until", ""),
    "conversation_thread": ("values", "", ""),
    "chat_message": ("row_is_record", "", "platform_payload"),
    "policy_decision": ("row_is_record", "", ""),
    "outreach_attestation": ("row_is_record", "", ""),
    "api_token": ("values", "", "token_hash"),
    "piccolo_user": ("values", "", "password"),
}


def recorded(table: str, mode: str, left_out: str, hidden: str) -> Step:
    return (
        f"CREATE TRIGGER {table}_record_change AFTER INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION "
        f"masterplan_record_change('{mode}', '{left_out}', '{hidden}')",
        f"DROP TRIGGER {table}_record_change ON {table}",
    )


STEPS: list[Step] = [
    *append_only("change_log"),
    (RECORD_CHANGE, "DROP FUNCTION masterplan_record_change()"),
    *(recorded(table, *options) for table, options in RECORDED_TABLES.items()),
    (
        "CREATE INDEX change_log_table_row ON change_log (table_name, row_id, created_at)",
        "DROP INDEX change_log_table_row",
    ),
    (
        "CREATE INDEX change_log_lead ON change_log (lead_id, created_at) "
        "WHERE lead_id IS NOT NULL",
        "DROP INDEX change_log_lead",
    ),
    (
        "CREATE INDEX change_log_workspace ON change_log (workspace_id, created_at)",
        "DROP INDEX change_log_workspace",
    ),
    (
        "CREATE INDEX change_log_actor ON change_log (actor, created_at)",
        "DROP INDEX change_log_actor",
    ),
    ("CREATE INDEX change_log_created ON change_log (created_at)", "DROP INDEX change_log_created"),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
