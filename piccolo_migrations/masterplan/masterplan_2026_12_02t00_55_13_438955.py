from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.column_types import Date
from piccolo.columns.column_types import Text
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Check
from piccolo.constraints import Unique

ID = "2026-12-02T00:55:13:438955"
VERSION = "1.38.0"
DESCRIPTION = "Channel limits: messaging tier, unreachable leads and per-user marketing limits, channel restrictions"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="masterplan", description=DESCRIPTION)

    manager.add_table(
        class_name="ChannelRestriction",
        tablename="channel_restriction",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        column_name="number_prefix",
        db_column_name="number_prefix",
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
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        column_name="region",
        db_column_name="region",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 2,
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
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        column_name="template_category",
        db_column_name="template_category",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 16,
            "default": "MARKETING",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum(
                "TemplateCategory",
                {
                    "MARKETING": "MARKETING",
                    "UTILITY": "UTILITY",
                    "AUTHENTICATION": "AUTHENTICATION",
                },
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        column_name="since",
        db_column_name="since",
        column_class_name="Date",
        column_class=Date,
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
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        column_name="description",
        db_column_name="description",
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
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        column_name="source",
        db_column_name="source",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 500,
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
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        constraint_name="channel_restriction_prefix_e164",
        constraint_class=Check,
        params={"condition": "number_prefix ~ '^[+][1-9][0-9]{0,14}$'"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        constraint_name="channel_restriction_region_code",
        constraint_class=Check,
        params={"condition": "region IS NULL OR region ~ '^[A-Z]{2}$'"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        constraint_name="channel_restriction_category_valid",
        constraint_class=Check,
        params={"condition": "template_category IN ('MARKETING', 'UTILITY', 'AUTHENTICATION')"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        constraint_name="channel_restriction_description_not_blank",
        constraint_class=Check,
        params={"condition": "btrim(description) <> ''"},
        schema=None,
    )

    manager.add_constraint(
        table_class_name="ChannelRestriction",
        tablename="channel_restriction",
        constraint_name="channel_restriction_once",
        constraint_class=Unique,
        params={
            "columns": ["number_prefix", "region", "template_category"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Workspace",
        tablename="workspace",
        column_name="messaging_tier",
        db_column_name="messaging_tier",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 16,
            "default": "TIER_250",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": Enum(
                "MessagingTier",
                {
                    "TIER_250": "TIER_250",
                    "TIER_2K": "TIER_2K",
                    "TIER_10K": "TIER_10K",
                    "TIER_100K": "TIER_100K",
                    "UNLIMITED": "UNLIMITED",
                },
            ),
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Lead",
        tablename="lead",
        column_name="marketing_limited_until",
        db_column_name="marketing_limited_until",
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
        column_name="unreachable_since",
        db_column_name="unreachable_since",
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

    manager.add_constraint(
        table_class_name="Workspace",
        tablename="workspace",
        constraint_name="workspace_messaging_tier_valid",
        constraint_class=Check,
        params={
            "condition": "messaging_tier IN ('TIER_250', 'TIER_2K', 'TIER_10K', 'TIER_100K', 'UNLIMITED')"
        },
        schema=None,
    )

    return manager
