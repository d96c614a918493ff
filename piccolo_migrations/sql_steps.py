"""Hand-written migrations as (forwards SQL, backwards SQL) pairs.

Backwards runs the reverse statements in reverse order, inside the same
transaction Piccolo opens for the migration.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

Step = tuple[str, str]


def append_only(table: str) -> list[Step]:
    """Triggers that refuse every change to ``table``'s existing rows."""
    return [
        (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION masterplan_refuse_audit_change()",
            f"DROP TRIGGER {table}_append_only ON {table}",
        ),
        (
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION masterplan_refuse_audit_change()",
            f"DROP TRIGGER {table}_no_truncate ON {table}",
        ),
    ]


async def run_statements(statements: list[str]) -> None:
    """Run SQL statements one by one in the migration's transaction."""
    engine = engine_finder()
    if engine is None:
        raise RuntimeError("no database engine is configured (piccolo_conf.py)")
    for statement in statements:
        await engine.run_ddl(statement)


def sql_steps_manager(
    migration_id: str, app_name: str, description: str, steps: list[Step]
) -> MigrationManager:
    """A MigrationManager that applies ``steps`` forwards and undoes them backwards."""
    manager = MigrationManager(
        migration_id=migration_id, app_name=app_name, description=description
    )

    async def apply() -> None:
        await run_statements([forward for forward, _ in steps])

    async def undo() -> None:
        await run_statements([backward for _, backward in reversed(steps)])

    manager.add_raw(apply)
    manager.add_raw_backwards(undo)
    return manager
