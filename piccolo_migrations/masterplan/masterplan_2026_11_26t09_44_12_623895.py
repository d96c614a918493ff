"""Rules for operator actions that Piccolo cannot declare.

Forwards adds, backwards removes, in reverse order:
- ``strategy_version_previous_tenant_fkey``: a version's rollback target is a
  version of the same workspace;
- ``strategy_version_freeze_content``: only DRAFT versions can be edited, and no
  version returns to DRAFT;
- ``strategy_version_number_assigned``: an insert without a version number gets
  the workspace's next one, serialised on the workspace row;
- ``lead_tags_distinct``: a tag appears at most once on a lead;
- ``strategy_version_interval_overrides_valid``: interval_overrides is null or
  {follow-up stage: whole hours in 1..720}.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-11-26T09:44:12:623895"
VERSION = "1.38.0"
DESCRIPTION = (
    "operator action rules: rollback chain within the workspace, frozen non-draft "
    "strategies, assigned version numbers, distinct tags, interval_overrides shape"
)

FREEZE_STRATEGY_CONTENT = """
CREATE FUNCTION masterplan_freeze_strategy_content() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'DRAFT' AND (
        NEW.tone IS DISTINCT FROM OLD.tone
        OR NEW.objectives IS DISTINCT FROM OLD.objectives
        OR NEW.objection_handling IS DISTINCT FROM OLD.objection_handling
        OR NEW.cta_rules IS DISTINCT FROM OLD.cta_rules
        OR NEW.followup_preset IS DISTINCT FROM OLD.followup_preset
        OR NEW.interval_overrides IS DISTINCT FROM OLD.interval_overrides
        OR NEW.version_number IS DISTINCT FROM OLD.version_number
        OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id
    ) THEN
        RAISE EXCEPTION 'strategy version % is %: only DRAFT versions can be edited; '
            'create a new version instead', OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status = 'DRAFT' AND OLD.status <> 'DRAFT' THEN
        RAISE EXCEPTION 'strategy version % is %: it cannot return to DRAFT',
            OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$
"""

ASSIGN_VERSION_NUMBER = """
CREATE FUNCTION masterplan_assign_version_number() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version_number IS NULL THEN
        -- Serialise concurrent inserts of one workspace; the next statement
        -- sees versions committed while this one waited.
        PERFORM 1 FROM workspace WHERE id = NEW.workspace_id FOR UPDATE;
        SELECT coalesce(max(version_number), 0) + 1 INTO NEW.version_number
        FROM strategy_version WHERE workspace_id = NEW.workspace_id;
    END IF;
    RETURN NEW;
END
$$
"""

JSONB_ARRAY_IS_DISTINCT = """
CREATE FUNCTION masterplan_jsonb_array_is_distinct(value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(value) IS DISTINCT FROM 'array'
        OR (SELECT count(*) = count(DISTINCT element)
            FROM jsonb_array_elements(value) AS element)
$$
"""

# Follow-up stages and bounds as of this migration (app/enums.py); a test keeps
# them in step with the enum.
INTERVAL_OVERRIDES_VALID = """
CREATE FUNCTION masterplan_interval_overrides_valid(overrides jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT overrides IS NULL OR (
        jsonb_typeof(overrides) = 'object'
        AND NOT EXISTS (
            SELECT 1 FROM jsonb_each(overrides) AS entry(stage, hours)
            WHERE stage NOT IN ('NEW', 'CONTACTED', 'ENGAGED', 'QUALIFIED')
               OR CASE WHEN jsonb_typeof(hours) <> 'number' THEN true
                       ELSE hours::numeric <> trunc(hours::numeric)
                            OR hours::numeric NOT BETWEEN 1 AND 720
                  END
        )
    )
$$
"""

STEPS: list[Step] = [
    (
        "ALTER TABLE strategy_version ADD CONSTRAINT strategy_version_previous_tenant_fkey "
        "FOREIGN KEY (workspace_id, previous_active_version_id) "
        "REFERENCES strategy_version (workspace_id, id) "
        "ON DELETE SET NULL (previous_active_version_id) ON UPDATE RESTRICT",
        "ALTER TABLE strategy_version DROP CONSTRAINT strategy_version_previous_tenant_fkey",
    ),
    (FREEZE_STRATEGY_CONTENT, "DROP FUNCTION masterplan_freeze_strategy_content()"),
    (
        "CREATE TRIGGER strategy_version_freeze_content BEFORE UPDATE ON strategy_version "
        "FOR EACH ROW EXECUTE FUNCTION masterplan_freeze_strategy_content()",
        "DROP TRIGGER strategy_version_freeze_content ON strategy_version",
    ),
    (ASSIGN_VERSION_NUMBER, "DROP FUNCTION masterplan_assign_version_number()"),
    (
        "CREATE TRIGGER strategy_version_number_assigned BEFORE INSERT ON strategy_version "
        "FOR EACH ROW EXECUTE FUNCTION masterplan_assign_version_number()",
        "DROP TRIGGER strategy_version_number_assigned ON strategy_version",
    ),
    (JSONB_ARRAY_IS_DISTINCT, "DROP FUNCTION masterplan_jsonb_array_is_distinct(jsonb)"),
    (
        "ALTER TABLE lead ADD CONSTRAINT lead_tags_distinct "
        "CHECK (masterplan_jsonb_array_is_distinct(tags))",
        "ALTER TABLE lead DROP CONSTRAINT lead_tags_distinct",
    ),
    (INTERVAL_OVERRIDES_VALID, "DROP FUNCTION masterplan_interval_overrides_valid(jsonb)"),
    (
        "ALTER TABLE strategy_version ADD CONSTRAINT strategy_version_interval_overrides_valid "
        "CHECK (masterplan_interval_overrides_valid(interval_overrides))",
        "ALTER TABLE strategy_version DROP CONSTRAINT strategy_version_interval_overrides_valid",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
