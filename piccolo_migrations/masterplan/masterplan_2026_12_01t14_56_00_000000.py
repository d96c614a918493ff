"""The webhook keeps up with the platform: rules the auto migration cannot state.

Forwards, and backwards in reverse:

- ``policy_decision_engine_reason_valid`` admits MARKETING_STOPPED (Piccolo does
  not see a changed CHECK condition). Going back refuses while decisions with it
  exist: they are audit rows and are never rewritten;
- ``marketing_preference_event`` belongs to its lead's workspace (composite
  foreign key), is append-only like the other audit tables and is recorded in the
  change log;
- ``masterplan_follow_marketing_preference()``: each platform setting
  (``source = 'platform_setting'``) sets ``lead.marketing_stopped_at`` from the
  lead's latest one by the platform's clock (a late, older one changes nothing);
  a resume that frees a lead in a follow-up stage with nothing scheduled makes
  it due at the resume;
- indexes: the inbox's unprocessed items, a lead's preference history.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.masterplan.masterplan_2026_12_01t12_01_00_000000 import (
    DROP_REASON_CHECK,
    REASONS_AFTER,
    reason_check,
)
from piccolo_migrations.sql_steps import Step, append_only, sql_steps_manager

ID = "2026-12-01T14:56:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Webhook: marketing preferences hold follow-ups; the inbox; new reason code"

REASONS_BEFORE = REASONS_AFTER
REASONS_NOW = [
    *REASONS_BEFORE[: REASONS_BEFORE.index("LEAD_CLOSED") + 1],
    "MARKETING_STOPPED",
    *REASONS_BEFORE[REASONS_BEFORE.index("LEAD_CLOSED") + 1 :],
]

FOLLOW_STAGES = "'NEW', 'CONTACTED', 'ENGAGED', 'QUALIFIED'"

FOLLOW_MARKETING_PREFERENCE = f"""
CREATE FUNCTION masterplan_follow_marketing_preference() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    latest marketing_preference_event;
BEGIN
    SELECT * INTO latest FROM marketing_preference_event
     WHERE lead_id = NEW.lead_id AND source = 'platform_setting'
     ORDER BY occurred_at DESC, id DESC LIMIT 1;
    IF latest.id <> NEW.id THEN
        RETURN NULL;
    END IF;
    UPDATE lead SET
        marketing_stopped_at = CASE WHEN NEW.preference = 'stop' THEN NEW.occurred_at END,
        next_followup_at = CASE
            WHEN NEW.preference = 'resume' AND marketing_stopped_at IS NOT NULL
                 AND next_followup_at IS NULL AND stage IN ({FOLLOW_STAGES})
            THEN NEW.occurred_at ELSE next_followup_at END
    WHERE id = NEW.lead_id;
    RETURN NULL;
END
$$
"""

STEPS: list[Step] = [
    (DROP_REASON_CHECK, reason_check(REASONS_BEFORE)),
    (reason_check(REASONS_NOW), DROP_REASON_CHECK),
    (
        "ALTER TABLE marketing_preference_event "
        "ADD CONSTRAINT marketing_preference_event_lead_tenant_fkey "
        "FOREIGN KEY (workspace_id, lead_id) REFERENCES lead (workspace_id, id) "
        "ON DELETE RESTRICT ON UPDATE RESTRICT",
        "ALTER TABLE marketing_preference_event "
        "DROP CONSTRAINT marketing_preference_event_lead_tenant_fkey",
    ),
    *append_only("marketing_preference_event"),
    (
        "CREATE TRIGGER marketing_preference_event_record_change "
        "AFTER INSERT OR UPDATE OR DELETE ON marketing_preference_event FOR EACH ROW "
        "EXECUTE FUNCTION masterplan_record_change('row_is_record', '', 'platform_payload')",
        "DROP TRIGGER marketing_preference_event_record_change ON marketing_preference_event",
    ),
    (FOLLOW_MARKETING_PREFERENCE, "DROP FUNCTION masterplan_follow_marketing_preference()"),
    (
        "CREATE TRIGGER marketing_preference_event_holds_followups "
        "AFTER INSERT ON marketing_preference_event FOR EACH ROW "
        "WHEN (NEW.source = 'platform_setting') "
        "EXECUTE FUNCTION masterplan_follow_marketing_preference()",
        "DROP TRIGGER marketing_preference_event_holds_followups ON marketing_preference_event",
    ),
    (
        "CREATE INDEX marketing_preference_event_lead "
        "ON marketing_preference_event (lead_id, occurred_at)",
        "DROP INDEX marketing_preference_event_lead",
    ),
    (
        "CREATE INDEX webhook_inbox_unprocessed ON webhook_inbox (id) WHERE processed_at IS NULL",
        "DROP INDEX webhook_inbox_unprocessed",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
