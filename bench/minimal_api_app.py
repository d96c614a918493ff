"""The yardstick for the HTTP benchmark: a minimal Starlette + asyncpg app serving the
API's hot paths with the same SQL (imported from the project) and the same JSON,
nothing else: a bearer token checked against the hashes loaded at start-up, path and
body read as they come, rows encoded with the API's response models. A write sends
the statement exactly as the API does: naming the token and the request for the
change log in the same statement (app/db/executor.py ``statement_setting``).

    DATABASE_URL=... uvicorn --app-dir bench minimal_api_app:app
"""

import contextlib
import json
import os

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import conversations, leads
from app.api.schemas import ClaimOut, DecisionOut, LeadOut, LeadPage, MessageOut, MessagePage
from app.change_log import Actor, actor_settings
from app.db.executor import positional, setting_arguments, statement_setting
from app.enums import ChangeActorKind, LeadStage
from app.pagination import encode_cursor
from app.phone_numbers import normalized_external_id
from app.policy import engine
from app.tokens import token_hash

pool: asyncpg.Pool | None = None
tokens: dict[str, tuple[int, Actor]] = {}
SQL = {
    "by_id": positional(leads.LEAD_BY_ID),
    "by_external_id": positional(leads.LEAD_BY_EXTERNAL_ID),
    "history": positional(conversations.MESSAGE_PAGE),
}


def caller(request: Request) -> tuple[int, Actor]:
    _, _, token = request.headers.get("authorization", "").partition(" ")
    return tokens[token_hash(token)]


def workspace(request: Request) -> int:
    return caller(request)[0]


def write(request: Request, sql: str, *arguments: object) -> tuple:
    """A write statement and its arguments as the API sends them: naming the token
    and the request for the change log."""
    _, actor = caller(request)
    action = f"{request.method} {request.url.path}"
    pairs = setting_arguments(actor_settings(actor, action))
    statement, values = statement_setting(sql, arguments, pairs)
    return (statement, *values)


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type="application/json")


def lead(row: asyncpg.Record) -> bytes:
    return LeadOut.model_validate(dict(row)).model_dump_json().encode()


async def lead_by_id(request: Request) -> Response:
    workspace_id = workspace(request)
    row = await pool.fetchrow(SQL["by_id"], int(request.path_params["id"]), workspace_id)
    return json_response(lead(row)) if row else json_response(b"{}", 404)


async def lead_by_external_id(request: Request) -> Response:
    workspace_id = workspace(request)
    external_id = normalized_external_id(request.path_params["external_id"])
    row = await pool.fetchrow(SQL["by_external_id"], workspace_id, external_id)
    return json_response(lead(row)) if row else json_response(b"{}", 404)


async def upsert(request: Request) -> Response:
    workspace_id = workspace(request)
    fields = leads.checked_fields(json.loads(await request.body()))
    external_id = normalized_external_id(request.path_params["external_id"])
    sql = leads.upsert_statement(tuple(fields))
    row = dict(
        await pool.fetchrow(*write(request, sql, workspace_id, external_id, *fields.values()))
    )
    created = row.pop("created")
    return json_response(
        LeadOut.model_validate(row).model_dump_json().encode(), 201 if created else 200
    )


async def lead_list(request: Request) -> Response:
    workspace_id = workspace(request)
    limit = int(request.query_params.get("limit", 50))
    stage = LeadStage(request.query_params["stage"]) if "stage" in request.query_params else None
    sql, arguments = leads.lead_list_query(workspace_id, stage, None, None, None, limit)
    rows = [dict(row) for row in await pool.fetch(positional(sql), *arguments)]
    cursor = encode_cursor(rows[-1]["id"]) if len(rows) == limit else None
    return json_response(LeadPage(items=rows, next_cursor=cursor).model_dump_json().encode())


async def claim(request: Request) -> Response:
    workspace_id = workspace(request)
    body = json.loads(await request.body())
    claim = write(
        request, leads.CLAIM_DUE, None, workspace_id, body["limit"], body["lease_seconds"]
    )
    rows = await pool.fetch(*claim)
    return json_response(ClaimOut(items=[dict(row) for row in rows]).model_dump_json().encode())


async def append(request: Request) -> Response:
    workspace_id = workspace(request)
    body = json.loads(await request.body())
    row = await pool.fetchrow(
        *write(
            request,
            conversations.APPEND_MESSAGE,
            body["role"],
            body["content"],
            None,
            None,
            None,
            int(request.path_params["id"]),
            workspace_id,
        )
    )
    return json_response(MessageOut.model_validate(dict(row)).model_dump_json().encode(), 201)


async def history(request: Request) -> Response:
    workspace_id = workspace(request)
    limit = int(request.query_params.get("limit", 50))
    created_at, message_id = conversations.NEWEST
    rows = await pool.fetch(
        SQL["history"], int(request.path_params["id"]), workspace_id, created_at, message_id, limit
    )
    items = [dict(row) for row in rows]
    last: dict | None = items[-1] if len(items) == limit else None
    cursor = encode_cursor(last["created_at"], last["id"]) if last else None
    page = MessagePage(items=items, next_cursor=cursor)
    return json_response(page.model_dump_json().encode())


async def send_permit(request: Request) -> Response:
    workspace_id = workspace(request)
    body = json.loads(await request.body())
    async with pool.acquire() as connection, connection.transaction():
        decision = await engine.permit_on(
            connection, workspace_id, int(request.path_params["id"]), body["kind"]
        )
    return json_response(DecisionOut.model_validate(decision).model_dump_json().encode(), 201)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    global pool
    # STATEMENT_CACHE_SIZE=0 behind PgBouncer in transaction mode, as the API's pool.
    cache = int(os.environ.get("STATEMENT_CACHE_SIZE", "100"))
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=0, max_size=10, statement_cache_size=cache
    )
    for row in await pool.fetch("SELECT id, token_hash, workspace_id, name FROM api_token"):
        actor = Actor(ChangeActorKind.API_TOKEN, row["name"], row["id"])
        tokens[row["token_hash"]] = (row["workspace_id"], actor)
    yield
    await pool.close()


app = Starlette(
    routes=[
        Route("/api/v1/leads/{id:int}", lead_by_id, methods=["GET"]),
        Route("/api/v1/leads/by-external-id/{external_id}", lead_by_external_id, methods=["GET"]),
        Route("/api/v1/leads/by-external-id/{external_id}", upsert, methods=["PUT"]),
        Route("/api/v1/leads", lead_list, methods=["GET"]),
        Route("/api/v1/followups/claim", claim, methods=["POST"]),
        Route("/api/v1/threads/{id:int}/messages", append, methods=["POST"]),
        Route("/api/v1/threads/{id:int}/messages", history, methods=["GET"]),
        Route("/api/v1/leads/{id:int}/send-permits", send_permit, methods=["POST"]),
    ],
    lifespan=lifespan,
)
