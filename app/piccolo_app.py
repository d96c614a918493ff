"""The ``masterplan`` Piccolo app: the M1 domain tables and their commands."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, Command

from app.commands.create_first_admin import create_first_admin
from app.commands.normalize_lead_ids import normalize_lead_ids
from app.commands.reprocess_webhook_inbox import reprocess_webhook_inbox
from app.commands.reset_mfa import reset_mfa
from app.commands.seed import seed
from app.commands.tokens import create_token, list_tokens, revoke_token
from app.tables import TABLES

PROJECT_ROOT = Path(__file__).resolve().parent.parent

APP_CONFIG = AppConfig(
    app_name="masterplan",
    migrations_folder_path=str(PROJECT_ROOT / "piccolo_migrations" / "masterplan"),
    table_classes=TABLES,
    # The change log records operator accounts and their authenticator secrets too:
    # their tables must exist first.
    migration_dependencies=[
        "piccolo.apps.user.piccolo_app",
        "piccolo_api.mfa.authenticator.piccolo_app",
    ],
    commands=[
        Command(callable=seed),
        Command(callable=create_first_admin),
        Command(callable=normalize_lead_ids),
        Command(callable=reprocess_webhook_inbox),
        Command(callable=create_token, command_name="create-token", aliases=["create_token"]),
        Command(callable=list_tokens, command_name="list-tokens", aliases=["list_tokens"]),
        Command(callable=revoke_token, command_name="revoke-token", aliases=["revoke_token"]),
        Command(callable=reset_mfa, command_name="reset-mfa", aliases=["reset_mfa"]),
    ],
)
