"""A token's last use is bookkeeping, not a change: the change log leaves it out.

Forwards, and backwards in reverse:

- ``api_token_record_change``: the change log trigger on ``api_token`` is made again
  with ``last_used_at`` among the columns left out, so that noting a token's use (at
  most once a minute, app/tokens.py) records nothing; backwards makes it as it was.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-02T11:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "API tokens: the change log leaves out last_used_at"


def recorded_leaving_out(left_out: str) -> str:
    return (
        "CREATE TRIGGER api_token_record_change AFTER INSERT OR UPDATE OR DELETE ON api_token "
        "FOR EACH ROW EXECUTE FUNCTION "
        f"masterplan_record_change('values', '{left_out}', 'token_hash')"
    )


DROP = "DROP TRIGGER api_token_record_change ON api_token"

STEPS: list[Step] = [
    (DROP, recorded_leaving_out("")),
    (recorded_leaving_out("last_used_at"), DROP),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
