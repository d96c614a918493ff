"""Migrations agree with the models, match the enums, and are reversible."""

import json
import re
from enum import StrEnum

import asyncpg
import pytest
from piccolo.apps.migrations.commands.new import AutoMigrationManager
from piccolo.conf.apps import Finder

from app.enums import (
    FLOOR_SEND_DAYS,
    BudgetTier,
    ChatRole,
    DeliveryStatus,
    FollowUpPreset,
    LeadStage,
    LeadTag,
    MessageFormat,
    ReasonCode,
    SendKind,
    StrategyStatus,
)
from app.tables import TABLES
from tests.database_setup import piccolo, public_tables

TABLE_NAMES = {table._meta.tablename for table in TABLES}

SCHEMA_QUERY = """
SELECT json_build_object(
  'columns', (SELECT json_agg(c ORDER BY c) FROM (
      SELECT table_name || '.' || column_name || ' ' || data_type || ' '
             || is_nullable || ' ' || coalesce(column_default, '') AS c
      FROM information_schema.columns WHERE table_schema = 'public') s),
  'constraints', (SELECT json_agg(c ORDER BY c) FROM (
      SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS c
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace) s),
  'indexes', (SELECT json_agg(indexdef ORDER BY indexdef) FROM pg_indexes
      WHERE schemaname = 'public'),
  'triggers', (SELECT json_agg(tgrelid::regclass || ' ' || tgname ORDER BY tgname)
      FROM pg_trigger WHERE NOT tgisinternal),
  'functions', (SELECT json_agg(proname ORDER BY proname) FROM pg_proc
      WHERE pronamespace = 'public'::regnamespace)
)::text
"""


async def schema_of(url: str) -> dict:
    """Everything migrations create in the public schema, as comparable text."""
    connection = await asyncpg.connect(url)
    try:
        return json.loads(await connection.fetchval(SCHEMA_QUERY))
    finally:
        await connection.close()


async def domain_tables_in(url: str) -> set[str]:
    return await public_tables(url) & TABLE_NAMES


@pytest.mark.parametrize("app_name", ["masterplan", "legacy"])
async def test_models_and_migrations_agree(app_name):
    app_config = Finder().get_app_config(app_name)
    alter_statements = await AutoMigrationManager().get_alter_statements(app_config=app_config)
    pending = [statement for group in alter_statements for statement in group.statements]
    assert pending == [], "models changed without a migration: piccolo migrations new --auto"


async def test_forwards_backwards_forwards_on_an_empty_database(scratch_database):
    piccolo(scratch_database, "migrations", "forwards", "all")
    assert await domain_tables_in(scratch_database) == TABLE_NAMES
    migrated = await schema_of(scratch_database)

    result = piccolo(
        scratch_database, "migrations", "backwards", "all", "--migration_id=all", "--auto_agree"
    )
    assert "[backwards]... ok" in result.stdout
    assert await domain_tables_in(scratch_database) == set()
    assert await public_tables(scratch_database) == {"migration"}
    leftovers = await schema_of(scratch_database)
    assert leftovers["functions"] is None
    assert leftovers["triggers"] is None

    piccolo(scratch_database, "migrations", "forwards", "all")
    assert await schema_of(scratch_database) == migrated


async def test_a_second_forwards_has_nothing_to_do(scratch_database):
    piccolo(scratch_database, "migrations", "forwards", "all")
    again = piccolo(scratch_database, "migrations", "forwards", "all")
    assert "No migrations need to be run" in again.stdout


ENUM_CHECKS: list[tuple[str, str, type[StrEnum]]] = [
    ("workspace", "workspace_budget_tier_valid", BudgetTier),
    ("lead", "lead_stage_valid", LeadStage),
    ("strategy_version", "strategy_version_status_valid", StrategyStatus),
    ("strategy_version", "strategy_version_followup_preset_valid", FollowUpPreset),
    ("chat_message", "chat_message_role_valid", ChatRole),
    ("policy_decision", "policy_decision_kind_valid", SendKind),
    ("policy_decision", "policy_decision_message_format_valid", MessageFormat),
    ("policy_decision", "policy_decision_engine_reason_valid", ReasonCode),
    ("chat_message", "chat_message_delivery_status_valid", DeliveryStatus),
]


async def constraint_definition(connection: asyncpg.Connection, table: str, name: str) -> str:
    definition = await connection.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = $1::regclass AND conname = $2",
        table,
        name,
    )
    assert definition is not None, f"constraint {name} is missing on {table}"
    return definition


@pytest.mark.parametrize(("table", "constraint", "enum"), ENUM_CHECKS)
async def test_each_enum_check_in_the_database_matches_its_enum(
    connection, table, constraint, enum
):
    definition = await constraint_definition(connection, table, constraint)
    allowed = set(re.findall(r"'([^']*)'::character varying", definition))
    assert allowed == {member.value for member in enum}


@pytest.mark.parametrize(
    ("table", "constraint", "values"),
    [
        ("lead", "lead_tags_valid", list(LeadTag)),
        ("workspace", "workspace_send_days_valid", list(FLOOR_SEND_DAYS)),
    ],
)
async def test_each_json_list_check_in_the_database_matches_its_values(
    connection, table, constraint, values
):
    definition = await constraint_definition(connection, table, constraint)
    allowed_json = re.search(r"<@ '(\[.*\])'::jsonb", definition)
    assert allowed_json is not None, definition
    assert set(json.loads(allowed_json.group(1))) == {value.value for value in values}
