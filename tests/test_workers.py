"""Many server processes, one truth: ``--workers N`` and the login limit they share."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from piccolo.apps.user.tables import BaseUser

from app.admin.login_throttle import LOGIN_FAILURE_LIMIT, LOGIN_PATH
from app.serve import listening_socket
from tests.database_setup import PROJECT_ROOT
from tests.locks import held, waiting_for
from tests.server import free_port, get, served_app
from tests.test_database import embedded_env, postmaster_running, wait_until

USERNAME = "ops"
PASSWORD = "correct horse battery"


def workers_of(supervisor: int) -> list[int]:
    """The uvicorn worker processes a supervisor spawned."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == supervisor and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)


def environment_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.long_running
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_workers_share_one_embedded_server_and_a_stop_signal_ends_them_all(embedded_data_dir, stop):
    env = {**embedded_env(embedded_data_dir), "DATABASE_URL": "", "DATABASE_POOL_URL": ""}
    with served_app(env, ["-m", "app.serve", "--workers", "2"]) as (base_url, process):
        assert wait_until(lambda: len(workers_of(process.pid)) == 2, timeout=60)
        assert wait_until(lambda: get(f"{base_url}/healthz")[0] == 200, timeout=60)
        workers = workers_of(process.pid)
        assert postmaster_running(embedded_data_dir)
        # The supervisor started the one embedded server; each worker is handed its URL.
        urls = {environment_of(pid)["DATABASE_URL"] for pid in workers}
        assert len(urls) == 1 and str(embedded_data_dir) in urls.pop()

        # A worker that dies is replaced; the database lives on with the supervisor.
        os.kill(workers[0], signal.SIGKILL)
        assert wait_until(lambda: workers[0] not in workers_of(process.pid), timeout=30)
        assert wait_until(lambda: len(workers_of(process.pid)) == 2, timeout=60)
        assert postmaster_running(embedded_data_dir)
        assert wait_until(lambda: get(f"{base_url}/healthz")[0] == 200, timeout=60)

        workers = workers_of(process.pid)
        process.send_signal(stop)
        assert process.wait(timeout=90) == 0
    assert all(wait_until(lambda pid=pid: gone(pid)) for pid in workers)
    assert wait_until(lambda: not postmaster_running(embedded_data_dir))


