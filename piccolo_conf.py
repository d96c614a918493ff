"""Piccolo configuration: one PostgreSQL engine and the project's apps.

The database is ``DATABASE_URL`` when set (any PostgreSQL >= 15), otherwise an
embedded PostgreSQL with its data in ``.pgdata/`` (see ``app/db/server.py``). Read
replicas in ``DATABASE_REPLICA_URLS`` are the engine's extra nodes
(``app/db/connections.py``, ``app/db/replicas.py``).
"""

from piccolo.conf.apps import AppRegistry

from app.db.connections import primary_engine
from app.db.server import database_url

DB = primary_engine(database_url())

APP_REGISTRY = AppRegistry(
    apps=[
        "app.piccolo_app",
        "app.legacy.piccolo_app",
        "piccolo.apps.user.piccolo_app",
        "piccolo_api.session_auth.piccolo_app",
        "piccolo_api.mfa.authenticator.piccolo_app",
    ]
)
