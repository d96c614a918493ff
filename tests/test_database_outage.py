"""A database outage under load: 503s with Retry-After, never a 500 or a dropped
connection; recovery within a second; every acknowledged write kept; SIGTERM drains."""

import asyncio
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from app.db.outages import LOST, NOT_REACHED, outage_kind
from tests import factories
from tests.database_setup import piccolo
from tests.server import served_app
from tests.throwaway_cluster import ThrowawayCluster

# One worker runs the whole module under pytest-xdist: the throwaway cluster is built once.
pytestmark = pytest.mark.xdist_group("test_database_outage")
TOKEN = "mp_outage-test-token"
CLIENTS = 8


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    cluster = ThrowawayCluster()
    try:
        piccolo(cluster.url, "migrations", "forwards", "all")
        asyncio.run(_workspace_with_token(cluster.url))
        yield cluster
    finally:
        cluster.remove()


async def _workspace_with_token(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await factories.workspace_with_token(connection, "Outage", TOKEN)
    finally:
        await connection.close()


@dataclass
class Load:
    """What the clients saw: one entry per request."""

    answers: list[tuple[float, int, httpx.Response]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    running: bool = True


async def _client(http: httpx.AsyncClient, number: int, load: Load) -> None:
    sequence = 0
    while load.running:
        sequence += 1
        external_id = f"client-{number}-{sequence}"
        started = time.monotonic()
        try:
            if sequence % 2:
                response = await http.put(f"/api/v1/leads/by-external-id/{external_id}", json={})
            elif sequence % 3:
                response = await http.get("/api/v1/leads", params={"limit": 5})
            else:  # the admin looks the session cookie up in the database
                response = await http.get("/admin/api/tables/", headers={"Cookie": "id=no-session"})
        except httpx.TransportError as error:
            load.dropped.append(repr(error))
            continue
        load.answers.append((started, time.monotonic() - started, response))
        if sequence % 2 and response.status_code in (200, 201):
            load.acknowledged.append(external_id)
        await asyncio.sleep(0.002)


async def _first_healthy(http: httpx.AsyncClient) -> float:
    while (await http.get("/healthz")).status_code != 200:
        await asyncio.sleep(0.02)
    return time.monotonic()


async def _outage_under_load(base_url: str, cluster: ThrowawayCluster) -> dict:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    load = Load()
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=20) as http:
        clients = [asyncio.create_task(_client(http, n, load)) for n in range(CLIENTS)]
        try:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.stop)
            down_at = time.monotonic()
            await asyncio.sleep(2.0)
            health_during = await http.get("/healthz")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.start)
            back_at = time.monotonic()
            healthy_at = await asyncio.wait_for(_first_healthy(http), timeout=10)
            await asyncio.sleep(1.0)
        finally:
            load.running = False
            await asyncio.gather(*clients)
    return {
        "load": load,
        "down_at": down_at,
        "back_at": back_at,
        "healthy_at": healthy_at,
        "health_during": health_during,
    }


async def _stored_external_ids(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        return {
            row["external_id"] for row in await connection.fetch("SELECT external_id FROM lead")
        }
    finally:
        await connection.close()


def test_an_outage_under_load_is_answered_503_and_recovers_at_once(cluster):
    command = ["-m", "uvicorn", "app.main:app", "--no-access-log"]
    with served_app({"DATABASE_URL": cluster.url}, command) as (base_url, process):
        seen = asyncio.run(_outage_under_load(base_url, cluster))
        process.send_signal(signal.SIGTERM)
        log = process.communicate(timeout=60)[0]
    load: Load = seen["load"]
    statuses = [response.status_code for _, _, response in load.answers]

    assert load.dropped == [], log
    server_errors = [
        response.text
        for *_, response in load.answers
        if response.status_code >= 500 and response.status_code != 503
    ]
    assert server_errors == [], log
    assert set(statuses) <= {200, 201, 401, 503}, set(statuses)
    unavailable = [answer for answer in load.answers if answer[2].status_code == 503]
    assert len(unavailable) > 10
    for _, seconds, response in unavailable:
        assert response.json()["error"]["code"] == "database_unavailable"
        assert int(response.headers["retry-after"]) > 0
        assert seconds < 6  # the pool's connect timeout bounds the wait

    assert seen["health_during"].status_code == 503
    assert seen["healthy_at"] - seen["back_at"] < 1.0
    after_recovery = [
        response.status_code
        for started, _, response in load.answers
        if started > seen["healthy_at"]
    ]
    assert len(after_recovery) > 20
    assert set(after_recovery) <= {200, 201, 401}
    admin_paths = {
        response.status_code
        for _, _, response in unavailable
        if response.request.url.path.startswith("/admin/")
    }
    assert admin_paths == {503}

    stored = asyncio.run(_stored_external_ids(cluster.url))
    assert load.acknowledged and set(load.acknowledged) <= stored

    assert "Traceback" not in log and "Exception in ASGI application" not in log, log
    assert log.count("database unavailable") == 1, log
    assert log.count("database available again") == 1, log


async def _held_row_lock(url: str, external_id: str) -> asyncpg.Connection:
    connection = await asyncpg.connect(url)
    await connection.execute("BEGIN")
    await connection.execute("SELECT 1 FROM lead WHERE external_id = $1 FOR UPDATE", external_id)
    return connection


def _refuses_connections(base_url: str) -> bool:
    address = urlsplit(base_url)
    try:
        with socket.create_connection((address.hostname, address.port), timeout=0.5):
            return False
    except OSError:
        return True


def test_sigterm_lets_requests_in_flight_finish_refuses_new_ones_and_exits_0(cluster):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with served_app({"DATABASE_URL": cluster.url}, ["-m", "app.serve"]) as (base_url, process):
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            assert http.put("/api/v1/leads/by-external-id/in-flight", json={}).status_code in (
                200,
                201,
            )

        async def scenario() -> httpx.Response:
            lock = await _held_row_lock(cluster.url, "in-flight")
            async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
                in_flight = asyncio.create_task(
                    http.put("/api/v1/leads/by-external-id/in-flight", json={"name": "Drained"})
                )
                await _until_waiting_for_lock(lock)
                process.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + 5
                while not _refuses_connections(base_url) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert _refuses_connections(base_url)
                assert not in_flight.done()
                await lock.execute("COMMIT")
                await lock.close()
                return await in_flight

        response = asyncio.run(scenario())
        assert response.status_code == 200
        assert response.json()["name"] == "Drained"
        assert process.wait(timeout=60) == 0


async def _until_waiting_for_lock(connection: asyncpg.Connection) -> None:
    for _ in range(500):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the request never waited for the held lock")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError(), NOT_REACHED),
        (FileNotFoundError(), NOT_REACHED),  # the Unix socket is gone
        (asyncpg.CannotConnectNowError("the database system is starting up"), NOT_REACHED),
        (TimeoutError(), LOST),
        (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), LOST),
        (asyncpg.AdminShutdownError("terminating connection"), LOST),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), LOST),
        (asyncpg.InternalClientError("cannot switch to state 12; another operation"), LOST),
        (asyncpg.UniqueViolationError("duplicate key"), None),
        (asyncpg.InterfaceError("the server expects 2 arguments"), None),
        (ValueError("a bug"), None),
    ],
)
def test_only_an_unreachable_database_counts_as_an_outage(error, kind):
    assert outage_kind(error) == kind
