from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import JSONB
from piccolo.columns.column_types import Serial
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check
from piccolo.table import Table


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


ID = "2026-11-26T14:01:53:783174"
VERSION = "1.38.0"
DESCRIPTION = (
    "WhatsApp inbound: numbers, platform message ids and payloads, delivery status, opt-out words"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="masterplan", description=DESCRIPTION)

    manager.add_table(
        class_name="WhatsAppNumber",
        tablename="whatsapp_number",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="WhatsAppNumber",
        tablename="whatsapp_number",
        column_name="workspace_id",
        db_column_name="workspace_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Workspace,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
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
        table_class_name="WhatsAppNumber",
        tablename="whatsapp_number",
        column_name="phone_number_id",
        db_column_name="phone_number_id",
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
        table_class_name="WhatsAppNumber",
        tablename="whatsapp_number",
        column_name="display_phone_number",
        db_column_name="display_phone_number",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
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
        table_class_name="WhatsAppNumber",
        tablename="whatsapp_number",
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
        table_class_name="WhatsAppNumber",
        tablename="whatsapp_number",
        constraint_name="whatsapp_number_phone_number_id_not_blank",
        constraint_class=Check,
        params={"condition": "btrim(phone_number_id) <> ''"},
        schema=None,
    )

    manager.add_column(
        table_class_name="Workspace",
        tablename="workspace",
        column_name="opt_out_words",
        db_column_name="opt_out_words",
        column_class_name="JSONB",
        column_class=JSONB,
        params={
            "default": '["STOP", "UNSUBSCRIBE", "BERHENTI", "CANCEL", "END", "QUIT", "OPTOUT"]',
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
        table_class_name="ChatMessage",
        tablename="chat_message",
        column_name="delivery_status",
        db_column_name="delivery_status",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 16,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum(
                "DeliveryStatus",
                {
                    "SENT": "sent",
                    "DELIVERED": "delivered",
                    "READ": "read",
                    "FAILED": "failed",
                },
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ChatMessage",
        tablename="chat_message",
        column_name="delivery_status_at",
        db_column_name="delivery_status_at",
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
        table_class_name="ChatMessage",
        tablename="chat_message",
        column_name="platform_message_id",
        db_column_name="platform_message_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 255,
            "default": None,
            "null": True,
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
        table_class_name="ChatMessage",
        tablename="chat_message",
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

    manager.add_constraint(
        table_class_name="Workspace",
        tablename="workspace",
        constraint_name="workspace_opt_out_words_array",
        constraint_class=Check,
        params={"condition": "jsonb_typeof(opt_out_words) = 'array'"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ChatMessage",
        tablename="chat_message",
        constraint_name="chat_message_delivery_status_valid",
        constraint_class=Check,
        params={"condition": "delivery_status IN ('sent', 'delivered', 'read', 'failed')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ChatMessage",
        tablename="chat_message",
        constraint_name="chat_message_platform_payload_object",
        constraint_class=Check,
        params={
            "condition": "platform_payload IS NULL OR jsonb_typeof(platform_payload) = 'object'"
        },
        schema=None,
    )

    return manager
