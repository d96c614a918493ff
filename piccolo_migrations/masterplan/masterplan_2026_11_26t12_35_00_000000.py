"""Send-policy rules that Piccolo cannot declare.

Forwards adds, backwards removes, in reverse order:
- ``workspace_blocked_dates_valid``: blocked dates are a list of distinct
  ISO dates (``["2027-12-25"]``) that exist on the calendar;
- ``workspace_send_days_distinct``: a send day appears once;
- ``workspace_policy_version_raised``: every change of the send policy raises
  ``policy_version`` (nobody sets it by hand), so decisions name the policy
  they were made under;
- ``chat_message_marks_inbound``: a ``user`` message moves its lead's
  ``last_inbound_at`` forward; existing messages are backfilled;
- ``chat_message_model_has_permit``: a ``model`` message names a send permit
  and other messages do not (NOT VALID: messages written before the engine
  are kept as they are);
- ``chat_message_permit_valid``: the permit allows sending, was issued by the
  engine for the thread's lead, and is at most 15 minutes old when used.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-11-26T12:35:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "send policy rules: blocked dates, distinct send days, policy version, last inbound "
    "time, send permits on model messages"
)

JSONB_IS_DATE_LIST = """
CREATE FUNCTION masterplan_jsonb_is_date_list(value jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    element jsonb;
BEGIN
    IF jsonb_typeof(value) IS DISTINCT FROM 'array' THEN
        RETURN false;
    END IF;
    FOR element IN SELECT * FROM jsonb_array_elements(value) LOOP
        IF jsonb_typeof(element) <> 'string'
           OR element #>> '{}' !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
            RETURN false;
        END IF;
        BEGIN
            -- An ISO date is read the same under every DateStyle.
            IF to_char((element #>> '{}')::date, 'YYYY-MM-DD') <> element #>> '{}' THEN
                RETURN false;
            END IF;
        EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
            RETURN false;
        END;
    END LOOP;
    RETURN true;
END
$$
"""

RAISE_POLICY_VERSION = """
CREATE FUNCTION masterplan_raise_policy_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.send_window_start, NEW.send_window_end, NEW.send_days, NEW.blocked_dates)
       IS DISTINCT FROM
       (OLD.send_window_start, OLD.send_window_end, OLD.send_days, OLD.blocked_dates) THEN
        NEW.policy_version := OLD.policy_version + 1;
    ELSE
        NEW.policy_version := OLD.policy_version;
    END IF;
    RETURN NEW;
END
$$
"""

MARK_INBOUND = """
CREATE FUNCTION masterplan_mark_inbound() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lead SET last_inbound_at = NEW.created_at
    FROM conversation_thread AS thread
    WHERE thread.id = NEW.thread_id AND lead.id = thread.lead_id
      AND (lead.last_inbound_at IS NULL OR lead.last_inbound_at < NEW.created_at);
    RETURN NULL;
END
$$
"""

BACKFILL_LAST_INBOUND = """
UPDATE lead SET last_inbound_at = inbound.latest
FROM (
    SELECT thread.lead_id, max(message.created_at) AS latest
    FROM chat_message AS message
    JOIN conversation_thread AS thread ON thread.id = message.thread_id
    WHERE message.role = 'user'
    GROUP BY thread.lead_id
) AS inbound
WHERE lead.id = inbound.lead_id
"""

# The permit lifetime as of this migration (SEND_PERMIT_MINUTES in app/enums.py).
CHECK_SEND_PERMIT = """
CREATE FUNCTION masterplan_check_send_permit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    permit record;
    thread_lead integer;
BEGIN
    SELECT lead_id INTO thread_lead FROM conversation_thread WHERE id = NEW.thread_id;
    SELECT id, lead_id, allow_send, kind, reason_code, created_at INTO permit
    FROM policy_decision WHERE id = NEW.permit_id;
    IF NOT FOUND THEN
        RETURN NEW;  -- the foreign key reports the missing decision
    END IF;
    IF permit.kind IS NULL OR NOT permit.allow_send THEN
        RAISE EXCEPTION 'policy decision % is not a send permit: it refused the send (%)',
            permit.id, permit.reason_code
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF permit.lead_id IS DISTINCT FROM thread_lead THEN
        RAISE EXCEPTION 'send permit % is for lead %, not for this thread''s lead %',
            permit.id, permit.lead_id, thread_lead
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (TG_OP = 'INSERT' OR NEW.permit_id IS DISTINCT FROM OLD.permit_id)
       AND permit.created_at < now() - interval '15 minutes' THEN
        RAISE EXCEPTION 'send permit % expired at % (a permit is good for 15 minutes)',
            permit.id, permit.created_at + interval '15 minutes'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$
"""

STEPS: list[Step] = [
    (JSONB_IS_DATE_LIST, "DROP FUNCTION masterplan_jsonb_is_date_list(jsonb)"),
    (
        "ALTER TABLE workspace ADD CONSTRAINT workspace_blocked_dates_valid "
        "CHECK (masterplan_jsonb_is_date_list(blocked_dates) "
        "AND masterplan_jsonb_array_is_distinct(blocked_dates))",
        "ALTER TABLE workspace DROP CONSTRAINT workspace_blocked_dates_valid",
    ),
    (
        "ALTER TABLE workspace ADD CONSTRAINT workspace_send_days_distinct "
        "CHECK (masterplan_jsonb_array_is_distinct(send_days))",
        "ALTER TABLE workspace DROP CONSTRAINT workspace_send_days_distinct",
    ),
    (RAISE_POLICY_VERSION, "DROP FUNCTION masterplan_raise_policy_version()"),
    (
        "CREATE TRIGGER workspace_policy_version_raised BEFORE UPDATE ON workspace "
        "FOR EACH ROW EXECUTE FUNCTION masterplan_raise_policy_version()",
        "DROP TRIGGER workspace_policy_version_raised ON workspace",
    ),
    (MARK_INBOUND, "DROP FUNCTION masterplan_mark_inbound()"),
    (
        "CREATE TRIGGER chat_message_marks_inbound AFTER INSERT ON chat_message "
        "FOR EACH ROW WHEN (NEW.role = 'user') EXECUTE FUNCTION masterplan_mark_inbound()",
        "DROP TRIGGER chat_message_marks_inbound ON chat_message",
    ),
    (BACKFILL_LAST_INBOUND, "SELECT 1"),
    (
        "ALTER TABLE chat_message ADD CONSTRAINT chat_message_model_has_permit "
        "CHECK ((role = 'model') = (permit_id IS NOT NULL)) NOT VALID",
        "ALTER TABLE chat_message DROP CONSTRAINT chat_message_model_has_permit",
    ),
    (CHECK_SEND_PERMIT, "DROP FUNCTION masterplan_check_send_permit()"),
    (
        "CREATE TRIGGER chat_message_permit_valid BEFORE INSERT OR UPDATE OF permit_id, "
        "thread_id ON chat_message FOR EACH ROW WHEN (NEW.permit_id IS NOT NULL) "
        "EXECUTE FUNCTION masterplan_check_send_permit()",
        "DROP TRIGGER chat_message_permit_valid ON chat_message",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
