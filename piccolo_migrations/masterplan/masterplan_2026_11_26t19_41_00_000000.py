"""Indexes for the operator admin at a million leads.

Forwards adds, backwards removes, in reverse order:
- ``masterplan_search_trigrams(text)``: the distinct three-character pieces of a
  lower-cased text, and ``masterplan_pattern_trigrams(text)``: those every match of a
  LIKE pattern must contain (none when the pattern escapes a character). GIN indexes on
  the first serve the admin's contains / starts / ends / exact searches of a lead's
  external id and name (app/admin/search.py adds the matching condition). They work on
  every PostgreSQL server, the embedded one included, which ships no pg_trgm;
- indexes for the orders and filters the admin offers on the big tables.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-11-26T19:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Admin at scale: trigram search of leads, indexes for the admin's orders and filters"

# PL/pgSQL: about ten times faster per row than the same in SQL, which an index
# expression cannot inline. GIN drops repeated pieces itself.
SEARCH_TRIGRAMS = """
CREATE FUNCTION masterplan_search_trigrams(value text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    folded text := lower(value);
    pieces text[] := '{}';
BEGIN
    FOR start IN 1 .. length(folded) - 2 LOOP
        pieces := pieces || substr(folded, start, 3);
    END LOOP;
    RETURN pieces;
END
$$
"""

PATTERN_TRIGRAMS = r"""
CREATE FUNCTION masterplan_pattern_trigrams(pattern text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(pattern, '\') > 0 THEN '{}'::text[]
           ELSE coalesce(
               (SELECT array_agg(DISTINCT trigram)
                  FROM regexp_split_to_table(pattern, '[%_]') AS piece,
                       unnest(masterplan_search_trigrams(piece)) AS trigram),
               '{}')
           END
$$
"""


def index(name: str, definition: str) -> Step:
    return (f"CREATE INDEX {name} ON {definition}", f"DROP INDEX {name}")


STEPS: list[Step] = [
    (SEARCH_TRIGRAMS, "DROP FUNCTION masterplan_search_trigrams(text)"),
    (PATTERN_TRIGRAMS, "DROP FUNCTION masterplan_pattern_trigrams(text)"),
    index("lead_external_id_search", "lead USING gin (masterplan_search_trigrams(external_id))"),
    index("lead_name_search", "lead USING gin (masterplan_search_trigrams(name))"),
    index("lead_created", "lead (created_at)"),
    index("lead_stage", "lead (stage)"),
    index("conversation_thread_created", "conversation_thread (created_at)"),
    index("conversation_thread_workspace", "conversation_thread (workspace_id, created_at)"),
    index("chat_message_created", "chat_message (created_at)"),
    index("chat_message_role_created", "chat_message (role, created_at)"),
    index("policy_decision_created", "policy_decision (created_at)"),
    index("policy_decision_reason_created", "policy_decision (reason_code, created_at)"),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
