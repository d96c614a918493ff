"""The database layer, each concern in one module:

- ``server``: where the database is (``DATABASE_URL`` or the embedded PostgreSQL),
  URL helpers, the reachability check;
- ``executor``: one way to run SQL (``{}`` placeholders, transactions, the pool, the
  change-log settings of a statement);
- ``connections``: the served application's engine and pools (bounds, PgBouncer,
  replicas' URLs);
- ``replicas``: reading from streaming replicas, and falling back to the primary;
- ``outages``: which errors mean the database is unavailable, and the log of one.

Its settings are ``settings().database`` (app/settings.py).
"""
