"""GET /metrics: one truth from many workers, exact counts after known traffic, and
who may read it (app/metrics.py, app/metrics_endpoint.py, app/edge/observed.py)."""

import json
import os
import shutil
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.db.outages import OutageLog
from app.db.replicas import Replica
from app.metrics import count_pool_acquire
from app.policy import engine
from app.tokens import token_hash
from app.whatsapp.signature import signature_of
from tests import factories
from tests.admin_client import anonymous_client
from tests.policy_setup import WEDNESDAY_NOON_LONDON, inbound, london_lead, outreach_workspace
from tests.server import served_app
from tests.test_database import wait_until
from tests.test_whatsapp import PHONE_NUMBER_ID, SECRET, TOKEN, payload, text
from tests.test_workers import environment_of, workers_of

METRICS_TOKEN = "scraper-token-for-the-tests"
PERMITS = "/api/v1/leads/{lead_id}/send-permits"
WEBHOOK = "/api/v1/integrations/whatsapp/webhook"
ALLOWED_TOKEN, REFUSED_TOKEN = "token-of-a-workspace-ready", "token-of-a-workspace-unattested"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(exposition: str) -> Samples:
    """Every sample of a scrape, parsed by prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(samples: Samples, method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return value(samples, "masterplan_http_requests_total", **labels)


def per_worker(directory: Path, pid: int, copy_to: Path) -> Samples:
    """The samples one worker wrote, read from its own files alone."""
    copy_to.mkdir(parents=True)
    for written in directory.glob(f"*_{pid}.db"):
        shutil.copy(written, copy_to)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(copy_to))
    return samples_of(generate_latest(registry).decode())


async def two_workspaces(connection) -> tuple[int, int]:
    """A lead a reply may be sent to (it wrote an hour ago) in a workspace ready for
    outreach, and one in a workspace without an attestation; a token for each."""
    ready = await outreach_workspace(connection, "Ready")
    unattested = await factories.workspace(connection, "Unattested")
    for workspace_id, secret in ((ready, ALLOWED_TOKEN), (unattested, REFUSED_TOKEN)):
        await factories.insert(
            connection,
            "api_token",
            workspace_id=workspace_id,
            name="tests",
            token_hash=token_hash(secret),
        )
    await factories.insert(
        connection,
        "whatsapp_number",
        workspace_id=ready,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="15550783881",
    )
    allowed = await london_lead(connection, ready)
    await inbound(connection, ready, allowed, datetime.now(UTC) - timedelta(hours=1))
    refused = await factories.lead(connection, unattested, "+447700900002")
    return allowed, refused


def post(base_url: str, path: str, token: str, body: dict) -> int:
    """A POST on a connection of its own (each may reach another worker)."""
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{base_url}{path}", json=body, headers=headers, timeout=30).status_code


def deliver(base_url: str, document: dict, signed: bool = True) -> int:
    body = json.dumps(document).encode()
    signature = signature_of(body, SECRET) if signed else "sha256=" + "0" * 64
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    return httpx.post(f"{base_url}{WEBHOOK}", content=body, headers=headers).status_code


def scrape(base_url: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{base_url}/metrics", headers=headers, timeout=30)


async def test_two_workers_report_one_truth_with_exact_counts(fresh_database, connection, tmp_path):
    allowed, refused = await two_workspaces(connection)
    env = {
        "DATABASE_URL": fresh_database,
        "METRICS_TOKEN": METRICS_TOKEN,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    command = ["-m", "app.serve", "--workers", "2", "--no-access-log"]
    with served_app(env, command) as (base_url, process):
        assert wait_until(lambda: len(workers_of(process.pid)) == 2, timeout=60)
        workers = workers_of(process.pid)
        directory = Path(environment_of(workers[0])["PROMETHEUS_MULTIPROC_DIR"])
        assert {environment_of(pid)["PROMETHEUS_MULTIPROC_DIR"] for pid in workers} == {
            str(directory)
        }

        # Health checks on new connections until each worker has answered one (each
        # ready, the database reached): every answer is tallied, whatever its status.
        health_checks: dict[int, int] = {}
        answered = [0.0] * len(workers)
        while not all(answered) and sum(health_checks.values()) < 400:
            status = httpx.get(f"{base_url}/healthz", timeout=30).status_code
            health_checks[status] = health_checks.get(status, 0) + 1
            copies = tmp_path / str(sum(health_checks.values()))
            answered = [
                requests_of(per_worker(directory, pid, copies / str(pid)), "GET", "/healthz", 200)
                for pid in workers
            ]
        assert all(answered), "one worker answered every health check"

        def permit(lead_id: int, token: str) -> int:
            return post(base_url, PERMITS.format(lead_id=lead_id), token, {"kind": "reply"})

        assert [permit(allowed, ALLOWED_TOKEN) for _ in range(3)] == [201] * 3
        assert [permit(refused, REFUSED_TOKEN) for _ in range(2)] == [201] * 2
        assert [permit(allowed, "no-such-token") for _ in range(2)] == [401] * 2
        assert httpx.get(f"{base_url}/no/such/path/42").status_code == 404
        message = payload(text("Hello"))
        assert [deliver(base_url, message) for _ in range(2)] == [200, 200]  # then a duplicate
        assert deliver(base_url, message, signed=False) == 401

        assert scrape(base_url).status_code == 401  # counted too
        scraped = scrape(base_url, Authorization=f"Bearer {METRICS_TOKEN}")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=")
        samples = samples_of(scraped.text)

        # A worker that dies is marked dead: its live gauges leave, its counts stay.
        killed = workers[0]
        assert (directory / f"gauge_livesum_{killed}.db").exists()
        os.kill(killed, signal.SIGKILL)
        assert wait_until(lambda: len(set(workers_of(process.pid)) - {killed}) == 2, timeout=60)
        assert wait_until(lambda: not (directory / f"gauge_livesum_{killed}.db").exists())
        assert (directory / f"counter_{killed}.db").exists()
        after = samples_of(scrape(base_url, Authorization=f"Bearer {METRICS_TOKEN}").text)
        assert requests_of(after, "POST", PERMITS, 201) == 5  # the template

    decisions = "masterplan_policy_decisions_total"
    assert value(samples, decisions, kind="reply", reason_code="POLICY_PASSED", allowed="true") == 3
    assert (
        value(samples, decisions, kind="reply", reason_code="ATTESTATION_MISSING", allowed="false")
        == 2
    )
    route = "/api/v1/leads/{lead_id}/send-permits"
    assert requests_of(samples, "POST", route, 201) == 5
    assert requests_of(samples, "POST", route, 401) == 2
    assert requests_of(samples, "GET", "(unmatched)", 404) == 1
    assert requests_of(samples, "POST", "/api/v1/integrations/whatsapp/webhook", 200) == 2
    assert requests_of(samples, "POST", "/api/v1/integrations/whatsapp/webhook", 401) == 1
    for status, count in health_checks.items():
        assert requests_of(samples, "GET", "/healthz", status) == count
    assert requests_of(samples, "GET", "/metrics", 401) == 1
    assert sum(answered) == health_checks[200]  # the scrape is the sum of the workers' own
    latency = value(
        samples, "masterplan_http_request_duration_seconds_count", method="POST", route=route
    )
    assert latency == 7
    assert value(samples, "masterplan_webhook_messages_total", outcome="stored") == 1
    assert value(samples, "masterplan_webhook_messages_total", outcome="duplicate") == 1
    assert value(samples, "masterplan_webhook_signature_failures_total") == 1
    assert value(samples, "masterplan_database_unavailable") == 0
    assert value(samples, "masterplan_database_unavailable_answers_total") == health_checks.get(
        503, 0
    )
    # No raw path becomes a label.
    assert not [key for key in samples if any("42" in v or "/leads/1" in v for _, v in key[1])]
    assert not directory.exists(), "the run's metrics directory is removed when it stops"


@pytest.fixture
async def client():
    async with anonymous_client() as http:
        yield http


async def test_metrics_need_the_token_or_an_operators_session(client, admin, monkeypatch):
    from app.settings import settings

    monkeypatch.setenv("METRICS_TOKEN", METRICS_TOKEN)
    settings.cache_clear()
    for headers in ({}, {"Authorization": f"Bearer {METRICS_TOKEN}x"}, {"Authorization": "Bearer"}):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
    read = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert read.status_code == 200
    assert "masterplan_http_requests_total" in read.text
    by_session = await admin.http.get("/metrics")
    assert by_session.status_code == 200
    assert "masterplan_policy_decisions" in by_session.text


async def test_without_a_token_setting_no_bearer_token_reads_the_metrics(client, monkeypatch):
    from app.settings import settings

    monkeypatch.setenv("METRICS_TOKEN", "")
    settings.cache_clear()
    refused = await client.get("/metrics", headers={"Authorization": "Bearer "})
    assert refused.status_code == 401


async def test_a_session_of_a_user_who_is_no_operator_is_forbidden(client, connection):
    from piccolo.apps.user.tables import BaseUser
    from piccolo_api.session_auth.tables import SessionsBase

    user = await BaseUser.create_user(
        username="viewer", password="a password long enough", email="v@x.io", active=True
    )
    session = await SessionsBase.create_session(user_id=user.id)
    refused = await client.get("/metrics", headers={"Cookie": f"id={session.token}"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == {
        "code": "forbidden",
        "message": "only operators (admin users) read the metrics",
        "fields": [],
    }


async def test_the_metrics_are_not_in_the_apis_openapi_document(client):
    document = (await client.get("/api/v1/openapi.json")).json()
    assert document["paths"]
    assert not [path for path in document["paths"] if "metrics" in path]


# --- each owner counts its events (in process: this process's own registry) --------------


def total(name: str, **labels: str) -> float:
    """The sum of this process's samples of ``name`` whose labels include ``labels``."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def test_dispatch_counts_its_batches_and_each_leads_outcome(connection, acme):
    due = WEDNESDAY_NOON_LONDON - timedelta(minutes=1)
    await london_lead(connection, acme, "+44ready", next_followup_at=due)
    await london_lead(
        connection, acme, "+1night", timezone="America/Los_Angeles", next_followup_at=due
    )
    await london_lead(connection, acme, "+44gone", tags=["DISCONNECT"], next_followup_at=due)
    unattested = await factories.workspace(connection, "Unattested")
    await london_lead(connection, unattested, "+44held", next_followup_at=due)
    names = ("masterplan_dispatch_batches_total", "masterplan_dispatch_leads_total")
    outcomes = {
        (name, outcome): total(name, outcome=outcome)
        for name in names
        for outcome in ("decided", "empty", "paused", "permitted", "deferred", "stopped")
    }
    decisions = total("masterplan_policy_decisions_total", kind="followup")
    refused_as_gone = total("masterplan_policy_decisions_total", reason_code="LEAD_DISCONNECTED")

    for workspace_id in (acme, acme, unattested):  # decided, then nothing due, then held
        await engine.dispatch(workspace_id, limit=10, lease_seconds=60, at=WEDNESDAY_NOON_LONDON)

    counted = {key: total(key[0], outcome=key[1]) - before for key, before in outcomes.items()}
    assert {key: count for key, count in counted.items() if count} == {
        ("masterplan_dispatch_batches_total", "decided"): 1,
        ("masterplan_dispatch_batches_total", "empty"): 1,
        ("masterplan_dispatch_batches_total", "paused"): 1,
        ("masterplan_dispatch_leads_total", "permitted"): 1,
        ("masterplan_dispatch_leads_total", "deferred"): 1,
        ("masterplan_dispatch_leads_total", "stopped"): 1,
    }
    assert total("masterplan_policy_decisions_total", kind="followup") - decisions == 3
    gone = total("masterplan_policy_decisions_total", reason_code="LEAD_DISCONNECTED")
    assert gone - refused_as_gone == 1


