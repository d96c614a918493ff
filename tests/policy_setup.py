"""Workspaces and leads ready for outreach, and a check that decisions replay.

Loaded as a pytest plugin (tests/conftest.py), so its fixtures serve every module."""

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app.policy import engine
from tests import factories

# Wednesday 16 June 2027, 12:00 in London: inside every send window the tests use.
WEDNESDAY_NOON_LONDON = datetime(2027, 6, 16, 11, 0, tzinfo=UTC)


async def outreach_workspace(connection: asyncpg.Connection, name: str = "Acme") -> int:
    """A workspace with a granted attestation and an ACTIVE BALANCED strategy."""
    workspace_id = await factories.workspace(connection, name)
    await factories.attestation(
        connection, workspace_id, granted=True, timestamp=datetime.now(UTC) - timedelta(days=1)
    )
    await factories.strategy_version(
        connection, workspace_id, 1, status="ACTIVE", activated_at=datetime.now(UTC)
    )
    return workspace_id


async def london_lead(
    connection: asyncpg.Connection, workspace_id: int, external_id: str = "+447700900001", **values
) -> int:
    values.setdefault("timezone", "Europe/London")
    values.setdefault("stage", "CONTACTED")
    return await factories.lead(connection, workspace_id, external_id, **values)


async def inbound(
    connection: asyncpg.Connection, workspace_id: int, lead_id: int, at: datetime
) -> int:
    """The lead writes to us at ``at`` (a `user` message in a new thread)."""
    thread_id = await factories.thread(connection, workspace_id, lead_id)
    await factories.chat_message(connection, thread_id, role="user", created_at=at)
    return thread_id


async def assert_every_engine_decision_replays(connection: asyncpg.Connection) -> int:
    """Replay every decision the engine recorded; all must agree. Returns how many."""
    rows = await connection.fetch(
        "SELECT id, workspace_id FROM policy_decision WHERE kind IS NOT NULL ORDER BY id"
    )
    for row in rows:
        replayed = await engine.replay(row["workspace_id"], row["id"])
        assert replayed["same"], replayed
    return len(rows)


@pytest.fixture
async def replayed_decisions(connection):
    """After the test: every decision it recorded replays to the same result."""
    yield
    await assert_every_engine_decision_replays(connection)


@pytest.fixture
async def acme(connection) -> int:
    """A workspace ready for outreach."""
    return await outreach_workspace(connection)


async def lead_row(connection: asyncpg.Connection, lead_id: int) -> dict:
    return dict(await connection.fetchrow("SELECT * FROM lead WHERE id = $1", lead_id))


@pytest.fixture
async def api(acme):
    """An API client holding a token of the ``acme`` workspace."""
    from tests.api_client import client_for

    client = await client_for(acme)
    yield client
    await client.http.aclose()
