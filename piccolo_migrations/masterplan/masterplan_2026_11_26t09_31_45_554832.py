"""Database rules Piccolo cannot declare on the tables.

Forwards adds, backwards removes, in reverse order:
- ``workspace_default_key``: at most one workspace is the default one;
- ``strategy_version_one_active``: at most one ACTIVE strategy version per workspace;
- composite tenant foreign keys: a conversation thread and a policy decision
  reference a lead of their own workspace;
- append-only audit: policy_decision and outreach_attestation refuse UPDATE,
  DELETE and TRUNCATE; a workspace or lead with audit rows cannot be deleted;
- composite indexes for the API layer's queries.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, append_only, sql_steps_manager

ID = "2026-11-26T09:31:45:554832"
VERSION = "1.38.0"
DESCRIPTION = "database rules: tenant keys, one active strategy, append-only audit, query indexes"

REFUSE_AUDIT_CHANGE = """
CREATE FUNCTION masterplan_refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is an append-only audit table: % is not allowed',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a new row instead of changing history.';
END
$$
"""

KEEP_WORKSPACE_AUDIT_TRAIL = """
CREATE FUNCTION masterplan_keep_workspace_audit_trail() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM policy_decision WHERE workspace_id = OLD.id)
       OR EXISTS (SELECT 1 FROM outreach_attestation WHERE workspace_id = OLD.id)
    THEN
        RAISE EXCEPTION 'workspace % cannot be deleted: it has audit records '
            '(policy decisions or outreach attestations), which are kept', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END
$$
"""

KEEP_LEAD_AUDIT_TRAIL = """
CREATE FUNCTION masterplan_keep_lead_audit_trail() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM policy_decision WHERE lead_id = OLD.id) THEN
        RAISE EXCEPTION 'lead % cannot be deleted: it has policy decisions, '
            'which are kept as audit records', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END
$$
"""


# (forwards, backwards) pairs; backwards runs them in reverse order.
STEPS: list[Step] = [
    (
        "CREATE UNIQUE INDEX workspace_default_key ON workspace (name) WHERE name = 'Default'",
        "DROP INDEX workspace_default_key",
    ),
    (
        "CREATE UNIQUE INDEX strategy_version_one_active "
        "ON strategy_version (workspace_id) WHERE status = 'ACTIVE'",
        "DROP INDEX strategy_version_one_active",
    ),
    (
        "ALTER TABLE conversation_thread ADD CONSTRAINT conversation_thread_lead_tenant_fkey "
        "FOREIGN KEY (workspace_id, lead_id) REFERENCES lead (workspace_id, id) "
        "ON DELETE CASCADE ON UPDATE CASCADE",
        "ALTER TABLE conversation_thread DROP CONSTRAINT conversation_thread_lead_tenant_fkey",
    ),
    (
        "ALTER TABLE policy_decision ADD CONSTRAINT policy_decision_lead_tenant_fkey "
        "FOREIGN KEY (workspace_id, lead_id) REFERENCES lead (workspace_id, id) "
        "ON DELETE RESTRICT ON UPDATE RESTRICT",
        "ALTER TABLE policy_decision DROP CONSTRAINT policy_decision_lead_tenant_fkey",
    ),
    (REFUSE_AUDIT_CHANGE, "DROP FUNCTION masterplan_refuse_audit_change()"),
    *append_only("policy_decision"),
    *append_only("outreach_attestation"),
    (
        KEEP_WORKSPACE_AUDIT_TRAIL,
        "DROP FUNCTION masterplan_keep_workspace_audit_trail()",
    ),
    (
        "CREATE TRIGGER workspace_keep_audit_trail BEFORE DELETE ON workspace "
        "FOR EACH ROW EXECUTE FUNCTION masterplan_keep_workspace_audit_trail()",
        "DROP TRIGGER workspace_keep_audit_trail ON workspace",
    ),
    (KEEP_LEAD_AUDIT_TRAIL, "DROP FUNCTION masterplan_keep_lead_audit_trail()"),
    (
        "CREATE TRIGGER lead_keep_audit_trail BEFORE DELETE ON lead "
        "FOR EACH ROW EXECUTE FUNCTION masterplan_keep_lead_audit_trail()",
        "DROP TRIGGER lead_keep_audit_trail ON lead",
    ),
    (
        "CREATE INDEX lead_workspace_next_followup ON lead (workspace_id, next_followup_at)",
        "DROP INDEX lead_workspace_next_followup",
    ),
    (
        "CREATE INDEX chat_message_thread_created ON chat_message (thread_id, created_at)",
        "DROP INDEX chat_message_thread_created",
    ),
    (
        "CREATE INDEX policy_decision_lead_created ON policy_decision (lead_id, created_at)",
        "DROP INDEX policy_decision_lead_created",
    ),
    (
        "CREATE INDEX policy_decision_workspace_created ON policy_decision "
        "(workspace_id, created_at)",
        "DROP INDEX policy_decision_workspace_created",
    ),
    (
        "CREATE INDEX outreach_attestation_workspace_timestamp "
        'ON outreach_attestation (workspace_id, "timestamp")',
        "DROP INDEX outreach_attestation_workspace_timestamp",
    ),
    (
        "CREATE INDEX conversation_thread_lead ON conversation_thread (lead_id)",
        "DROP INDEX conversation_thread_lead",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
