from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.column_types import JSONB
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check

ID = "2026-12-01T12:00:39:644099"
VERSION = "1.38.0"
DESCRIPTION = "Public holiday calendars of a workspace"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="masterplan", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Workspace",
        tablename="workspace",
        column_name="holiday_calendars",
        db_column_name="holiday_calendars",
        column_class_name="JSONB",
        column_class=JSONB,
        params={
            "default": "[]",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Workspace",
        tablename="workspace",
        column_name="lead_country_holidays",
        db_column_name="lead_country_holidays",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": False,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Workspace",
        tablename="workspace",
        constraint_name="workspace_holiday_calendars_codes",
        constraint_class=Check,
        params={
            "condition": "jsonb_typeof(holiday_calendars) = 'array' AND jsonb_array_length(holiday_calendars) <= 20 AND NOT jsonb_path_exists(holiday_calendars, '$[*] ? (@.type() != \"string\" || !(@ like_regex \"^[A-Z][A-Z][A-Z]?(-[A-Z0-9]+)?$\"))')"
        },
        schema=None,
    )

    return manager
