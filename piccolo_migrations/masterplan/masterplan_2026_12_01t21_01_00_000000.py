"""The consent ledger: rules the auto migration cannot state.

Forwards, and backwards in reverse:

- workspaces that already have leads keep follow-ups going without consent
  (``consent_required`` off) until an operator turns it on: their leads have no
  consent events yet. Every other workspace (a fresh install's default one
  included) and every new one requires it;
- ``policy_decision_engine_reason_valid`` admits CONSENT_MISSING. Going back refuses
  while decisions with it exist: they are audit rows and are never rewritten;
- ``masterplan_raise_policy_version()`` also raises the policy version when the
  workspace's ``consent_required`` changes;
- ``consent_wording``: versions numbered 1, 2, 3 per workspace and the text's
  SHA-256 set by the database (whatever a client sends); a version an event cites
  can be neither edited nor deleted; recorded in the change log;
- ``consent_event`` belongs to its lead's and its wording's workspace (composite
  foreign keys); its ``recorded_at`` is the database's clock and ``recorded_by``
  the change log's actor, whatever a client sends; append-only like the other
  audit tables, and recorded in the change log;
- indexes: a lead's latest event per purpose (one lookup), the ledger by
  workspace.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.masterplan.masterplan_2026_12_01t12_01_00_000000 import (
    DROP_REASON_CHECK,
    POLICY_AFTER,
    raise_policy_version,
    reason_check,
)
from piccolo_migrations.masterplan.masterplan_2026_12_01t14_56_00_000000 import REASONS_NOW
from piccolo_migrations.sql_steps import Step, append_only, sql_steps_manager

ID = "2026-12-01T21:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Consent ledger: numbered, hashed wording; append-only events; CONSENT_MISSING"

REASONS_BEFORE = REASONS_NOW
REASONS_WITH_CONSENT = [
    *REASONS_BEFORE[: REASONS_BEFORE.index("MARKETING_STOPPED") + 1],
    "CONSENT_MISSING",
    *REASONS_BEFORE[REASONS_BEFORE.index("MARKETING_STOPPED") + 1 :],
]
POLICY_WITH_CONSENT = [*POLICY_AFTER, "consent_required"]

NUMBER_AND_HASH_WORDING = """
CREATE FUNCTION masterplan_number_and_hash_wording() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- One numbering per workspace at a time: concurrent versions wait in turn.
        PERFORM pg_advisory_xact_lock(hashtext('consent_wording'), NEW.workspace_id);
        SELECT coalesce(max(version), 0) + 1 INTO NEW.version
          FROM consent_wording WHERE workspace_id = NEW.workspace_id;
    ELSE
        IF EXISTS (SELECT 1 FROM consent_event WHERE wording_id = OLD.id) THEN
            RAISE EXCEPTION 'consent wording version % is cited by consent events: it cannot change',
                OLD.version USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        NEW.workspace_id := OLD.workspace_id;
        NEW.version := OLD.version;
        NEW.created_at := OLD.created_at;
    END IF;
    NEW.sha256 := encode(sha256(convert_to(NEW.text, 'UTF8')), 'hex');
    RETURN NEW;
END
$$
"""

KEEP_CITED_WORDING = """
CREATE FUNCTION masterplan_keep_cited_wording() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM consent_event WHERE wording_id = OLD.id) THEN
        RAISE EXCEPTION 'consent wording version % is cited by consent events: it cannot be deleted',
            OLD.version USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$
"""

STAMP_CONSENT_EVENT = """
CREATE FUNCTION masterplan_stamp_consent_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.recorded_at := now();
    NEW.recorded_by_kind :=
        coalesce(nullif(current_setting('masterplan.actor_kind', true), ''), 'DATABASE');
    NEW.recorded_by :=
        left(coalesce(nullif(current_setting('masterplan.actor', true), ''), session_user), 255);
    RETURN NEW;
