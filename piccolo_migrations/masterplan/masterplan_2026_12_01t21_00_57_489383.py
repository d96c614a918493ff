from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import Boolean
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


class ConsentWording(Table, tablename="consent_wording", schema=None):
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


ID = "2026-12-01T21:00:57:489383"
VERSION = "1.38.0"
DESCRIPTION = "Consent ledger: wording versions, consent events, workspace consent settings"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="masterplan", description=DESCRIPTION)

    manager.add_table(
        class_name="ConsentEvent",
        tablename="consent_event",
        schema=None,
        columns=None,
    )

    manager.add_table(
        class_name="ConsentWording",
        tablename="consent_wording",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="ConsentEvent",
        tablename="consent_event",
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
        table_class_name="ConsentEvent",
        tablename="consent_event",
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
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="action",
        db_column_name="action",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 8,
            "default": None,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum("ConsentAction", {"GRANT": "grant", "REVOKE": "revoke"}),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="purpose",
        db_column_name="purpose",
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
            "choices": Enum("ConsentPurpose", {"MARKETING": "marketing", "UTILITY": "utility"}),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="channel",
        db_column_name="channel",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 16,
            "default": "whatsapp",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum("ConsentChannel", {"WHATSAPP": "whatsapp"}),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="wording_id",
        db_column_name="wording_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": ConsentWording,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.restrict,
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
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="method",
        db_column_name="method",
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
                "ConsentMethod",
                {
                    "WEB_FORM": "web_form",
                    "CHECKBOX": "checkbox",
                    "KEYWORD_REPLY": "keyword_reply",
                    "VERBAL": "verbal",
                    "IMPORT": "import",
                },
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="evidence",
        db_column_name="evidence",
        column_class_name="JSONB",
        column_class=JSONB,
        params={
            "default": "{}",
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
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="captured_at",
        db_column_name="captured_at",
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
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="recorded_at",
        db_column_name="recorded_at",
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
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="recorded_by_kind",
        db_column_name="recorded_by_kind",
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
                "ChangeActorKind",
                {
                    "OPERATOR": "OPERATOR",
                    "API_TOKEN": "API_TOKEN",
                    "WEBHOOK": "WEBHOOK",
                    "DATABASE": "DATABASE",
                },
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="recorded_by",
        db_column_name="recorded_by",
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
        table_class_name="ConsentWording",
        tablename="consent_wording",
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
        table_class_name="ConsentWording",
        tablename="consent_wording",
        column_name="version",
        db_column_name="version",
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
        table_class_name="ConsentWording",
        tablename="consent_wording",
        column_name="channel",
        db_column_name="channel",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 16,
            "default": "whatsapp",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum("ConsentChannel", {"WHATSAPP": "whatsapp"}),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ConsentWording",
        tablename="consent_wording",
        column_name="business_name",
        db_column_name="business_name",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 255,
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
        table_class_name="ConsentWording",
        tablename="consent_wording",
        column_name="text",
        db_column_name="text",
        column_class_name="Text",
        column_class=Text,
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
        table_class_name="ConsentWording",
        tablename="consent_wording",
        column_name="sha256",
        db_column_name="sha256",
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
        table_class_name="ConsentWording",
        tablename="consent_wording",
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
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_action_valid",
        constraint_class=Check,
        params={"condition": "action IN ('grant', 'revoke')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_purpose_valid",
        constraint_class=Check,
        params={"condition": "purpose IN ('marketing', 'utility')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_channel_valid",
        constraint_class=Check,
        params={"condition": "channel IN ('whatsapp')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_method_valid",
        constraint_class=Check,
        params={
            "condition": "method IS NULL OR method IN ('web_form', 'checkbox', 'keyword_reply', 'verbal', 'import')"
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_recorded_by_kind_valid",
        constraint_class=Check,
        params={
            "condition": "recorded_by_kind IN ('OPERATOR', 'API_TOKEN', 'WEBHOOK', 'DATABASE')"
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_grant_proven",
        constraint_class=Check,
        params={
            "condition": "action <> 'grant' OR (wording_id IS NOT NULL AND method IS NOT NULL)"
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_revoke_without_wording",
        constraint_class=Check,
        params={"condition": "action <> 'revoke' OR wording_id IS NULL"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_evidence_object",
        constraint_class=Check,
        params={"condition": "jsonb_typeof(evidence) = 'object'"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        constraint_name="consent_event_captured_not_future",
        constraint_class=Check,
        params={"condition": "captured_at <= recorded_at + interval '5 minutes'"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentWording",
        tablename="consent_wording",
        constraint_name="consent_wording_channel_valid",
        constraint_class=Check,
        params={"condition": "channel IN ('whatsapp')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentWording",
        tablename="consent_wording",
        constraint_name="consent_wording_business_name_not_blank",
        constraint_class=Check,
        params={"condition": "btrim(business_name) <> ''"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentWording",
        tablename="consent_wording",
        constraint_name="consent_wording_text_not_blank",
        constraint_class=Check,
        params={"condition": "btrim(text) <> ''"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentWording",
        tablename="consent_wording",
        constraint_name="consent_wording_names_business",
        constraint_class=Check,
        params={"condition": "strpos(lower(text), lower(btrim(business_name))) > 0"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentWording",
        tablename="consent_wording",
        constraint_name="consent_wording_version_numbered",
        constraint_class=Check,
        params={"condition": "version >= 1"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentWording",
        tablename="consent_wording",
        constraint_name="consent_wording_hash_hex",
        constraint_class=Check,
        params={"condition": "sha256 ~ '^[0-9a-f]{64}$'"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ConsentWording",
        tablename="consent_wording",
        constraint_name="consent_wording_version_once",
        constraint_class=Unique,
        params={"columns": ["workspace_id", "version"], "nulls_distinct": True},
        schema=None,
    )

    manager.add_column(
        table_class_name="Workspace",
        tablename="workspace",
        column_name="consent_required",
        db_column_name="consent_required",
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

    manager.add_column(
        table_class_name="Workspace",
        tablename="workspace",
        column_name="opt_in_words",
        db_column_name="opt_in_words",
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

    manager.add_constraint(
        table_class_name="Workspace",
        tablename="workspace",
        constraint_name="workspace_opt_in_words_array",
        constraint_class=Check,
        params={"condition": "jsonb_typeof(opt_in_words) = 'array'"},
        schema=None,
    )

    return manager
