"""The fast lane answers valid hot-path requests exactly as FastAPI would, and hands
everything else to FastAPI untouched (body included)."""

import json

import httpx
import pytest

from app.api.fast_lane import FastLane
from app.db.executor import fetch
from app.edge.headers import API_SECURITY_HEADERS
from app.main import API_MAX_BODY_BYTES, API_PREFIX, site
from tests import factories
from tests.api_client import client_for


class Recorder:
    """Stands in for the site: records what reached it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append((scope["method"], scope["path"], body))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def setting(connection):
    workspace_id = await factories.workspace(connection, "Acme")
    lead_id = await connection.fetchval(
        "INSERT INTO lead (workspace_id, external_id, timezone, next_followup_at) "
        "VALUES ($1, '+447700900123', 'Europe/London', now() - interval '1 hour') RETURNING id",
        workspace_id,
    )
    thread_id = await connection.fetchval(
        "INSERT INTO conversation_thread (workspace_id, lead_id) VALUES ($1, $2) RETURNING id",
        workspace_id,
        lead_id,
    )
    client = await client_for(workspace_id)
    token = client.http.headers["Authorization"]
    await client.http.aclose()
    return {"token": token, "lead": lead_id, "thread": thread_id}


def clients(token: str, inner) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    headers = {"Authorization": token}
    lane = FastLane(inner, API_PREFIX, API_MAX_BODY_BYTES, API_SECURITY_HEADERS)
    return (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=lane), base_url="http://t", headers=headers
        ),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=site), base_url="http://t", headers=headers
        ),
    )


def reads(setting: dict) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/v1/leads/{setting['lead']}"),
        ("GET", "/api/v1/leads/by-external-id/+44 7700 900123"),
        ("GET", "/api/v1/leads?stage=NEW&limit=1"),
        ("GET", f"/api/v1/threads/{setting['thread']}/messages?limit=5"),
    ]


async def test_valid_reads_are_answered_as_fastapi_answers_them(setting):
    lane, framework = clients(setting["token"], site)
    async with lane, framework:
        for method, path in reads(setting):
            fast, reference = (
                await lane.request(method, path),
                await framework.request(method, path),
            )
            assert (fast.status_code, fast.json()) == (reference.status_code, reference.json())
            assert fast.status_code == 200
            assert fast.headers["content-type"] == reference.headers["content-type"]
            assert fast.headers["x-content-type-options"] == "nosniff"


def writes(setting: dict) -> list[tuple[str, str, dict]]:
    return [
        ("PUT", "/api/v1/leads/by-external-id/+447700900999", {"name": "Ana"}),
        ("POST", "/api/v1/followups/claim", {"limit": 5, "lease_seconds": 60}),
        (
            "POST",
            f"/api/v1/threads/{setting['thread']}/messages",
            {"role": "user", "content": "hi"},
        ),
        ("POST", f"/api/v1/leads/{setting['lead']}/send-permits", {"kind": "followup"}),
    ]


async def test_valid_hot_path_requests_never_reach_the_framework(setting):
    recorder = Recorder()
    lane, _ = clients(setting["token"], recorder)
    async with lane:
        statuses = [(await lane.request(m, p)).status_code for m, p in reads(setting)]
        statuses += [(await lane.request(m, p, json=b)).status_code for m, p, b in writes(setting)]
    assert recorder.seen == []
    assert statuses == [200, 200, 200, 200, 201, 200, 201, 201]


async def test_the_lanes_writes_name_their_token_in_the_change_log(setting, connection):
    """No request transaction here: each statement names the caller itself, and the
    name ends with the statement's own transaction."""
    recorder = Recorder()
    lane, _ = clients(setting["token"], recorder)
    token = await connection.fetchrow("SELECT id, name FROM api_token")
    before = await connection.fetchval("SELECT coalesce(max(id), 0) FROM change_log")
    async with lane:
        for method, path, body in writes(setting):
            assert (await lane.request(method, path, json=body)).status_code < 300
    await fetch("UPDATE lead SET name = 'after' WHERE id = {}", setting["lead"])
    assert recorder.seen == []

    rows = await connection.fetch(
        "SELECT actor_kind, actor, actor_id, action, table_name FROM change_log "
        "WHERE id > $1 ORDER BY id",
        before,
    )
    by_token = [r for r in rows if r["actor_kind"] == "API_TOKEN"]
    assert {(r["actor"], r["actor_id"]) for r in by_token} == {(token["name"], token["id"])}
    # The lease is not a change; the upsert, the message and the decision are.
    assert [(r["table_name"], r["action"]) for r in by_token if r["table_name"] != "lead"] == [
        ("chat_message", f"POST /api/v1/threads/{setting['thread']}/messages"),
        ("policy_decision", f"POST /api/v1/leads/{setting['lead']}/send-permits"),
    ]
    assert by_token[0]["action"] == "PUT /api/v1/leads/by-external-id/+447700900999"
    assert [(r["actor_kind"], r["table_name"]) for r in rows[len(by_token) :]] == [
        ("DATABASE", "lead")
    ]