def test_an_outage_is_one_state_and_each_answer_503_is_counted():
    outages = OutageLog()
    answers = total("masterplan_database_unavailable_answers_total")
    outages.failed(ConnectionRefusedError("refused"))
    outages.failed(ConnectionRefusedError("refused"))
    assert total("masterplan_database_unavailable") == 1
    assert total("masterplan_database_unavailable_answers_total") - answers == 2
    outages.answered()
    assert total("masterplan_database_unavailable") == 0
    assert total("masterplan_database_unavailable_answers_total") - answers == 2


def test_each_replica_check_sets_its_fitness_and_lag():
    replica = Replica("replica_under_test", engine=None, max_lag_seconds=5)  # type: ignore[arg-type]
    readings = []
    for check in (
        lambda: replica.judge(0.25),
        lambda: replica.judge(None),
        lambda: replica.failed(OSError()),
    ):
        check()
        readings.append(
            (
                total("masterplan_replica_fit", replica="replica_under_test"),
                total("masterplan_replica_lag_seconds", replica="replica_under_test"),
            )
        )
    assert readings == [(1, 0.25), (0, -1), (0, -1)]


def test_an_acquisition_from_a_pool_at_its_bound_with_none_idle_is_a_wait():
    waits = total("masterplan_pool_waits_total")
    count_pool_acquire(size=4, idle=0, max_size=10)  # a new connection opens: no wait
    count_pool_acquire(size=10, idle=1, max_size=10)  # an idle one is handed out
    assert total("masterplan_pool_waits_total") == waits
    count_pool_acquire(size=10, idle=0, max_size=10)
    assert total("masterplan_pool_waits_total") - waits == 1
    assert total("masterplan_pool_connections", state="open") == 10
    assert total("masterplan_pool_connections", state="idle") == 0


