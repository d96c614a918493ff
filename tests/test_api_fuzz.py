"""Property: whatever a caller sends, the API answers without a 500, in its error shape.

The examples share one database (the test's fresh copy) rather than one each: a copy
costs about 0.3 s here, two minutes over 400 examples, and the property does not
depend on the database's state (no assertion reads rows another example left). The
writes of earlier examples give later ones more varied state to meet. The price: a
shrunk example may replay on other state than it first met, so a failure is
reproduced from the request it prints (method, path, body, query)."""

import json
import re

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from app.api.routes import ROUTERS, whatsapp
from app.settings import settings as app_settings
from tests import factories
from tests.api_client import client_for


def endpoint_templates() -> list[tuple[str, str]]:
    """Every route of every router, its path parameters as ``{id}`` or ``{text}``."""
    found = []
    for router in [*ROUTERS, whatsapp.router, whatsapp.numbers]:
        for route in router.routes:
            path = re.sub(
                r"\{(\w+)(:\w+)?\}",
                lambda match: "{text}" if match.group(2) is None else "{id}",
                route.path,
            )
            found += [(method, path) for method in sorted(route.methods)]
    return found


ENDPOINTS = endpoint_templates()
FIELDS = [
    "external_id",
    "name",
    "stage",
    "tags",
    "timezone",
    "next_followup_at",
    "rows",
    "limit",
    "lease_seconds",
    "followup_preset",
    "interval_overrides",
    "tone",
    "role",
    "content",
    "tool_calls",
    "lead_id",
    "allow_send",
    "reason_code",
    "rule_trace",
    "operator_id",
    "granted",
    "budget_tier",
    "cursor",
    "tag",
    "due_before",
    "since",
    "kind",
    "at",
    "count",
    "permit_id",
    "send_window_start",
    "send_window_end",
    "send_days",
    "blocked_dates",
    "action",
    "purpose",
    "channel",
    "wording_version",
    "method",
    "evidence",
    "ip",
    "page_url",
    "captured_at",
    "business_name",
    "text",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "NEW",
            "TAKE_OVER",
            "POSITIVE",
            "GENTLE",
            "user",
            "model",
            "UTC",
            "2026-01-01T00:00:00Z",
            "\x00",
            "followup",
            "reply",
            "09:00",
            "25:61",
            "SUN",
            "2027-02-30",
            "grant",
            "revoke",
            "marketing",
            "web_form",
            "0001-01-01T00:00:00+14:00",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(st.none(), st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))
path_ids = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=2**31 - 2, max_value=2**63),
    st.sampled_from(["abc", "1.5", "%00", "-", "1e3"]),
)
queries = st.dictionaries(
    st.sampled_from(FIELDS), st.text(max_size=20) | st.integers().map(str), max_size=3
)


@pytest.fixture(autouse=True)
def whatsapp_on(monkeypatch):
    """With WhatsApp off its webhook answers 503 by design; fuzz it switched on."""
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "fuzz-secret")
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "fuzz-token")
    app_settings.cache_clear()


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    path_id=path_ids,
    body=bodies,
    query=queries,
)
@pytest.mark.long_running
async def test_no_input_gets_a_500(connection, endpoint, path_id, body, query):
    workspace_id = await connection.fetchval(
        "SELECT min(id) FROM workspace"
    ) or await factories.workspace(connection, "Fuzz")
    client = await client_for(workspace_id)
    method, template = endpoint
    path = template.format(id=path_id, text=str(path_id))
    content = None if body is None else json.dumps(body).encode()
    try:
        response = await client.request(
            method,
            path,
            params=query,
            content=content,
            headers={"Content-Type": "application/json"},
        )
    finally:
        await client.http.aclose()
    assert response.status_code < 500, (method, path, body, query, response.text)
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "fields"}
