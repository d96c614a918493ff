"""The API's routes, one module per domain module; each resolves the caller's
workspace from its token (app/api/auth.py), then calls the domain. A row of another
workspace is reported exactly like a missing one (404)."""

from app.api.routes import (
    audit,
    consent,
    conversations,
    followups,
    leads,
    policy,
    strategies,
    workspace,
)

# In this order in the OpenAPI document.
ROUTERS = [
    workspace.router,
    leads.router,
    followups.router,
    policy.router,
    strategies.router,
    conversations.router,
    audit.router,
    consent.router,
]
