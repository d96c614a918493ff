"""The yardstick for the webhook benchmark: a minimal Starlette + asyncpg app that
checks the signature and runs the same SQL as app/whatsapp/inbound.py, nothing else
(its ``{}`` statements with asyncpg's ``$n`` placeholders, converted once; a status
report by inbound.record_status itself).

    DATABASE_URL=... WHATSAPP_APP_SECRET=... uvicorn --app-dir bench minimal_webhook_app:app
"""

import contextlib
import json
import os

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.conversations import ACTIVE_OR_NEW_THREAD
from app.db.executor import positional
from app.whatsapp import inbound
from app.whatsapp.payload import read_payload
from app.whatsapp.signature import signed_by

SECRET = os.environ["WHATSAPP_APP_SECRET"]
pool: asyncpg.Pool | None = None
ROUTE, THREAD, MESSAGE, LEAD_EFFECTS = map(
    positional, (inbound.ROUTE, ACTIVE_OR_NEW_THREAD, inbound.MESSAGE, inbound.LEAD_EFFECTS)
)


async def webhook(request: Request) -> JSONResponse:
    body = await request.body()
    if not signed_by(body, request.headers.get("x-hub-signature-256"), (SECRET,)):
        return JSONResponse({"error": "signature"}, status_code=401)
    changes = read_payload(body).changes
    stored = statuses = 0
    assert pool is not None
    async with pool.acquire() as connection, connection.transaction():
        routes = [await connection.fetchrow(ROUTE, c.phone_number_id) for c in changes]
        routed = [
            (c, inbound.Route(r["workspace_id"], frozenset(), frozenset()))
            for c, r in zip(changes, routes, strict=True)
        ]
        marked = await inbound.marked_leads(connection, routed)
        locks = inbound.lock_people(routed, marked)
        await connection.execute(f"{locks}SAVEPOINT {inbound.SAVEPOINT}")
        for change, route in zip(changes, routes, strict=True):
            workspace_id = route["workspace_id"]
            for message in change.messages:
                lead_id = await inbound.lead_of(connection, workspace_id, message.person)
                thread_id = await connection.fetchval(
                    THREAD, lead_id, workspace_id, lead_id, workspace_id
                )
                message_id = await connection.fetchval(
                    MESSAGE,
                    thread_id,
                    "user",
                    message.content,
                    message.platform_message_id,
                    json.dumps(message.raw),
                    message.sent_at,
                )
                if message_id is not None:
                    await connection.execute(LEAD_EFFECTS, False, lead_id)
                    stored += 1
            for status in change.statuses:
                statuses += await inbound.record_status(connection, status)
    return JSONResponse({"stored": stored, "statuses": statuses})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    global pool
    pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=4, max_size=10)
    yield
    await pool.close()


app = Starlette(
    routes=[Route("/api/v1/integrations/whatsapp/webhook", webhook, methods=["POST"])],
    lifespan=lifespan,
)
