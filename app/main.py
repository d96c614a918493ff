"""The ASGI application: routes, mounts and lifespan, top to bottom."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from app.api.errors import error_response
from app.api.fast_lane import FastLane
from app.api.routes.whatsapp import WEBHOOK_PATH
from app.api.service import create_api
from app.db.connections import pool_settings, server_pool_settings
from app.db.outages import OUTAGES
from app.db.replicas import PrimaryWithReplicas
from app.db.server import stop_embedded_server
from app.edge.first_use import BuiltOnFirstUse
from app.edge.headers import ADMIN_SECURITY_HEADERS, API_SECURITY_HEADERS, SecurityHeaders
from app.edge.json_body import JSONBodyGuard
from app.edge.observed import ObservedRequests
from app.edge.outage_guard import RETRY_AFTER_SECONDS, UNAVAILABLE, DatabaseOutageGuard
from app.edge.recorded_writes import RecordedWrites
from app.errors import error_body
from app.metrics_endpoint import metrics
from app.settings import settings

HEALTH_CHECK_TIMEOUT_SECONDS = 2.0
API_PREFIX = "/api/v1"
API_MAX_BODY_BYTES = 8 * 1024 * 1024  # an import of lead_import.IMPORT_LIMIT leads fits


def database_engine() -> PostgresEngine:
    """The engine configured in piccolo_conf.py."""
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("piccolo_conf.py must configure a PostgresEngine")
    return engine


async def database_answers() -> None:
    """Raises unless the database answers ``SELECT 1`` within the health check's bound."""
    async with asyncio.timeout(HEALTH_CHECK_TIMEOUT_SECONDS):
        await database_engine().run_ddl("SELECT 1")


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers, 503 when it does not."""
    try:
        await database_answers()
    except Exception as error:  # any failure means "not healthy", never a 500
        OUTAGES.failed(error)
        name = type(error).__name__
        body = error_body(UNAVAILABLE, f"the database does not answer ({name})")
        return JSONResponse(
            {"status": "unavailable", "database": name, **body},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    OUTAGES.answered()
    return JSONResponse({"status": "ok", "database": "ok"})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Open the connection pools (the primary's, each replica's); on shutdown close
    them and stop the embedded server."""
    if settings().whatsapp is None:
        logging.getLogger("masterplan.whatsapp").warning(
            "WhatsApp is off (set WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN "
            "to receive leads' messages)"
        )
    engine = database_engine()
    await engine.start_connection_pool(**server_pool_settings(engine.config["dsn"]))
    if isinstance(engine, PrimaryWithReplicas):
        await engine.start_replica_pools(**pool_settings())
    try:
        yield
    finally:
        if isinstance(engine, PrimaryWithReplicas):
            await engine.close_replica_pools()
        await engine.close_connection_pool()
        stop_embedded_server()


async def not_found(request: Request, error: Exception) -> Response:
    """A path no route matches (a control character in it, say): under the API, in the
    API's error shape."""
    if request.url.path.startswith(f"{API_PREFIX}/"):
        return error_response(404, "not_found", "no such path in this API")
    return PlainTextResponse("Not Found", status_code=404)


def operator_admin() -> ASGIApp:
    """The admin behind its security headers and body limits. Built on the first admin
    request (app/edge/first_use.py), hence imported here: a process serving only the
    API never loads piccolo-admin."""
    from app.admin.csv_import import CSV_IMPORT_PATH, MAX_FILE_BODY_BYTES
    from app.admin.site import create_operator_admin
    from app.admin.two_factor import MFA_SETUP_PATH

    return SecurityHeaders(
        JSONBodyGuard(
            create_operator_admin(settings().admin),
            larger_bodies={CSV_IMPORT_PATH: MAX_FILE_BODY_BYTES},
            # piccolo-admin's enrolment page posts an HTML form.
            raw_body_paths=(MFA_SETUP_PATH,),
        ),
        ADMIN_SECURITY_HEADERS,
    )


# Every setting, the admin's too, is read and checked on import: a bad one stops the
# server with one readable line before it serves (the admin itself is built later).
settings()

# Every route: FastAPI declares and validates the API, piccolo-admin serves the admin.
site = Starlette(
    exception_handlers={404: not_found},
    routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/admin/", BuiltOnFirstUse(operator_admin)),
        Mount(
            API_PREFIX,
            SecurityHeaders(
                JSONBodyGuard(
                    create_api(),
                    API_MAX_BODY_BYTES,
                    error_body,
                    raw_body_paths=(WEBHOOK_PATH,),
                ),
                API_SECURITY_HEADERS,
            ),
        ),
    ],
    lifespan=lifespan,
)

ADMIN_API_PREFIX = "/admin/api/"

# What is served: every request with an id and counted (app/edge/observed.py), valid
# hot-path API requests answered before the framework's layers (app/api/fast_lane.py),
# each state-changing request one transaction that names its actor in the change log
# (app/change_log.py), and a database outage anywhere answered 503
# (app/edge/outage_guard.py).
app = ObservedRequests(
    DatabaseOutageGuard(
        FastLane(
            RecordedWrites(site, prefixes=(f"{API_PREFIX}/", ADMIN_API_PREFIX)),
            API_PREFIX,
            API_MAX_BODY_BYTES,
            API_SECURITY_HEADERS,
        ),
        probe=database_answers,
    )
)