async def test_anything_doubtful_goes_to_the_framework_with_its_body(setting):
    recorder = Recorder()
    lane, _ = clients(setting["token"], recorder)
    thread = setting["thread"]
    doubtful = [
        ("GET", "/api/v1/leads/0", None, {}),
        ("GET", "/api/v1/leads/999999", None, {}),  # not the caller's: FastAPI's 404
        ("GET", "/api/v1/leads?limit=500", None, {}),
        ("GET", "/api/v1/leads?stage=NEW&stage=LOST", None, {}),
        ("GET", "/api/v1/leads?tag=POSITIVE", None, {}),
        ("GET", "/api/v1/leads?cursor=not-a-cursor", None, {}),
        ("POST", "/api/v1/followups/claim", b'{"limit": 0}', {}),
        ("POST", "/api/v1/followups/claim", b"[1]", {}),
        ("POST", f"/api/v1/threads/{thread}/messages", b'{"role": "model", "content": "x"}', {}),
        ("PUT", "/api/v1/leads/by-external-id/%20", b"{}", {}),
        ("PUT", "/api/v1/leads/by-external-id/x", b"{}", {"content-type": "text/plain"}),
        ("GET", f"/api/v1/leads/{setting['lead']}", None, {"authorization": "Bearer mp_nope"}),
    ]
    async with lane:
        for method, path, body, headers in doubtful:
            response = await lane.request(method, path, content=body, headers=headers)
            assert response.status_code == 299, (method, path)
    assert [(m, body) for m, _, body in recorder.seen] == [
        (m, body or b"") for m, _, body, _ in doubtful
    ]
    assert json.loads(recorder.seen[6][2]) == {"limit": 0}


def test_the_lane_answers_only_routes_fastapi_declares_with_their_own_paths():
    """Each lane handler sits under the FastAPI route of the same name, with that
    route's method and path pattern: a route moved or renamed moves the lane too."""
    from fastapi.routing import APIRoute

    from app.api.auth import route_scope
    from app.api.fast_lane import LANES, lane_routes
    from app.api.routes import ROUTERS

    declared = {
        route.endpoint: route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
    }
    assert {endpoint.__name__ for endpoint in LANES} == {h.__name__ for h in LANES.values()}
    lanes = lane_routes(API_PREFIX)
    assert len(lanes) == len(LANES) == 8
    for lane in lanes:
        (endpoint,) = [e for e, h in LANES.items() if h is lane.handler]
        route = declared[endpoint]
        assert lane.methods == route.methods
        assert lane.token_scope == route_scope(route) is not None
        pattern = lane.pattern.pattern
        assert pattern == f"^{API_PREFIX}{route.path_regex.pattern.removeprefix('^')}"
        assert lane.pattern.groupindex.keys() == route.param_convertors.keys()
        assert lane.template == f"{API_PREFIX}{route.path_format}"  # counted as FastAPI's
