"""The database layer, each concern in one module:

- ``server``: where the database is (``DATABASE_URL`` or the embedded PostgreSQL),
  URL helpers, the reachability check;
- ``executor``: one way to run SQL (placeholders, transactions, the pool, the
  change-log settings of a statement);
- ``connections``: the served application's engine and pools (PgBouncer, replicas'
  URLs);
- ``replicas``: reading from streaming replicas, and falling back to the primary.
"""
