"""Each state-changing request is one transaction that names its actor in the change
log (app/change_log.py): committed before its response leaves, rolled back when the
answer is an error, so a refused request changes nothing."""

import contextlib
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.change_log import records_changes, request_action
from app.db.executor import transaction


class _Refused(Exception):
    """Raised inside ``_recorded_request`` to roll its transaction back."""


@contextlib.asynccontextmanager
async def _recorded_request(scope: Scope) -> AsyncIterator[None]:
    """One transaction for a state-changing request, its action named by method and
    path; ``_Refused`` raised inside rolls it back and is not propagated."""
    with request_action(scope):
        try:
            async with transaction():
                yield
        except _Refused:
            pass


class RecordedWrites:
    """ASGI middleware: each state-changing request under ``prefixes`` is one
    transaction, committed before its response leaves, rolled back on a 4xx/5xx."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not records_changes(scope, self.prefixes):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        async with _recorded_request(scope):
            await self.app(scope, receive, hold)
            if _status(held) >= 400:
                raise _Refused
        for message in held:
            await send(message)


def _status(messages: list[Message]) -> int:
    for message in messages:
        if message["type"] == "http.response.start":
            return message["status"]
    return 500