async def test_the_served_pool_is_seen_when_a_request_acquires_a_connection(
    connection_pool, client
):
    count_pool_acquire(size=0, idle=0, max_size=10)
    assert (
        await client.get("/api/v1/leads/1", headers={"Authorization": "Bearer x"})
    ).status_code == 401
    assert total("masterplan_pool_connections", state="open") >= 1


def test_one_served_process_counts_in_its_fresh_metrics_directory(fresh_database, tmp_path):
    """``app.serve`` without workers: the directory named is emptied of an earlier
    run's files at start, and the scrape reads this run's counts from it."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"an earlier run's counts")
    env = {
        "DATABASE_URL": fresh_database,
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    with served_app(env, ["-m", "app.serve", "--no-access-log"]) as (base_url, _):
        statuses = []
        while not statuses or statuses[-1] != 200:
            statuses.append(httpx.get(f"{base_url}/healthz", timeout=30).status_code)
        samples = samples_of(scrape(base_url, Authorization=f"Bearer {METRICS_TOKEN}").text)
    assert not (directory / "counter_1.db").exists()
    assert requests_of(samples, "GET", "/healthz", 200) == 1
    assert requests_of(samples, "GET", "/healthz", 503) == statuses.count(503)
    assert {path.name.split("_")[0] for path in directory.glob("*.db")} == {
        "counter",
        "gauge",
        "histogram",
    }


async def test_an_answer_is_counted_before_its_last_part_reaches_the_client():
    """A scrape that follows an answer the client has read counts that answer: the
    count is taken before the server is handed the response's last part."""
    from app.edge.observed import ObservedRequests
    from app.metrics import UNMATCHED_ROUTE

    async def answer(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.body", "body": b" end"})

    labels = {"method": "PUT", "route": UNMATCHED_ROUTE, "status": "200"}
    before = total("masterplan_http_requests_total", **labels)
    seen: list[tuple[bytes, float]] = []

    async def server_send(message):  # what the client has at each part, and the count then
        seen.append((message.get("body", b""), total("masterplan_http_requests_total", **labels)))

    scope = {"type": "http", "method": "PUT", "path": "/nowhere", "headers": []}
    await ObservedRequests(answer)(scope, None, server_send)
    assert [(body, count - before) for body, count in seen] == [
        (b"", 0),
        (b"part", 0),
        (b" end", 1),
    ]
    assert total("masterplan_http_requests_total", **labels) - before == 1
