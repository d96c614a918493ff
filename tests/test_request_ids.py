"""Request ids: on every response, in the change log and in the log lines
(app/request_ids.py, app/edge/observed.py, app/change_log.py, app/logs.py)."""

import json
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime

import httpx
import pytest

from tests.admin_client import anonymous_client
from tests.database_setup import PROJECT_ROOT
from tests.policy_setup import inbound, london_lead
from tests.server import served_app
from tests.test_database import wait_until

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
async def client():
    async with anonymous_client() as http:
        yield http


@pytest.mark.parametrize("path", ["/healthz", "/no/such/path", "/api/v1/leads/1", "/admin/"])
async def test_a_sane_request_id_is_echoed_on_every_kind_of_answer(client, path):
    sent = "edge-7f3a.retry_2:b"
    response = await client.get(path, headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent


@pytest.mark.parametrize(
    "sent", [None, "", "has spaces", "x" * 129, "semi;colon", "ünïcode", "a\tb"]
)
async def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client, sent):
    headers = {} if sent is None else {"X-Request-ID": sent.encode()}
    first = await client.get("/healthz", headers=headers)
    second = await client.get("/healthz", headers=headers)
    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert GENERATED.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_the_longest_allowed_request_id_is_kept(client):
    sent = "a" * 128
    assert (await client.get("/healthz", headers={"X-Request-ID": sent})).headers[
        "x-request-id"
    ] == sent


async def change_log(connection, table: str) -> list[tuple[str, str | None]]:
    rows = await connection.fetch(
        "SELECT operation, request_id FROM change_log WHERE table_name = $1 ORDER BY id", table
    )
    return [(row["operation"], row["request_id"]) for row in rows]


async def test_each_write_of_a_request_carries_its_id_in_the_change_log(api, connection, acme):
    """Both lanes: the fast lane's statements name the request themselves (an upsert,
    a permit: a row trigger and a statement trigger), FastAPI's request transaction
    names it once (a PATCH); a write outside any request has none."""
    put = await api.put("/leads/by-external-id/+447700900001", {"name": "Ana"})
    assert put.status_code == 201, put.text
    lead_id = put.json()["id"]
    await api.http.put(
        "/leads/by-external-id/+447700900001",
        json={"name": "Ana B"},
        headers={"X-Request-ID": "put-2"},
    )
    patched = await api.http.patch(
        f"/leads/{lead_id}", json={"name": "Ana C"}, headers={"X-Request-ID": "patch-3"}
    )
    assert patched.status_code == 200, patched.text
    await inbound(connection, acme, lead_id, datetime.now(UTC))
    permit = await api.http.post(
        f"/leads/{lead_id}/send-permits",
        json={"kind": "reply"},
        headers={"X-Request-ID": "permit-4"},
    )
    assert permit.status_code == 201, permit.text
    await connection.execute("UPDATE lead SET name = 'by psql' WHERE id = $1", lead_id)

    created_id = put.headers["x-request-id"]
    assert GENERATED.fullmatch(created_id)
    assert await change_log(connection, "lead") == [
        ("CREATE", created_id),
        ("EDIT", "put-2"),
        ("EDIT", "patch-3"),
        ("EDIT", None),
    ]
    assert await change_log(connection, "policy_decision") == [("CREATE", "permit-4")]


async def test_a_refused_write_records_nothing_under_its_id(api, connection, acme):
    lead_id = await london_lead(connection, acme)
    before = await connection.fetchval("SELECT count(*) FROM change_log")
    refused = await api.http.patch(
        f"/leads/{lead_id}", json={"stage": "NOT_A_STAGE"}, headers={"X-Request-ID": "refused-1"}
    )
    assert refused.status_code == 422
    assert refused.headers["x-request-id"] == "refused-1"
    assert await connection.fetchval("SELECT count(*) FROM change_log") == before
    assert (
        await connection.fetchval("SELECT count(*) FROM change_log WHERE request_id = 'refused-1'")
        == 0
    )


def test_json_log_lines_are_one_object_each_with_the_request_id(fresh_database):
    env = {"DATABASE_URL": fresh_database, "LOG_FORMAT": "json"}
    with served_app(env, ["-m", "app.serve"]) as (base_url, process):
        assert wait_until(lambda: httpx.get(f"{base_url}/healthz").status_code == 200, timeout=60)
        answered = httpx.get(f"{base_url}/healthz", headers={"X-Request-ID": "trace-json-1"})
        assert answered.status_code == 200
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    lines = [line for line in output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(entry, dict) for entry in entries)
    (access,) = [entry for entry in entries if entry["request_id"] == "trace-json-1"]
    assert access["logger"] == "uvicorn.access"
    assert "GET /healthz" in access["message"] and access["level"] == "INFO"
    assert any("WhatsApp is off" in entry["message"] for entry in entries)


def test_text_log_lines_name_the_request(fresh_database):
    env = {"DATABASE_URL": fresh_database, "LOG_FORMAT": "text"}
    with served_app(env, ["-m", "app.serve"]) as (base_url, process):
        assert wait_until(lambda: httpx.get(f"{base_url}/healthz").status_code == 200, timeout=60)
        httpx.get(f"{base_url}/healthz", headers={"X-Request-ID": "trace-text-1"})
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    (line,) = [line for line in output.splitlines() if "trace-text-1" in line]
    assert '"GET /healthz HTTP/1.1" 200' in line and line.endswith("[request trace-text-1]")


def test_a_bad_log_format_is_one_readable_line_at_start():
    result = subprocess.run(
        [sys.executable, "-m", "app.serve"],
        cwd=PROJECT_ROOT,
        env={"LOG_FORMAT": "yaml", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == "masterplan: LOG_FORMAT must be text or json, not 'yaml'\n"
