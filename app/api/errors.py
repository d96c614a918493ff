"""One error shape for the whole API: {"error": {"code", "message", "fields"}}."""

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from app.enums import INTERVAL_OVERRIDE_HOURS
from app.errors import Conflict, DomainError, InvalidValue, NotFound, RuleBroken, error_body
from app.validation import in_words, problems

# The database's rules, in words, for the constraint that refused a write.
RULES_IN_WORDS = {
    "lead_workspace_external_id_key": "a lead with this external_id already exists",
    "strategy_version_one_active": "a workspace has at most one ACTIVE strategy version",
    "strategy_version_workspace_version_key": "version numbers are unique per workspace",
    "lead_takeover_remembers_stage": "a lead enters and leaves TAKE_OVER through the actions",
    "lead_tags_distinct": "a tag appears at most once on a lead",
    "strategy_version_interval_overrides_valid": (
        f"interval_overrides maps follow-up stages to whole hours {INTERVAL_OVERRIDE_HOURS}"
    ),
    "chat_message_permit_id_key": "this send permit was already used by another message",
    "chat_message_model_has_permit": "a model message needs a send permit, other messages none",
    "chat_message_permit_id_fkey": "permit_id names no policy decision",
    "chat_message_platform_message_id_key": "a message with this platform_message_id is stored",
}


def error_response(status: int, code: str, message: str, fields=None) -> JSONResponse:
    return JSONResponse(error_body(code, message, fields), status_code=status)


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    pairs = problems(error.errors())
    fields = [{"field": field, "message": message} for field, message in pairs]
    return error_response(422, "validation_error", in_words(pairs) or "invalid request", fields)


async def domain_refusal(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, NotFound):
        return error_response(404, "not_found", str(error))
    if isinstance(error, RuleBroken):
        fields = [{"field": error.field, "message": error.message}]
        return error_response(409, "conflict", str(error), fields)
    if isinstance(error, InvalidValue):
        fields = [{"field": error.field, "message": error.message}]
        return error_response(422, "validation_error", str(error), fields)
    if isinstance(error, Conflict):
        return error_response(409, "conflict", str(error))
    return error_response(400, "bad_request", str(error))


async def database_refusal(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, asyncpg.PostgresError)
    constraint = getattr(error, "constraint_name", None)
    rule = RULES_IN_WORDS.get(constraint or "", str(error).splitlines()[0])
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return error_response(409, "conflict", f"refused by the database: {rule}")
    return error_response(422, "validation_error", f"refused by the database: {rule}")


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    codes = {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        503: "unavailable",
    }
    code = codes.get(error.status_code, "http_error")
    response = error_response(error.status_code, code, str(error.detail))
    if error.headers:
        response.headers.update(error.headers)
    if error.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request))
    return response


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (the router names only the first)."""
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    return sorted(
        {
            method
            for route in request.app.router.routes
            if isinstance(route, APIRoute) and route.path_regex.match(path)
            for method in route.methods
        }
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every refusal in the one error shape."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(DomainError, domain_refusal)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, database_refusal)
    app.add_exception_handler(asyncpg.DataError, database_refusal)
    app.add_exception_handler(HTTPException, http_error)
