"""Piccolo configuration: one PostgreSQL engine and the project's apps.

The database is ``DATABASE_URL`` when set (any PostgreSQL >= 15), otherwise an
embedded PostgreSQL with its data in ``.pgdata/`` (see ``app/database.py``).
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from app.database import database_url

DB = PostgresEngine(config={"dsn": database_url()})

APP_REGISTRY = AppRegistry(
    apps=[
        "app.piccolo_app",
        "app.legacy.piccolo_app",
        "piccolo.apps.user.piccolo_app",
        "piccolo_api.session_auth.piccolo_app",
    ]
)