END
$$
"""

STEPS: list[Step] = [
    (
        "UPDATE workspace SET consent_required = false "
        "WHERE EXISTS (SELECT 1 FROM lead WHERE lead.workspace_id = workspace.id)",
        "SELECT 1",
    ),
    (DROP_REASON_CHECK, reason_check(REASONS_BEFORE)),
    (reason_check(REASONS_WITH_CONSENT), DROP_REASON_CHECK),
    (raise_policy_version(POLICY_WITH_CONSENT), raise_policy_version(POLICY_AFTER)),
    (
        "ALTER TABLE consent_wording ADD CONSTRAINT consent_wording_workspace_id_id_key "
        "UNIQUE (workspace_id, id)",
        "ALTER TABLE consent_wording DROP CONSTRAINT consent_wording_workspace_id_id_key",
    ),
    (
        "ALTER TABLE consent_event ADD CONSTRAINT consent_event_lead_tenant_fkey "
        "FOREIGN KEY (workspace_id, lead_id) REFERENCES lead (workspace_id, id) "
        "ON DELETE RESTRICT ON UPDATE RESTRICT",
        "ALTER TABLE consent_event DROP CONSTRAINT consent_event_lead_tenant_fkey",
    ),
    (
        "ALTER TABLE consent_event ADD CONSTRAINT consent_event_wording_tenant_fkey "
        "FOREIGN KEY (workspace_id, wording_id) REFERENCES consent_wording (workspace_id, id) "
        "ON DELETE RESTRICT ON UPDATE RESTRICT",
        "ALTER TABLE consent_event DROP CONSTRAINT consent_event_wording_tenant_fkey",
    ),
    (NUMBER_AND_HASH_WORDING, "DROP FUNCTION masterplan_number_and_hash_wording()"),
    (
        "CREATE TRIGGER consent_wording_number_and_hash BEFORE INSERT OR UPDATE "
        "ON consent_wording FOR EACH ROW EXECUTE FUNCTION masterplan_number_and_hash_wording()",
        "DROP TRIGGER consent_wording_number_and_hash ON consent_wording",
    ),
    (KEEP_CITED_WORDING, "DROP FUNCTION masterplan_keep_cited_wording()"),
    (
        "CREATE TRIGGER consent_wording_keep_cited BEFORE DELETE ON consent_wording "
        "FOR EACH ROW EXECUTE FUNCTION masterplan_keep_cited_wording()",
        "DROP TRIGGER consent_wording_keep_cited ON consent_wording",
    ),
    (
        "CREATE TRIGGER consent_wording_record_change "
        "AFTER INSERT OR UPDATE OR DELETE ON consent_wording FOR EACH ROW "
        "EXECUTE FUNCTION masterplan_record_change('values', '', '')",
        "DROP TRIGGER consent_wording_record_change ON consent_wording",
    ),
    (STAMP_CONSENT_EVENT, "DROP FUNCTION masterplan_stamp_consent_event()"),
    (
        "CREATE TRIGGER consent_event_stamp BEFORE INSERT ON consent_event "
        "FOR EACH ROW EXECUTE FUNCTION masterplan_stamp_consent_event()",
        "DROP TRIGGER consent_event_stamp ON consent_event",
    ),
    *append_only("consent_event"),
    (
        "CREATE TRIGGER consent_event_record_change "
        "AFTER INSERT OR UPDATE OR DELETE ON consent_event FOR EACH ROW "
        "EXECUTE FUNCTION masterplan_record_change('row_is_record', '', '')",
        "DROP TRIGGER consent_event_record_change ON consent_event",
    ),
    (
        "CREATE INDEX consent_event_lead_latest "
        "ON consent_event (lead_id, purpose, captured_at DESC, id DESC)",
        "DROP INDEX consent_event_lead_latest",
    ),
    (
        "CREATE INDEX consent_event_workspace ON consent_event (workspace_id, id DESC)",
        "DROP INDEX consent_event_workspace",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
