"""The operator admin: piccolo-admin configured for the domain tables.

Edits pass through the same rules as every other writer (app/validation.py,
the domain modules, then the database). Operator actions are forms, each
calling one domain function. History (chat messages, policy decisions,
attestations) is read-only here.

``site.py`` builds it (``create_operator_admin``). A served process builds it when
the first admin request arrives (app/main.py): one that serves only the API never
imports piccolo-admin.
"""
