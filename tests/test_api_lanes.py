"""The fast lane (app/api/fast_lane.py) and FastAPI answer every hot path alike.

Each hot path gets the doubtful inputs a schema fuzzer finds (booleans, floats and
strings of digits for integers, extra fields, NUL inside JSON values), once through
the served application (fast lane first) and once through the same application
without the fast lane; both answers must be the same, and a refusal changes nothing.
"""

from typing import Any

import httpx
import pytest

from app.edge.observed import ObservedRequests
from app.edge.outage_guard import DatabaseOutageGuard
from app.main import app
from app.tokens import create_token
from tests import factories


def without_fast_lane() -> ObservedRequests:
    """The served application with its fast lane taken out."""
    guard = app.app
    return ObservedRequests(DatabaseOutageGuard(guard.app.app, probe=guard.probe))


@pytest.fixture
async def lanes(connection):
    workspace_id = await factories.workspace(connection, "Acme")
    lead_id = await factories.lead(connection, workspace_id, "+60123456789")
    thread_id = await factories.thread(connection, workspace_id, lead_id)
    token = (await create_token(workspace_id, "tests")).secret
    headers = {"Authorization": f"Bearer {token}"}
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=served),
            base_url="http://testserver/api/v1",
            headers=headers,
        )
        for served in (app, without_fast_lane())
    ]
    yield clients, {"lead": lead_id, "thread": thread_id}
    for client in clients:
        await client.aclose()


DOUBTFUL_BODIES: list[tuple[str, str, Any]] = [
    ("POST", "/followups/claim", {"lease_seconds": True}),
    ("POST", "/followups/claim", {"limit": "5"}),
    ("POST", "/followups/claim", {"limit": 5.5}),
    ("POST", "/followups/claim", {"limit": 5, "extra": 1}),
    ("POST", "/followups/claim", [1]),
    ("POST", "/threads/{thread}/messages", {"role": "user", "content": "hi", "permit_id": True}),
    ("POST", "/threads/{thread}/messages", {"role": "user", "content": "hi", "permit_id": "7"}),
    (
        "POST",
        "/threads/{thread}/messages",
        {"role": "user", "content": "hi", "tool_calls": [{"name": "a\u0000b"}]},
    ),
    (
        "POST",
        "/threads/{thread}/messages",
        {"role": "user", "content": "hi", "tool_calls": [{"a\u0000": 1}]},
    ),
    ("POST", "/threads/{thread}/messages", {"role": "user", "content": "hi", "x": 1}),
    ("POST", "/leads/{lead}/send-permits", {"kind": 1}),
    ("POST", "/leads/{lead}/send-permits", {"kind": "followup", "extra": True}),
    ("PUT", "/leads/by-external-id/%2B60123456789", {"stage": True}),
    ("PUT", "/leads/by-external-id/%2B60123456789", {"name": 12}),
    ("PUT", "/leads/by-external-id/%2B60123456789", {"tags": "NEUTRAL"}),
]
DOUBTFUL_READS = [
    "/leads/{lead}?extra=1",
    "/leads/true",
    "/leads/1.0",
    "/leads/by-external-id/%20",
    "/leads?limit=true",
    "/leads?limit=5.0",
    "/leads?limit=05",
    "/leads?stage=nope",
    "/leads?cursor=garbage",
    "/threads/{thread}/messages?limit=1e2",
    "/threads/{thread}/messages?limit=5",
]


async def answers(clients, method: str, path: str, body: Any = None) -> list[tuple]:
    found = []
    for client in clients:
        response = await client.request(method, path, json=body)
        found.append((response.status_code, response.json()))
    return found


@pytest.mark.parametrize(("method", "path", "body"), DOUBTFUL_BODIES)
async def test_doubtful_bodies_get_the_same_refusal_in_both_lanes(
    lanes, connection, method, path, body
):
    clients, ids = lanes
    before = {
        table: await factories.table_snapshot(connection, table)
        for table in ("lead", "chat_message", "policy_decision")
    }
    fast, framework = await answers(clients, method, path.format(**ids), body)
    assert fast == framework
    assert 400 <= fast[0] < 500, fast
    for table, rows in before.items():
        assert await factories.table_snapshot(connection, table) == rows


async def test_an_integral_float_is_an_integer_in_both_lanes(lanes):
    """JSON Schema reads 5.0 as an integer: both lanes take it (nothing is due)."""
    clients, _ = lanes
    fast, framework = await answers(clients, "POST", "/followups/claim", {"limit": 5.0})
    assert fast == framework == (200, {"items": []})


@pytest.mark.parametrize("path", DOUBTFUL_READS)
async def test_doubtful_reads_get_the_same_answer_in_both_lanes(lanes, path):
    clients, ids = lanes
    fast, framework = await answers(clients, "GET", path.format(**ids))
    assert fast == framework
