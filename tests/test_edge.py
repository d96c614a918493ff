"""The request edge's shared parts (app/edge/): a body is read once per request
whichever wrapper reads it first, fixed headers never override a response's own, and
the admin is built by its first request."""

import asyncio
import json

import httpx
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from app.edge.body import read_body
from app.edge.first_use import BuiltOnFirstUse
from app.edge.headers import ResponseHeaders, SecurityHeaders
from app.edge.json_body import JSONBodyGuard
from tests.database_setup import python_in_checkout


def chunks_of(*parts: bytes) -> tuple[Receive, list[Message]]:
    """A client sending ``parts``; the messages the app took from it."""
    taken: list[Message] = []
    messages = [
        {"type": "http.request", "body": part, "more_body": number < len(parts) - 1}
        for number, part in enumerate(parts)
    ]

    async def receive() -> Message:
        message = messages.pop(0) if messages else {"type": "http.disconnect"}
        taken.append(message)
        return message

    return receive, taken


async def drain(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def test_a_body_is_read_from_the_client_once_and_replayed_to_each_reader():
    scope: Scope = {"type": "http", "method": "POST", "path": "/"}
    receive, taken = chunks_of(b'{"a":', b" 1}")
    outer, outer_replay = await read_body(scope, receive, limit=100)
    inner, inner_replay = await read_body(scope, outer_replay, limit=100)
    assert inner is outer and outer.complete and outer.content == b'{"a": 1}'
    assert len(taken) == 2  # both chunks, taken once
    assert await drain(inner_replay) == b'{"a": 1}'
    assert len(taken) == 2


async def test_a_body_past_the_limit_is_marked_and_the_rest_left_unread():
    scope: Scope = {"type": "http", "method": "POST", "path": "/"}
    receive, taken = chunks_of(b"x" * 6, b"y" * 6, b"z")
    body, _ = await read_body(scope, receive, limit=10)
    assert (body.too_large, body.complete, len(taken)) == (True, False, 2)


async def test_the_json_guard_refuses_in_the_callers_error_shape_before_the_app_runs():
    reached: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(await drain(receive))
        await JSONResponse({"ok": True})(scope, receive, send)

    guard = JSONBodyGuard(app, 16, lambda code, message: {"error": {"code": code}})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guard), base_url="http://edge"
    ) as client:
        answers = [
            await client.post("/", content=b'{"too": "long for the limit"}'),
            await client.post("/", content=b"[1, 2]"),
            await client.post("/", content=b"{nope"),
            await client.post("/", content=b'{"a": 1}'),
        ]
    assert [(a.status_code, a.json()) for a in answers] == [
        (413, {"error": {"code": "payload_too_large"}}),
        (400, {"error": {"code": "invalid_json"}}),
        (400, {"error": {"code": "invalid_json"}}),
        (200, {"ok": True}),
    ]
    assert reached == [b'{"a": 1}']  # only the valid body reached the app, whole


async def test_fixed_headers_are_added_unless_the_response_sets_its_own():
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({}, headers={"x-frame-options": "SAMEORIGIN"})
        await response(scope, receive, send)

    wrapped = SecurityHeaders(app, {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wrapped), base_url="http://edge"
    ) as client:
        answer = await client.get("/")
    assert answer.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    direct = ResponseHeaders({"X-Content-Type-Options": "nosniff"}).add_to(JSONResponse({}))
    assert (b"x-content-type-options", b"nosniff") in direct.raw_headers
    assert json.loads(direct.body) == {}


async def test_an_app_built_on_first_use_is_built_once_for_requests_arriving_together():
    builds = []

    def build():
        builds.append(1)
        return JSONResponse({"build": len(builds)})

    lazy = BuiltOnFirstUse(build)
    assert (lazy.built, builds) == (False, [])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=lazy), base_url="http://t")
    async with client:
        answers = await asyncio.gather(*(client.get("/") for _ in range(5)))
    assert [answer.json() for answer in answers] == [{"build": 1}] * 5
    assert (lazy.built, builds) == (True, [1])


SERVE_API_THEN_ADMIN = """
import asyncio, sys, httpx
from app.main import app

async def main():
    loaded = lambda: "piccolo_admin" in sys.modules
    seen = [loaded()]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        api = await client.get("/api/v1/openapi.json")
        seen.append(loaded())
        admin = await client.get("/admin/")
        seen.append(loaded())
    print(api.status_code, admin.status_code, *seen)

asyncio.run(main())
"""


def test_a_process_serving_only_the_api_never_loads_the_admin(database_server):
    result = python_in_checkout(database_server.url, "-c", SERVE_API_THEN_ADMIN)
    assert result.stdout.split() == ["200", "200", "False", "False", "True"], result.stderr
