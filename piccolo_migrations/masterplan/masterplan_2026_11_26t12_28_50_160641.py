from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import JSONB
from piccolo.columns.column_types import Text
from piccolo.columns.column_types import Time
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.time import TimeCustom
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check
from piccolo.columns.column_types import Serial
from piccolo.table import Table


class PolicyDecision(Table, tablename="policy_decision", schema=None):
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


ID = "2026-11-26T12:28:50:160641"
VERSION = "1.38.0"
DESCRIPTION = "send policy, send permits, engine decisions, last inbound time"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="masterplan", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Workspace",
        tablename="workspace",
        column_name="blocked_dates",
        db_column_name="blocked_dates",
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
        column_name="policy_version",
        db_column_name="policy_version",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 1,
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
        column_name="send_days",
        db_column_name="send_days",
        column_class_name="JSONB",
        column_class=JSONB,
        params={
            "default": '["MON", "TUE", "WED", "THU", "FRI", "SAT"]',
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
        column_name="send_window_end",
        db_column_name="send_window_end",
        column_class_name="Time",
        column_class=Time,
        params={
            "default": TimeCustom(hour=21, minute=0, second=0),
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
        column_name="send_window_start",
        db_column_name="send_window_start",
        column_class_name="Time",
        column_class=Time,
        params={
            "default": TimeCustom(hour=9, minute=0, second=0),
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
        table_class_name="Lead",
        tablename="lead",
        column_name="last_inbound_at",
        db_column_name="last_inbound_at",
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
        column_name="permit_id",
        db_column_name="permit_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": PolicyDecision,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.restrict,
            "target_column": None,
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
        table_class_name="PolicyDecision",
        tablename="policy_decision",
        column_name="kind",
        db_column_name="kind",
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
            "choices": Enum("SendKind", {"FOLLOWUP": "followup", "REPLY": "reply"}),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="PolicyDecision",
        tablename="policy_decision",
        column_name="message_format",
        db_column_name="message_format",
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
                "MessageFormat",
                {"FREE_FORM": "free_form", "TEMPLATE": "template"},
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="PolicyDecision",
        tablename="policy_decision",
        column_name="summary",
        db_column_name="summary",
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

    manager.add_constraint(
        table_class_name="Workspace",
        tablename="workspace",
        constraint_name="workspace_send_days_not_empty",
        constraint_class=Check,
        params={"condition": "jsonb_array_length(send_days) >= 1"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Workspace",
        tablename="workspace",
        constraint_name="workspace_send_days_valid",
        constraint_class=Check,
        params={
            "condition": 'jsonb_typeof(send_days) = \'array\' AND send_days <@ \'["MON", "TUE", "WED", "THU", "FRI", "SAT"]\'::jsonb'
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Workspace",
        tablename="workspace",
        constraint_name="workspace_send_window_within_floor",
        constraint_class=Check,
        params={
            "condition": "send_window_start >= '09:00' AND send_window_end <= '21:00' AND send_window_start < send_window_end AND date_trunc('minute', send_window_start) = send_window_start AND date_trunc('minute', send_window_end) = send_window_end"
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="PolicyDecision",
        tablename="policy_decision",
        constraint_name="policy_decision_engine_format_when_allowed",
        constraint_class=Check,
        params={"condition": "kind IS NULL OR (message_format IS NOT NULL) = allow_send"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="PolicyDecision",
        tablename="policy_decision",
        constraint_name="policy_decision_engine_reason_valid",
        constraint_class=Check,
        params={
            "condition": "kind IS NULL OR reason_code IN ('LEAD_SUPPRESSED', 'LEAD_DISCONNECTED', 'HUMAN_TAKEOVER', 'ATTESTATION_MISSING', 'REPLY_WINDOW_CLOSED', 'LEAD_CLOSED', 'NO_ACTIVE_STRATEGY', 'BUDGET_RED', 'STOP_UNANSWERED', 'OUTBOUND_CAP_24H', 'BLOCKED_DATE', 'SUNDAY_HOLD', 'QUIET_HOURS', 'POLICY_PASSED')"
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="PolicyDecision",
        tablename="policy_decision",
        constraint_name="policy_decision_kind_valid",
        constraint_class=Check,
        params={"condition": "kind IN ('followup', 'reply')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="PolicyDecision",
        tablename="policy_decision",
        constraint_name="policy_decision_message_format_valid",
        constraint_class=Check,
        params={"condition": "message_format IN ('free_form', 'template')"},
        schema=None,
    )

    return manager
