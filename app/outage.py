"""A database outage is a 503, not a 500.

While PostgreSQL is unreachable (stopped, restarting, refusing connections, or not
answering within the statement timeout), every request that needs it is answered
503 in the API's error shape with ``Retry-After``. One warning line is logged when
an outage starts and one when the database answers again. asyncpg notices pooled
connections the server closed and opens new ones, so none survives an outage.
"""

import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.executor import clear_request_context
from app.db.server import CONNECT_TIMEOUT_SECONDS
from app.errors import error_body

logger = logging.getLogger("masterplan.database")

# The server pool's bounds: a request waits at most this long for the database.
STATEMENT_TIMEOUT_SECONDS = 30.0
RETRY_AFTER_SECONDS = 5
# The error code of every answer given while the database is unavailable.
UNAVAILABLE = "database_unavailable"
POOL_SIZE = 10

NOT_REACHED = "the database is unavailable; nothing was changed: retry later"
LOST = (
    "the connection to the database was lost; a write in flight may or may not have "
    "been saved: read before retrying"
)


def pool_settings() -> dict:
    """Keyword arguments for asyncpg.create_pool that bound how long a request waits."""
    return {
        # Connections open on demand: a pool that keeps a floor of them retries (and
        # logs a traceback) every second while the database is down.
        "min_size": 0,
        "max_size": POOL_SIZE,
        "timeout": CONNECT_TIMEOUT_SECONDS,
        "command_timeout": STATEMENT_TIMEOUT_SECONDS + 5,
        "server_settings": {"statement_timeout": f"{int(STATEMENT_TIMEOUT_SECONDS * 1000)}"},
    }


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


def unavailable_response(message: str) -> JSONResponse:
    body = error_body(UNAVAILABLE, message)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(body, status_code=503, headers=headers)


class OutageLog:
    """Remembers whether the database is down, so an outage is logged once."""

    def __init__(self) -> None:
        self.down_since: float | None = None

    def failed(self, error: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            logger.warning("database unavailable (%s); answering 503", reason)

    def answered(self) -> None:
        if self.down_since is not None:
            seconds = time.monotonic() - self.down_since
            self.down_since = None
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


async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
    """Exception handler: a 503 for an outage; anything else stays an error."""
    kind = outage_kind(error)
    if kind is None:
        raise error
    OUTAGES.failed(error)
    return unavailable_response(kind)


def answer_outages_with_503(app: Starlette) -> None:
    """Handle outages inside ``app``, before its 500 handler logs them as server errors."""
    for error_class in OUTAGE_ERRORS:
        app.add_exception_handler(error_class, database_unavailable)


class DatabaseOutageGuard:
    """ASGI middleware: an outage raised anywhere inside becomes a 503.

    Inner apps (FastAPI, piccolo-admin) answer an unhandled error with a 500 and
    re-raise it; that 500 is held back here until the error is known, and replaced
    by a 503 when it is an outage.
    """

    def __init__(
        self,
        app: ASGIApp,
        probe: Callable[[], Awaitable[object]],
        outages: OutageLog = OUTAGES,
    ) -> None:
        self.app = app
        self.outages = outages
        self.probe = probe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        clear_request_context()
        held: list[Message] = []
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if held or (message["type"] == "http.response.start" and message["status"] == 500):
                held.append(message)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as error:
            kind = outage_kind(error)
            if kind is None or started:
                await self._send_all(held, send)
                raise
            self.outages.failed(error)
            await unavailable_response(kind)(scope, receive, send)
            return
        await self._send_all(held, send)
        await self.outages.check_recovery(self.probe)

    @staticmethod
    async def _send_all(messages: list[Message], send: Send) -> None:
        for message in messages:
            await send(message)
