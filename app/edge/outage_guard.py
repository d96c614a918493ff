"""A database outage is a 503, not a 500.

While PostgreSQL is unreachable (stopped, restarting, refusing connections, or not
answering within the statement timeout), every request that needs it is answered
503 in the API's error shape with ``Retry-After``. Which errors mean an outage, and
the log of one, are the database layer's (app/db/outages.py).
"""

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.executor import clear_request_context
from app.db.outages import OUTAGE_ERRORS, OUTAGES, OutageLog, outage_kind
from app.errors import error_body

RETRY_AFTER_SECONDS = 5
# The error code of every answer given while the database is unavailable.
UNAVAILABLE = "database_unavailable"


def unavailable_response(message: str) -> JSONResponse:
    body = error_body(UNAVAILABLE, message)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(body, status_code=503, headers=headers)


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
