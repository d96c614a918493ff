"""The prototype's tables, adopted where they already exist; the prototype mapping.

Generated with --auto, then switched to AdoptingMigrationManager: on a prototype
database the zairag_* tables are left exactly as they are, and backwards never
drops a table that existed before or holds rows.
"""

from piccolo_migrations.adoption import AdoptingMigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import Boolean
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import Serial
from piccolo.columns.column_types import Timestamp
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check
from piccolo.constraints import Unique
from piccolo.table import Table


class ConversationThread(Table, tablename="conversation_thread", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class StrategyVersion(Table, tablename="strategy_version", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class ZairagAgent(Table, tablename="zairag_agents", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class ZairagChatSession(Table, tablename="zairag_chat_sessions", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


ID = "2026-11-26T10:09:47:521104"
VERSION = "1.38.0"
DESCRIPTION = "prototype tables, adopted when they exist; prototype mapping"


async def forwards():
    manager = AdoptingMigrationManager(
        migration_id=ID,
        app_name="legacy",
        description=DESCRIPTION,
        adopt=["zairag_agents", "zairag_chat_sessions", "zairag_chat_messages"],
    )

    manager.add_table(
        class_name="ZairagChatSession",
        tablename="zairag_chat_sessions",
        schema=None,
        columns=None,
    )

    manager.add_table(
        class_name="LegacyMapping",
        tablename="legacy_mapping",
        schema=None,
        columns=None,
    )

    manager.add_table(
        class_name="ZairagChatMessage",
        tablename="zairag_chat_messages",
        schema=None,
        columns=None,
    )

    manager.add_table(
        class_name="ZairagAgent",
        tablename="zairag_agents",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="ZairagChatSession",
        tablename="zairag_chat_sessions",
        column_name="agent_id",
        db_column_name="agent_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": ZairagAgent,
            "on_delete": OnDelete.no_action,
            "on_update": OnUpdate.no_action,
            "target_column": None,
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
        table_class_name="ZairagChatSession",
        tablename="zairag_chat_sessions",
        column_name="total_tokens",
        db_column_name="total_tokens",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
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
        table_class_name="ZairagChatSession",
        tablename="zairag_chat_sessions",
        column_name="prompt_tokens",
        db_column_name="prompt_tokens",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
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
        table_class_name="ZairagChatSession",
        tablename="zairag_chat_sessions",
        column_name="completion_tokens",
        db_column_name="completion_tokens",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
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
        table_class_name="ZairagChatSession",
        tablename="zairag_chat_sessions",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamp",
        column_class=Timestamp,
        params={
            "default": None,
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
        table_class_name="LegacyMapping",
        tablename="legacy_mapping",
        column_name="prototype_table",
        db_column_name="prototype_table",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
            "default": None,
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
        table_class_name="LegacyMapping",
        tablename="legacy_mapping",
        column_name="prototype_id",
        db_column_name="prototype_id",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
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
        table_class_name="LegacyMapping",
        tablename="legacy_mapping",
        column_name="strategy_version_id",
        db_column_name="strategy_version_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": StrategyVersion,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="LegacyMapping",
        tablename="legacy_mapping",
        column_name="conversation_thread_id",
        db_column_name="conversation_thread_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": ConversationThread,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="LegacyMapping",
        tablename="legacy_mapping",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
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
        table_class_name="ZairagChatMessage",
        tablename="zairag_chat_messages",
        column_name="chat_session_id",
        db_column_name="chat_session_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": ZairagChatSession,
            "on_delete": OnDelete.no_action,
            "on_update": OnUpdate.no_action,
            "target_column": None,
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
        table_class_name="ZairagChatMessage",
        tablename="zairag_chat_messages",
        column_name="role",
        db_column_name="role",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": None,
            "default": None,
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
        table_class_name="ZairagChatMessage",
        tablename="zairag_chat_messages",
        column_name="content",
        db_column_name="content",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": None,
            "default": None,
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
        table_class_name="ZairagChatMessage",
        tablename="zairag_chat_messages",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamp",
        column_class=Timestamp,
        params={
            "default": None,
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
        table_class_name="ZairagChatMessage",
        tablename="zairag_chat_messages",
        column_name="tool_calls",
        db_column_name="tool_calls",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": None,
            "default": None,
            "null": True,
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
        table_class_name="ZairagChatMessage",
        tablename="zairag_chat_messages",
        column_name="tool_call_id",
        db_column_name="tool_call_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": None,
            "default": None,
            "null": True,
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
        table_class_name="ZairagAgent",
        tablename="zairag_agents",
        column_name="name",
        db_column_name="name",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": None,
            "default": None,
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
        table_class_name="ZairagAgent",
        tablename="zairag_agents",
        column_name="system_prompt",
        db_column_name="system_prompt",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": None,
            "default": None,
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
        table_class_name="ZairagAgent",
        tablename="zairag_agents",
        column_name="model",
        db_column_name="model",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": None,
            "default": None,
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
        table_class_name="ZairagAgent",
        tablename="zairag_agents",
        column_name="reasoning_enabled",
        db_column_name="reasoning_enabled",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": True,
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
        table_class_name="LegacyMapping",
        tablename="legacy_mapping",
        constraint_name="legacy_mapping_prototype_key",
        constraint_class=Unique,
        params={
            "columns": ["prototype_table", "prototype_id"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="LegacyMapping",
        tablename="legacy_mapping",
        constraint_name="legacy_mapping_target_matches_source",
        constraint_class=Check,
        params={
            "condition": "(prototype_table = 'zairag_agents' AND strategy_version_id IS NOT NULL AND conversation_thread_id IS NULL) OR (prototype_table = 'zairag_chat_sessions' AND conversation_thread_id IS NOT NULL AND strategy_version_id IS NULL)"
        },
        schema=None,
    )

    return manager
