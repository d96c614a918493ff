"""Races made certain: the test holds the lock a protection takes, the contenders
queue behind it, and only then does the test let them go. Without the protection
nobody waits, and the test says so."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg

WAIT_SECONDS = 30.0


@contextlib.asynccontextmanager
async def held(url: str, statement: str, *arguments: object) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own holding the locks ``statement`` takes, in an
    open transaction, until the block ends (then rolled back)."""
    connection = await asyncpg.connect(url)
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute(statement, *arguments)
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


async def waiting_for(holder: asyncpg.Connection, contenders: int) -> None:
    """Return once ``contenders`` other sessions wait for a lock; fail if they never do."""
    deadline = time.monotonic() + WAIT_SECONDS
    waiting = 0
    while time.monotonic() < deadline:
        waiting = await holder.fetchval(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
        )
        if waiting >= contenders:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{waiting} of {contenders} contenders waited for the lock")
