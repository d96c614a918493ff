"""Migrations that adopt tables another program already created.

On a prototype database the ``zairag_*`` tables exist, with rows, before the
first migration runs. Forwards creates only the adopted tables that are missing
(marking them as created here); backwards drops an adopted table only when this
migration created it and it holds no rows. Prototype data is never dropped.
"""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.table import Table, create_table_class, sort_table_classes

CREATED_HERE = "created by masterplan migration {migration_id}"


class AdoptingMigrationManager(MigrationManager):
    """A MigrationManager whose ``add_table`` steps leave existing tables alone."""

    def __init__(self, *args: Any, adopt: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adopt = set(adopt)

    def _table_classes(self) -> list[type[Table]]:
        classes = []
        for add_table in self.add_tables:
            members = {
                column.column._meta.name: column.column
                for column in self.add_columns.for_table_class_name(add_table.class_name)
            }
            table = create_table_class(
                class_name=add_table.class_name,
                class_kwargs={"tablename": add_table.tablename, "schema": add_table.schema},
                class_members=members,
            )
            table._meta.constraints.extend(
                add_constraint.constraint
                for add_constraint in self.add_constraints.for_table_class_name(
                    add_table.class_name
                )
            )
            classes.append(table)
        return sort_table_classes(classes)

    async def _run_add_tables(self, backwards: bool = False) -> None:
        tables = self._table_classes()
        if backwards:
            for table in reversed(tables):
                await self._drop(table)
        else:
            for table in tables:
                await self._create(table)

    async def _create(self, table: type[Table]) -> None:
        name = table._meta.tablename
        if name in self.adopt and await _exists(name):
            return  # the prototype's own table: adopted as it is
        await self._run_query(table.create_table())
        if name in self.adopt:
            marker = CREATED_HERE.format(migration_id=self.migration_id)
            await _execute(f"COMMENT ON TABLE {name} IS '{marker}'")

    async def _drop(self, table: type[Table]) -> None:
        name = table._meta.tablename
        if name in self.adopt:
            marker = CREATED_HERE.format(migration_id=self.migration_id)
            rows = await _execute(
                f"SELECT obj_description('{name}'::regclass, 'pg_class') = '{marker}' AS ours, "
                f"EXISTS (SELECT 1 FROM {name}) AS has_rows"
            )
            if not rows[0]["ours"] or rows[0]["has_rows"]:
                print(f"\n    kept {name}: it holds prototype data or predates this migration")
                return
        await self._run_query(table.alter().drop_table(cascade=True))


async def _execute(sql: str) -> list[dict[str, Any]]:
    engine = engine_finder()
    if engine is None:
        raise RuntimeError("no database engine is configured (piccolo_conf.py)")
    return await engine.run_ddl(sql)


async def _exists(table: str) -> bool:
    rows = await _execute(f"SELECT to_regclass('public.{table}') IS NOT NULL AS present")
    return rows[0]["present"]
