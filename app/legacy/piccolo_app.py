"""The ``legacy`` Piccolo app: the prototype's tables and the backfill command."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, Command

from app.legacy.commands.backfill import backfill
from app.legacy.tables import TABLES

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

APP_CONFIG = AppConfig(
    app_name="legacy",
    migrations_folder_path=str(PROJECT_ROOT / "piccolo_migrations" / "legacy"),
    table_classes=TABLES,
    migration_dependencies=["app.piccolo_app"],
    commands=[Command(callable=backfill)],
)
