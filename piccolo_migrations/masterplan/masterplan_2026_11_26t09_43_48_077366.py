from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check
from piccolo.constraints import Unique

ID = "2026-11-26T09:43:48:077366"
VERSION = "1.38.0"
DESCRIPTION = "lead takeover memory, strategy rollback chain"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="masterplan", description=DESCRIPTION)

    manager.add_column(
        table_class_name="StrategyVersion",
        tablename="strategy_version",
        column_name="previous_active_version_id",
        db_column_name="previous_active_version_id",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": "self",
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
        table_class_name="Lead",
        tablename="lead",
        column_name="stage_before_takeover",
        db_column_name="stage_before_takeover",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum(
                "LeadStage",
                {
                    "NEW": "NEW",
                    "CONTACTED": "CONTACTED",
                    "ENGAGED": "ENGAGED",
                    "QUALIFIED": "QUALIFIED",
                    "OUTCOME_APPOINTMENT": "OUTCOME_APPOINTMENT",
                    "OUTCOME_PURCHASE": "OUTCOME_PURCHASE",
                    "TAKE_OVER": "TAKE_OVER",
                    "CLOSED_LOST": "CLOSED_LOST",
                    "SUPPRESSED": "SUPPRESSED",
                },
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="StrategyVersion",
        tablename="strategy_version",
        constraint_name="strategy_version_workspace_id_id_key",
        constraint_class=Unique,
        params={"columns": ["workspace_id", "id"], "nulls_distinct": True},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Lead",
        tablename="lead",
        constraint_name="lead_stage_before_takeover_valid",
        constraint_class=Check,
        params={
            "condition": "stage_before_takeover IS NULL OR stage_before_takeover IN ('NEW', 'CONTACTED', 'ENGAGED', 'QUALIFIED', 'OUTCOME_APPOINTMENT', 'OUTCOME_PURCHASE', 'CLOSED_LOST', 'SUPPRESSED')"
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Lead",
        tablename="lead",
        constraint_name="lead_takeover_remembers_stage",
        constraint_class=Check,
        params={"condition": "(stage = 'TAKE_OVER') = (stage_before_takeover IS NOT NULL)"},
        schema=None,
    )

    return manager
