from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import BigSerial
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import JSONB
from piccolo.columns.column_types import Serial
from piccolo.columns.column_types import Text
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check
from piccolo.constraints import Unique
from piccolo.table import Table


class Lead(Table, tablename="lead", schema=None):
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


class Workspace(Table, tablename="workspace", schema=None):
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


ID = "2026-12-01T14:55:07:209842"
VERSION = "1.38.0"
DESCRIPTION = "Webhook keeps up: lead platform user id, marketing stop, delivery errors, inbox"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="masterplan", description=DESCRIPTION)

    manager.add_table(
        class_name="WebhookInbox",
        tablename="webhook_inbox",
        schema=None,
        columns=None,
    )

    manager.add_table(
        class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="id",
        db_column_name="id",
        column_class_name="BigSerial",
        column_class=BigSerial,
        params={
            "null": False,
            "primary_key": True,
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="received_at",
        db_column_name="received_at",
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="field",
        db_column_name="field",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="phone_number_id",
        db_column_name="phone_number_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="workspace_id",
        db_column_name="workspace_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Workspace,
            "on_delete": OnDelete.set_null,
            "on_update": OnUpdate.cascade,
            "target_column": None,
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="reason",
        db_column_name="reason",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="body",
        db_column_name="body",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="digest",
        db_column_name="digest",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": None,
            "null": False,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="processed_at",
        db_column_name="processed_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="outcome",
        db_column_name="outcome",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
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
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        column_name="attempts",
        db_column_name="attempts",
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
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        column_name="workspace_id",
        db_column_name="workspace_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Workspace,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.restrict,
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
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        column_name="lead_id",
        db_column_name="lead_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Lead,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.restrict,
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
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        column_name="preference",
        db_column_name="preference",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 16,
            "default": None,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum("MarketingPreference", {"STOP": "stop", "RESUME": "resume"}),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        column_name="source",
        db_column_name="source",
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
            "choices": Enum(
                "PreferenceSource",
                {
                    "PLATFORM_SETTING": "platform_setting",
                    "QUICK_REPLY": "quick_reply",
                    "TYPED_WORD": "typed_word",
                },
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        column_name="occurred_at",
        db_column_name="occurred_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
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
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        column_name="platform_message_id",
        db_column_name="platform_message_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 255,
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
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        column_name="platform_payload",
        db_column_name="platform_payload",
        column_class_name="JSONB",
        column_class=JSONB,
        params={
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
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
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

    manager.add_constraint(
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        constraint_name="webhook_inbox_digest_is_sha256",
        constraint_class=Check,
        params={"condition": "digest ~ '^[0-9a-f]{64}$'"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        constraint_name="webhook_inbox_reason_not_blank",
        constraint_class=Check,
        params={"condition": "btrim(reason) <> ''"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="WebhookInbox",
        tablename="webhook_inbox",
        constraint_name="webhook_inbox_attempts_not_negative",
        constraint_class=Check,
        params={"condition": "attempts >= 0"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        constraint_name="marketing_preference_event_preference_valid",
        constraint_class=Check,
        params={"condition": "preference IN ('stop', 'resume')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        constraint_name="marketing_preference_event_source_valid",
        constraint_class=Check,
        params={"condition": "source IN ('platform_setting', 'quick_reply', 'typed_word')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        constraint_name="marketing_preference_event_payload_object",
        constraint_class=Check,
        params={
            "condition": "platform_payload IS NULL OR jsonb_typeof(platform_payload) = 'object'"
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="MarketingPreferenceEvent",
        tablename="marketing_preference_event",
        constraint_name="marketing_preference_event_once",
        constraint_class=Unique,
        params={
            "columns": ["lead_id", "source", "preference", "occurred_at"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Lead",
        tablename="lead",
        column_name="marketing_stopped_at",
        db_column_name="marketing_stopped_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
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
        table_class_name="Lead",
        tablename="lead",
        column_name="platform_user_id",
        db_column_name="platform_user_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 255,
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
        table_class_name="ChatMessage",
        tablename="chat_message",
        column_name="delivery_error_code",
        db_column_name="delivery_error_code",
        column_class_name="Integer",
        column_class=Integer,
        params={
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
        table_class_name="ChatMessage",
        tablename="chat_message",
        column_name="delivery_error_title",
        db_column_name="delivery_error_title",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 255,
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

    manager.add_constraint(
        table_class_name="Lead",
        tablename="lead",
        constraint_name="lead_platform_user_id_not_blank",
        constraint_class=Check,
        params={"condition": "btrim(platform_user_id) <> ''"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Lead",
        tablename="lead",
        constraint_name="lead_workspace_platform_user_id_key",
        constraint_class=Unique,
        params={
            "columns": ["workspace_id", "platform_user_id"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    return manager
