"""The operator admin's site: piccolo-admin configured for the domain tables, its
bad-input answers, the pages added to it (overview, lead page, CSV import) and its
sign-in guards (rate limit, two-factor)."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pydantic
from fastapi import FastAPI
from piccolo.apps.user.tables import BaseUser
from piccolo_admin.endpoints import AdminRouter, TableConfig, create_admin
from piccolo_api.session_auth.middleware import SessionsAuthBackend
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from app.admin.api_tokens import TOKEN_FORMS
from app.admin.consent_ledger import CONSENT_FORMS, CONSENT_TABLES
from app.admin.crud import refusal_in_words, use_admin_crud
from app.admin.csv_import import CSV_IMPORT_PATH, csv_import_app
from app.admin.forms import FORMS
from app.admin.lead_page import lead_page_view
from app.admin.lead_zone import lead_zone
from app.admin.login_throttle import CountedInDatabase, LoginThrottle
from app.admin.overview import OVERVIEW_PATH, overview_page, to_login
from app.admin.registry import registered_tables
from app.admin.table_configs import TABLES
from app.admin.two_factor import operator_authenticators, with_two_factor
from app.edge.outage_guard import answer_outages_with_503
from app.settings import AdminSettings
from app.validation import in_words, problems

# --- bad input that reaches the database or the filter parser ----------------------------


def invalid_filter(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, pydantic.ValidationError)
    summary = in_words(problems(error.errors(), unnamed="value"))
    return JSONResponse({"detail": f"invalid value: {summary}"}, status_code=400)


def malformed_query(request: Request, error: Exception) -> JSONResponse:
    # piccolo-api raises ValueError for query parameters naming unknown columns.
    return JSONResponse({"detail": f"invalid request: {error}"}, status_code=400)


def value_refused_by_database(request: Request, error: Exception) -> JSONResponse:
    # SQLSTATE classes 22 (data exception) and 23 (integrity violation): bad input.
    # The admin UI shows {"db_error": ...} as "Database error: ...", like piccolo-api's own.
    assert isinstance(error, asyncpg.PostgresError)
    return JSONResponse({"db_error": refusal_in_words(str(error))}, status_code=422)


def fastapi_apps(app: Any) -> list[FastAPI]:
    """The FastAPI sub-applications piccolo-admin mounts (behind its middleware)."""
    found = []
    for route in getattr(app, "routes", []):
        inner = getattr(route, "app", None)
        while inner is not None and not isinstance(inner, FastAPI):
            inner = getattr(inner, "app", None)
        if inner is not None:
            found.append(inner)
    return found


def answer_bad_input_with_4xx(admin: FastAPI) -> None:
    """Bad filters and values the database refuses end in a 4xx, not a 500."""
    for app in [admin, *fastapi_apps(admin)]:
        answer_outages_with_503(app)
        app.add_exception_handler(pydantic.ValidationError, invalid_filter)
        app.add_exception_handler(ValueError, malformed_query)
        app.add_exception_handler(asyncpg.DataError, value_refused_by_database)
        app.add_exception_handler(
            asyncpg.IntegrityConstraintViolationError, value_refused_by_database
        )


SESSION_INCREASE_EXPIRY = timedelta(minutes=30)


def behind_operator_session(app: ASGIApp) -> ASGIApp:
    """``app`` behind the admin's own session check (operators only)."""
    backend = SessionsAuthBackend(
        auth_table=BaseUser,
        session_table=SessionsBase,
        admin_only=True,
        increase_expiry=SESSION_INCREASE_EXPIRY,
    )
    return AuthenticationMiddleware(app, backend, on_error=to_login)


def add_overview(admin: AdminRouter) -> None:
    """The overview page, linked from the sidebar; the lead's zone and the lead page."""
    overview = Starlette(routes=[Route("/", overview_page, methods=["GET"])])
    admin.mount("/overview", behind_operator_session(overview))
    zone = Starlette(routes=[Route("/{lead_id}/", lead_zone, methods=["GET"])])
    admin.mount("/lead-zone", behind_operator_session(zone))
    one_lead = Starlette(routes=[Route("/{lead_id}/", lead_page_view, methods=["GET"])])
    admin.mount("/lead-page", behind_operator_session(one_lead))


def add_csv_import(admin: AdminRouter) -> None:
    """The CSV import of leads with consent, linked from the sidebar."""
    admin.mount("/csv-import", behind_operator_session(csv_import_app()))


EXTRAS_SCRIPT = (Path(__file__).parent / "extras.js").read_text()


def read_only_tables(configs: list[TableConfig]) -> list[str]:
    """The tables whose rows no one adds, edits or deletes in the admin."""
    return sorted(
        config.table_class._meta.tablename
        for config in configs
        if config.validators
        and config.validators.post_single
        and config.validators.patch_single
        and config.validators.delete_single
    )


def add_admin_extras(admin: AdminRouter, read_only: list[str], two_factor: bool) -> None:
    """A script with the admin's page: lists say "10,000+" or "about N" when a count
    is bounded or estimated; form fields naming a table suggest its rows; leads link
    to their page; the ``read_only`` tables offer no add, edit or delete; without
    ``two_factor`` the user menu offers no *MFA Setup*."""
    source = (
        f"window.MASTERPLAN_READ_ONLY_TABLES = {json.dumps(read_only)};\n"
        f"window.MASTERPLAN_TWO_FACTOR = {json.dumps(two_factor)};\n{EXTRAS_SCRIPT}"
    )

    async def script(request: Request) -> Response:
        return Response(source, media_type="text/javascript")

    admin.add_route("/extras/admin-extras.js", script, methods=["GET"])
    tag = '<script src="./extras/admin-extras.js"></script>'
    admin.template = admin.template.replace("</head>", f"  {tag}\n</head>", 1)


def create_operator_admin(settings: AdminSettings) -> ASGIApp:
    """The admin ASGI app: session login (rate limited, two-factor), CSRF, tables and
    actions."""
    tables = [*TABLES, *CONSENT_TABLES, *registered_tables()]
    admin = create_admin(
        tables=tables,
        forms=[*FORMS, *CONSENT_FORMS, *TOKEN_FORMS],
        site_name="Masterplan admin",
        session_expiry=timedelta(hours=1),
        increase_expiry=SESSION_INCREASE_EXPIRY,
        max_session_expiry=timedelta(hours=12),
        production=settings.production,
        allowed_hosts=list(settings.allowed_hosts),
        auto_include_related=False,
        sidebar_links={"Overview": OVERVIEW_PATH, "Import leads (CSV)": CSV_IMPORT_PATH},
        rate_limit_provider=CountedInDatabase(),
        mfa_providers=operator_authenticators(settings.mfa),
    )
    answer_bad_input_with_4xx(admin)
    use_admin_crud(fastapi_apps(admin))
    add_overview(admin)
    add_csv_import(admin)
    add_admin_extras(admin, read_only_tables(tables), settings.mfa.enabled)
    return with_two_factor(LoginThrottle(admin), settings.mfa)
