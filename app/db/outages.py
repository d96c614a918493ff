"""When the database is unavailable: which errors mean an outage, and the log of
one (one warning line when it starts, one when the database answers again).

asyncpg notices pooled connections the server closed and opens new ones, so none
survives an outage. The request edge answers an outage 503 (app/edge/outage_guard.py).
"""

import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from app.metrics import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_ANSWERS

logger = logging.getLogger("masterplan.database")

NOT_REACHED = "the database is unavailable; nothing was changed: retry later"
LOST = (
    "the connection to the database was lost; a write in flight may or may not have "
    "been saved: read before retrying"
)


def outage_kind(error: BaseException) -> str | None:
    """``NOT_REACHED`` or ``LOST`` when ``error`` means the database is unavailable."""
    if isinstance(
        error, (ConnectionRefusedError, FileNotFoundError, asyncpg.CannotConnectNowError)
    ):
        return NOT_REACHED
    # Timeouts (connect, statement) and errors mid-request: the outcome of a write in
    # flight is unknown to this process, so the answer says so.
    if isinstance(
        error, OSError | asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError
    ):
        return LOST
    if isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError):
        # e.g. "cannot switch to state 12; another operation is in progress": a
        # connection left half-way by the server going away.
        text = str(error)
        if "connection" in text or "another operation" in text:
            return LOST
    return None


class OutageLog:
    """Remembers whether the database is down, so an outage is logged once; each
    request answered 503 for it, and the state, are counted (app/metrics.py)."""

    def __init__(self) -> None:
        self.down_since: float | None = None

    def failed(self, error: BaseException) -> None:
        """The database failed a request, which is answered 503."""
        DATABASE_UNAVAILABLE_ANSWERS.inc()
        if self.down_since is None:
            DATABASE_UNAVAILABLE.set(1)
            self.down_since = time.monotonic()
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            logger.warning("database unavailable (%s); answering 503", reason)

    def answered(self) -> None:
        if self.down_since is not None:
            seconds = time.monotonic() - self.down_since
            self.down_since = None
            DATABASE_UNAVAILABLE.set(0)
            logger.warning("database available again after %.1f s", seconds)

    async def check_recovery(self, probe: Callable[[], Awaitable[object]]) -> None:
        """During an outage, after a request that did not fail: is the database back?"""
        if self.down_since is None:
            return
        try:
            await probe()
        except Exception as error:
            if outage_kind(error) is None:
                raise
            return
        self.answered()


OUTAGES = OutageLog()

# What asyncpg raises when the server is down or goes away.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)
