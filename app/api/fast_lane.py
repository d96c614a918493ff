"""The API's hot paths without the framework's per-request cost.

FastAPI (app/api/routes/) declares every endpoint: its OpenAPI document, its
validation and every refusal. For the hot paths measured in docs/benchmarks.md a
request that is plainly valid is answered here instead, before FastAPI's
middleware, routing and dependency machinery: the same token check (app/tokens.py,
with the scope the FastAPI route declares) and request models, then the same
answer (app/api/answers.py) the FastAPI route gives. Anything this lane is not sure
of (an unknown, missing, expired or out-of-scope token, a value its parsers do not
accept, a refusal by the domain or the database) is handed to FastAPI unchanged,
so every error still comes from one place. Outages propagate to the outage guard.

A refused write changed nothing (each domain call is one statement or one
transaction), so FastAPI repeating it gives the same refusal. For the same reason
a write needs no request transaction: its statements name the caller for the
change log themselves (``statements_named``, app/change_log.py).
"""

import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import pydantic
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import answers, routes
from app.api.auth import route_scope
from app.api.parameters import ExternalId, Limit, RowId
from app.api.schemas import (
    ClaimRequest,
    LeadFields,
    MessageCreate,
    PermitRequest,
)
from app.change_log import records_changes, statements_named, token_actor
from app.db.outages import outage_kind
from app.edge.body import read_body
from app.edge.headers import ResponseHeaders
from app.enums import LeadStage, TokenScope
from app.errors import DomainError
from app.metrics import ROUTE_TEMPLATE
from app.pagination import DEFAULT_PAGE_SIZE, decode_cursor
from app.tokens import Caller, caller_of_authorization, refusal


class Decline(Exception):
    """This lane does not answer the request; FastAPI does."""


@dataclass(frozen=True)
class LaneRequest:
    workspace_id: int
    path: dict[str, str]
    query: dict[str, str]
    body: bytes


# The routes' own parameter types (app/api/parameters.py), validated as FastAPI does.
ROW_ID = TypeAdapter(RowId)
PAGE_SIZE = TypeAdapter(Limit)
EXTERNAL_ID = TypeAdapter(ExternalId)


def row_id(text: str) -> int:
    return ROW_ID.validate_python(text)


def page_size(query: dict[str, str]) -> int:
    return PAGE_SIZE.validate_python(query.get("limit", DEFAULT_PAGE_SIZE))


def cursor_key(query: dict[str, str], *types: type) -> tuple | None:
    cursor = query.get("cursor")
    if cursor is None:
        return None
    return decode_cursor(cursor, *types)  # InvalidValue: FastAPI answers it


def no_other_parameters(query: dict[str, str], *names: str) -> None:
    if not set(query) <= set(names):
        raise Decline


def external_id(call: LaneRequest) -> str:
    value = EXTERNAL_ID.validate_python(call.path["external_id"])
    if not value.strip():
        raise Decline  # the route says why
    return value


async def read_lead(call: LaneRequest) -> Response:
    no_other_parameters(call.query)
    return await answers.lead(call.workspace_id, row_id(call.path["lead_id"]))


async def read_lead_by_external_id(call: LaneRequest) -> Response:
    no_other_parameters(call.query)
    return await answers.lead_by_external_id(call.workspace_id, external_id(call))


async def upsert_lead(call: LaneRequest) -> Response:
    no_other_parameters(call.query)
    fields = LeadFields.model_validate_json(call.body).model_dump(exclude_unset=True)
    return await answers.upsert_lead(call.workspace_id, external_id(call), fields)


async def list_leads(call: LaneRequest) -> Response:
    no_other_parameters(call.query, "stage", "cursor", "limit")  # tag and due_before: FastAPI
    limit = page_size(call.query)
    stage = LeadStage(call.query["stage"]) if "stage" in call.query else None
    after = cursor_key(call.query, int)
    after_id = after[0] if after else None
    return await answers.lead_page(call.workspace_id, limit, stage, after_id=after_id)


async def claim_followups(call: LaneRequest) -> Response:
    no_other_parameters(call.query)
    body = ClaimRequest.model_validate_json(call.body)
    return await answers.claimed_followups(call.workspace_id, body.limit, body.lease_seconds)


async def append_message(call: LaneRequest) -> Response:
    no_other_parameters(call.query)
    body = MessageCreate.model_validate_json(call.body)
    return await answers.appended_message(call.workspace_id, row_id(call.path["thread_id"]), body)


