"""The prototype mapping in the operator admin (found by app/admin/registry.py)."""

from piccolo_admin.endpoints import TableConfig
from piccolo_api.crud.endpoints import OrderBy

from app.admin.hooks import validators
from app.legacy.tables import LegacyMapping

TABLES = [
    TableConfig(
        LegacyMapping,
        visible_columns=[
            LegacyMapping.id,
            LegacyMapping.prototype_table,
            LegacyMapping.prototype_id,
            LegacyMapping.strategy_version_id,
            LegacyMapping.conversation_thread_id,
            LegacyMapping.created_at,
        ],
        visible_filters=[
            LegacyMapping.prototype_table,
            LegacyMapping.prototype_id,
            LegacyMapping.strategy_version_id,
            LegacyMapping.conversation_thread_id,
        ],
        order_by=[OrderBy(LegacyMapping.prototype_table), OrderBy(LegacyMapping.prototype_id)],
        menu_group="Prototype",
        validators=validators(
            history="the prototype mapping is written by 'piccolo legacy backfill' only"
        ),
    ),
]
