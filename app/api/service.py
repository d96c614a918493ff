"""The API application: its routes (app/api/routes/), the WhatsApp webhook, one
error shape, and 503 while the database is away."""

from fastapi import FastAPI

from app.api.auth import document_scopes
from app.api.errors import install_error_handlers
from app.api.routes import ROUTERS, whatsapp
from app.edge.outage_guard import answer_outages_with_503


def create_api() -> FastAPI:
    """The API application, mounted at /api/v1/."""
    api = FastAPI(
        title="Masterplan API",
        version="1",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    for router in ROUTERS:
        api.include_router(router)
    api.include_router(whatsapp.router)
    api.include_router(whatsapp.numbers)
    install_error_handlers(api)
    document_scopes(api)
    answer_outages_with_503(api)
    return api