async def list_messages(call: LaneRequest) -> Response:
    no_other_parameters(call.query, "cursor", "limit")
    limit = page_size(call.query)
    before = cursor_key(call.query, datetime, int)
    thread_id = row_id(call.path["thread_id"])
    return await answers.message_page(call.workspace_id, thread_id, before, limit)


async def request_permit(call: LaneRequest) -> Response:
    no_other_parameters(call.query)
    body = PermitRequest.model_validate_json(call.body)
    return await answers.permit_decision(call.workspace_id, row_id(call.path["lead_id"]), body.kind)


Handler = Callable[[LaneRequest], Awaitable[Response]]
# The routes this lane answers, each under the FastAPI route whose declaration
# (method, path, path parameter names and types) it takes.
LANES: dict[Callable[..., Awaitable[Any]], Handler] = {
    routes.leads.read_lead: read_lead,
    routes.leads.read_lead_by_external_id: read_lead_by_external_id,
    routes.leads.upsert_lead: upsert_lead,
    routes.leads.list_leads: list_leads,
    routes.followups.claim_followups: claim_followups,
    routes.conversations.append_message: append_message,
    routes.conversations.list_messages: list_messages,
    routes.policy.request_permit: request_permit,
}


@dataclass(frozen=True)
class LaneRoute:
    methods: set[str]
    pattern: re.Pattern[str]
    handler: Handler
    template: str  # the FastAPI route's path template, under the prefix (app/metrics.py)
    token_scope: TokenScope  # the scope the FastAPI route declares (app/api/auth.py)


def lane_routes(prefix: str) -> list[LaneRoute]:
    """The declared method(s), path pattern, template and token scope of each route in
    ``LANES``, under ``prefix``."""
    declared = [
        LaneRoute(
            route.methods,
            re.compile(f"^{re.escape(prefix)}{route.path_regex.pattern.removeprefix('^')}"),
            LANES[route.endpoint],
            prefix + route.path_format,
            route_scope(route),  # type: ignore[arg-type]  # None is refused below
        )
        for router in routes.ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint in LANES
    ]
    if len(declared) != len(LANES) or any(lane.token_scope is None for lane in declared):
        raise RuntimeError(
            "every fast-lane handler answers one declared FastAPI route with a scope"
        )
    return declared


# What this lane leaves to FastAPI: its answer is the documented refusal.
DECLINED = (Decline, DomainError, pydantic.ValidationError, ValueError, asyncpg.PostgresError)


class FastLane:
    """ASGI middleware in front of the whole site; serves ``LANES`` under ``prefix``."""

    def __init__(
        self, app: ASGIApp, prefix: str, max_body_bytes: int, headers: dict[str, str]
    ) -> None:
        self.app = app
        self.prefix = f"{prefix}/"
        self.max_body_bytes = max_body_bytes
        self.headers = ResponseHeaders(headers)
        self.routes = lane_routes(prefix)

    def _route(self, scope: Scope) -> tuple[LaneRoute, dict[str, str]] | None:
        for route in self.routes:
            if scope["method"] in route.methods and (match := route.pattern.match(scope["path"])):
                return route, match.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        lane, path = route
        body, replayed = await read_body(scope, receive, self.max_body_bytes)
        response = (
            await self._answer(scope, lane.handler, lane.token_scope, path, body.content)
            if body.complete
            else None
        )
        if response is None:
            await self.app(scope, replayed, send)  # FastAPI's guard answers a body too large
            return
        scope[ROUTE_TEMPLATE] = lane.template
        await self.headers.add_to(response)(scope, receive, send)

    async def _answer(
        self,
        scope: Scope,
        handler: Handler,
        token_scope: TokenScope,
        path: dict[str, str],
        body: bytes,
    ) -> Response | None:
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "application/json").split(";")[0].strip()
        if body and not content_type.lower().endswith(("/json", "+json")):
            return None
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        query = dict(pairs)
        if len(query) != len(pairs):
            return None  # a repeated parameter: FastAPI reads those
        try:
            caller = await caller_of_authorization(headers.get("authorization"))
            if caller is None or refusal(caller, token_scope, scope["method"]) is not None:
                return None  # FastAPI's route refuses it, in words
            with self._named(scope, caller):
                return await handler(LaneRequest(caller.workspace_id, path, query, body))
        except DECLINED as error:
            if outage_kind(error) is not None:
                raise
            return None

    def _named(self, scope: Scope, caller: Caller) -> contextlib.AbstractContextManager:
        """A write's statements name the token for the change log (app/change_log.py)."""
        if records_changes(scope, (self.prefix,)):
            return statements_named(token_actor(caller), scope)
        return contextlib.nullcontext()
