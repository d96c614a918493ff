"""Read replicas: lag-tolerant reads from a streaming replica while it is fit, the
primary otherwise (app/db/replicas.py), against a real ``pg_basebackup -R`` replica."""

import asyncio
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from piccolo.apps.user.tables import BaseUser

from app.db.connections import replica_urls
from app.db.server import with_database
from app.settings import ConfigurationError, DatabaseSettings
from tests.database_setup import admin_execute, piccolo
from tests.factories import insert, workspace_with_token
from tests.replica_pair import replica_pair
from tests.server import get, served_app

# One worker runs the whole module under pytest-xdist: the replica pair is built once.
pytestmark = pytest.mark.xdist_group("test_replicas")
SECRET = "mp_" + "r" * 40
MAX_LAG_SECONDS = 3
OPERATOR, PASSWORD = "ops", "replica password"


@pytest.fixture(scope="module")
def pair() -> Iterator:
    made = replica_pair()
    yield made
    made.remove()


@pytest.fixture(scope="module")
def databases(pair) -> Iterator[tuple[str, str]]:
    """A migrated database on the primary and the same database on the replica."""
    name = f"masterplan_test_replica_{uuid.uuid4().hex[:8]}"
    admin_execute(pair.primary_url, f'CREATE DATABASE "{name}"')
    # Commits here never wait for the replica (CI's replica stage makes them wait
    # elsewhere): this module pauses its replay.
    admin_execute(pair.primary_url, f'ALTER DATABASE "{name}" SET synchronous_commit = local')
    primary = with_database(pair.primary_url, name)
    piccolo(primary, "migrations", "forwards", "all")
    yield primary, with_database(pair.replica_url, name)
    admin_execute(pair.primary_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def fetchval(url: str, query: str, *arguments: object) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(query, *arguments)
    finally:
        await connection.close()


async def caught_up(primary: str, replica: str) -> None:
    """Wait until the replica has replayed everything the primary wrote so far."""
    position = await fetchval(primary, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            replayed = await fetchval(
                replica, "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", position
            )
        except (OSError, asyncpg.PostgresError):
            replayed = False
        if replayed:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the replica did not catch up within 30 s")


async def lead_scans_on(replica: str) -> int:
    """How often the replica itself scanned the lead table (its own statistics; the
    replica's health checks and this count never touch the table)."""
    return await fetchval(
        replica,
        "SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'lead'",
    )


async def lead_names(api: httpx.AsyncClient) -> set[str]:
    response = await api.get("/leads")
    assert response.status_code == 200, response.text
    return {lead["name"] for lead in response.json()["items"]}


async def logged_in(client: httpx.AsyncClient) -> None:
    await client.get("/admin/")
    response = await client.post(
        "/admin/public/login/",
        json={"username": OPERATOR, "password": PASSWORD},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def served(databases) -> Iterator[str]:
    primary, _ = databases
    env = {
        "DATABASE_URL": primary,
        "DATABASE_POOL_URL": "",
        # Without a database name: the replica's copy of DATABASE_URL's database.
        "DATABASE_REPLICA_URLS": with_database(databases[1], ""),
        "DATABASE_REPLICA_MAX_LAG_SECONDS": str(MAX_LAG_SECONDS),
    }
    with served_app(env, ["-m", "app.serve", "--no-access-log"]) as (base_url, _):
        yield base_url


async def seeded(primary: str) -> None:
    connection = await asyncpg.connect(primary)
    try:
        if await connection.fetchval("SELECT count(*) FROM workspace WHERE name = 'Replicated'"):
            return
        workspace_id = await workspace_with_token(connection, "Replicated", SECRET)
        await insert(connection, "lead", workspace_id=workspace_id, external_id="1", name="Early")
        await connection.execute(
            "INSERT INTO piccolo_user (username, password, email, first_name, last_name, "
            "active, admin, superuser) VALUES ($1, $2, 'ops@x.io', '', '', true, true, false)",
            OPERATOR,
            BaseUser.hash_password(PASSWORD),
        )
    finally:
        await connection.close()


async def test_lists_come_from_a_fit_replica_and_a_lagging_one_is_skipped(databases, served):
    primary, replica = databases
    await seeded(primary)
    await caught_up(primary, replica)
    headers = {"Authorization": f"Bearer {SECRET}"}
    async with (
        httpx.AsyncClient(base_url=f"{served}/api/v1", headers=headers) as api,
        httpx.AsyncClient(base_url=served) as admin,
    ):
        await logged_in(admin)
        # The replica serves the list pages: its own count of lead scans grows by them.
        await lead_names(api)  # the first read starts the replica's first check
        await asyncio.sleep(1.5)
        before = await lead_scans_on(replica)
        pages = 30
        assert [await lead_names(api) for _ in range(pages)] == [{"Early"}] * pages
        # An idle server process reports its counts within 10 s (PGSTAT_IDLE_INTERVAL).
        deadline = time.monotonic() + 20
        while await lead_scans_on(replica) - before < pages:
            assert time.monotonic() < deadline, "the replica did not serve the list pages"
            await asyncio.sleep(0.5)

        # Replay paused just after a fresh commit: the replica stays fit for a few
        # seconds, and a lead written now is missing from what it serves ...
        await fetchval(primary, "UPDATE workspace SET name = name RETURNING id")
        await caught_up(primary, replica)
        await fetchval(replica, "SELECT pg_wal_replay_pause()")
        try:
            late = await api.put("/leads/by-external-id/2", json={"name": "Late"})
            assert late.status_code == 201
            assert await lead_names(api) == {"Early"}
            admin_page = await admin.get("/admin/api/tables/lead/", params={"__order": "-id"})
            assert [row["name"] for row in admin_page.json()["rows"]] == ["Early"]
            # ... while one lead by id is the primary's: the caller sees its own write.
            read_back = await api.get(f"/leads/{late.json()['id']}")
            assert read_back.json()["name"] == "Late"

            # Once the replica is more than the bound behind, the primary answers.
            deadline = time.monotonic() + MAX_LAG_SECONDS + 10
            while await lead_names(api) != {"Early", "Late"}:
                assert time.monotonic() < deadline, "the lagging replica was never skipped"
                await asyncio.sleep(0.2)
            admin_page = await admin.get("/admin/api/tables/lead/", params={"__order": "-id"})
            assert [row["name"] for row in admin_page.json()["rows"]] == ["Late", "Early"]
        finally:
            await fetchval(replica, "SELECT pg_wal_replay_resume()")


async def test_a_stopped_replica_leaves_the_api_answering(pair, databases, served):
    primary, replica = databases
    await seeded(primary)
    await caught_up(primary, replica)
    headers = {"Authorization": f"Bearer {SECRET}"}
    pair.stop_replica()
    try:
        async with httpx.AsyncClient(base_url=f"{served}/api/v1", headers=headers) as api:
            for _ in range(10):
                assert "Early" in await lead_names(api)
            assert get(f"{served}/healthz")[0] == 200
    finally:
        pair.start_replica()


async def test_a_replica_stopped_while_the_primary_recycles_its_wal_catches_up(pair, databases):
    """The pair's replica has a replication slot: the primary keeps the WAL it has not
    received. Without one, the segments below are recycled by the checkpoints, the
    restarted replica asks for a segment 'already removed', and never catches up."""
    primary, replica = databases
    await caught_up(primary, replica)
    pair.stop_replica()
    try:
        connection = await asyncpg.connect(primary)
        try:
            for _ in range(4):  # a new segment, then a checkpoint, four times
                await connection.execute(
                    "CREATE TABLE IF NOT EXISTS wal_churn (n int); INSERT INTO wal_churn "
                    "SELECT generate_series(1, 20000)"
                )
                await connection.execute("SELECT pg_switch_wal()")
                await connection.execute("CHECKPOINT")
            written = await connection.fetchval("SELECT count(*) FROM wal_churn")
        finally:
            await connection.close()
    finally:
        pair.start_replica()
    await caught_up(primary, replica)
    assert await fetchval(replica, "SELECT count(*) FROM wal_churn") == written == 80_000


def test_replica_settings_are_checked_with_one_readable_line():
    database = "postgresql://app@primary:5432/masterplan"
    configured = {"DATABASE_REPLICA_URLS": "postgresql://r1:5432, postgresql://r2/other"}
    assert replica_urls(database, DatabaseSettings.from_environment(configured)) == [
        "postgresql://r1:5432/masterplan",
        "postgresql://r2/other",
    ]
    with pytest.raises(ConfigurationError) as refused:
        DatabaseSettings.from_environment({"DATABASE_REPLICA_URLS": "postgresql://r1,replica-two"})
    assert str(refused.value).startswith("masterplan: DATABASE_REPLICA_URLS must be a PostgreSQL")
    with pytest.raises(ConfigurationError) as refused:
        DatabaseSettings.from_environment({"DATABASE_REPLICA_MAX_LAG_SECONDS": "soon"})
    assert str(refused.value) == (
        "masterplan: DATABASE_REPLICA_MAX_LAG_SECONDS must be a number of seconds from 0 to 3600"
    )
    lag = DatabaseSettings.from_environment({"DATABASE_REPLICA_MAX_LAG_SECONDS": "2.5"})
    assert lag.replica_max_lag_seconds == 2.5


def test_a_replica_is_skipped_after_two_checks_in_a_row_find_it_behind():
    """The first WAL after an idle spell is measured from the last commit replayed,
    maybe minutes ago: one such check alone does not skip a replica."""
    from app.db.replicas import Replica

    replica = Replica("replica_1", engine=None, max_lag_seconds=5)
    verdicts = [replica.judge(lag) for lag in (0, 0.4, 42.0, 0.0, 42.0, 43.0, 44.0, 0, None, 0)]
    assert verdicts == [True, True, True, True, True, False, False, True, False, True]
