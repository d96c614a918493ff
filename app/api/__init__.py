"""The JSON API at /api/v1/: tenant-scoped by workspace tokens."""