def test_a_bad_number_of_workers_is_refused_with_one_readable_line():
    for command in (["-m", "app", "run"], ["-m", "app.serve"]):
        result = subprocess.run(
            [sys.executable, *command, "--workers", "0"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert "argument --workers: not a number of workers from 1 to 64: '0'" in result.stderr
        assert "Traceback" not in result.stderr


# --- the login limit, counted in PostgreSQL -----------------------------------------------


async def an_operator() -> None:
    await BaseUser.create_user(
        username=USERNAME, password=PASSWORD, admin=True, active=True, email="ops@x.io"
    )


async def log_in(client: httpx.AsyncClient, password: str) -> int:
    if "csrftoken" not in client.cookies:
        await client.get("/admin/")
    response = await client.post(
        f"/admin{LOGIN_PATH}",
        json={"username": USERNAME, "password": password},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    return response.status_code


async def failures_counted(connection: asyncpg.Connection, address: str) -> int | None:
    return await connection.fetchval(
        "SELECT failures FROM login_throttle WHERE address = $1", address
    )


@pytest.mark.long_running
async def test_two_server_processes_refuse_logins_after_twenty_failures_in_total(
    fresh_database, connection
):
    await an_operator()
    command = ["-m", "app.serve", "--no-access-log"]
    env = {"DATABASE_URL": fresh_database}
    with served_app(env, command) as (first, _), served_app(env, command) as (second, _):
        async with (
            httpx.AsyncClient(base_url=first) as at_first,
            httpx.AsyncClient(base_url=second) as at_second,
        ):
            half = LOGIN_FAILURE_LIMIT // 2
            statuses = [await log_in(at_first, f"guess {n}") for n in range(half)]
            statuses += [await log_in(at_second, f"guess {n}") for n in range(half)]
            assert statuses == [401] * LOGIN_FAILURE_LIMIT
            # Each process saw only half the failures; the limit is reached all the same.
            assert await log_in(at_first, PASSWORD) == 429
            assert await log_in(at_second, PASSWORD) == 429
    assert await failures_counted(connection, "127.0.0.1") == LOGIN_FAILURE_LIMIT + 2
    assert await connection.fetchval("SELECT count(*) FROM sessions") == 0


@pytest.mark.long_running
async def test_a_successful_login_gives_its_attempt_back_and_a_window_ends(connection):
    await an_operator()
    transport = httpx.ASGITransport(app=_app(), client=("10.7.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for n in range(LOGIN_FAILURE_LIMIT - 1):
            assert await log_in(client, f"guess {n}") == 401
        assert await log_in(client, PASSWORD) == 200
        assert await failures_counted(connection, "10.7.0.1") == LOGIN_FAILURE_LIMIT - 1
        assert await log_in(client, "one more guess") == 401
        refused = await client.post(
            f"/admin{LOGIN_PATH}",
            json={"username": USERNAME, "password": PASSWORD},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 300
        assert "too many failed logins" in refused.json()["detail"]

        await connection.execute(
            "UPDATE login_throttle SET window_started = now() - interval '301 seconds'"
        )
        assert await log_in(client, PASSWORD) == 200
        assert await failures_counted(connection, "10.7.0.1") == 0


async def test_racing_logins_cannot_both_take_the_last_attempt(fresh_database, connection):
    """Two attempts wait on the address's row together; one gets the last attempt."""
    await an_operator()
    await connection.execute(
        "INSERT INTO login_throttle (address, failures) VALUES ('10.7.0.2', $1)",
        LOGIN_FAILURE_LIMIT - 1,
    )
    transport = httpx.ASGITransport(app=_app(), client=("10.7.0.2", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get("/admin/")
        row = "SELECT 1 FROM login_throttle WHERE address = '10.7.0.2' FOR UPDATE"
        async with held(fresh_database, row) as lock:
            attempts = [asyncio.create_task(log_in(client, f"racing guess {n}")) for n in range(2)]
            await waiting_for(lock, 2)
        statuses = sorted(await asyncio.gather(*attempts))
    assert statuses == [401, 429]
    assert await failures_counted(connection, "10.7.0.2") == LOGIN_FAILURE_LIMIT + 1


def _app():
    from app.main import app

    return app


async def test_the_database_refuses_a_negative_count_or_a_blank_address(connection):
    for address, failures in (("10.7.0.3", -1), ("  ", 1)):
        try:
            await connection.execute(
                "INSERT INTO login_throttle (address, failures) VALUES ($1, $2)", address, failures
            )
        except asyncpg.CheckViolationError:
            continue
        raise AssertionError(f"stored ({address!r}, {failures})")
    assert await connection.fetchval("SELECT count(*) FROM login_throttle") == 0


async def nodelay_of_a_connection_accepted_on(listener: socket.socket) -> int:
    """TCP_NODELAY of the server side of a connection asyncio accepts on ``listener``."""
    accepted = asyncio.get_running_loop().create_future()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = writer.get_extra_info("socket")
        accepted.set_result(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listener)
    try:
        _, client = await asyncio.open_connection(*listener.getsockname()[:2])
        value = await accepted
        client.close()
        return value
    finally:
        server.close()
        await server.wait_closed()


async def test_connections_either_listener_accepts_send_without_waiting_for_acks():
    """The workers' shared socket (``--workers N``) and uvicorn's own (one process) are
    TCP by name, so asyncio turns Nagle's algorithm off on each accepted connection;
    otherwise keep-alive answers wait ~40 ms for the client's delayed ACK (uvicorn
    before 0.55 left its own listener's protocol 0: uvicorn#3149)."""
    assert await nodelay_of_a_connection_accepted_on(listening_socket("127.0.0.1", 0)) != 0
    uvicorns = uvicorn.Config("app.main:app", host="127.0.0.1", port=free_port()).bind_socket()
    assert await nodelay_of_a_connection_accepted_on(uvicorns) != 0


def test_a_port_in_use_is_one_readable_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as refused:
            listening_socket("127.0.0.1", port)
    assert (
        str(refused.value)
        == f"masterplan: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


async def test_operators_see_failed_logins_and_let_an_address_in_again(admin, connection):
    await connection.execute(
        "INSERT INTO login_throttle (address, failures) VALUES ('10.7.0.9', $1)",
        LOGIN_FAILURE_LIMIT + 1,
    )
    listed = await admin.get("/tables/login_throttle/", address="10.7.0.9")
    assert [(r["address"], r["failures"]) for r in listed.json()["rows"]] == [
        ("10.7.0.9", LOGIN_FAILURE_LIMIT + 1)
    ]
    before = await connection.fetch("SELECT * FROM login_throttle ORDER BY address")
    refused = await admin.post("/tables/login_throttle/", {"address": "10.7.0.10"})
    assert refused.status_code == 405
    assert "delete an address's row" in refused.json()["detail"]
    assert await connection.fetch("SELECT * FROM login_throttle ORDER BY address") == before

    deleted = await admin.http.delete(
        "/admin/api/tables/login_throttle/10.7.0.9/", headers=admin.headers
    )
    assert deleted.status_code in (200, 204), deleted.text
    assert await failures_counted(connection, "10.7.0.9") is None
