"""A request body, read once per request whichever wrapper reads it first.

A wrapper that must see the body before the application (the JSON check, the
API's fast lane) reads it here; the body is kept in the request's scope, so a
wrapper further in takes it from there instead of reading it again, and the
application receives it replayed as if nothing had been read.
"""

from dataclasses import dataclass

from starlette.types import Message, Receive, Scope

SCOPE_KEY = "masterplan.body"


@dataclass(frozen=True)
class Body:
    """What arrived of a request body, up to a size limit."""

    content: bytes
    limit: int
    complete: bool  # every byte arrived and none past the limit
    too_large: bool  # more than ``limit`` bytes were sent


async def _receive_up_to(receive: Receive, limit: int) -> Body:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return Body(b"".join(chunks), limit, complete=False, too_large=False)
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return Body(b"".join(chunks), limit, complete=False, too_large=True)
        if not message.get("more_body", False):
            return Body(b"".join(chunks), limit, complete=True, too_large=False)


async def read_body(scope: Scope, receive: Receive, limit: int) -> tuple[Body, Receive]:
    """The request's body (read now, or as an outer wrapper read it with the same
    limit) and a ``receive`` that hands it on as if unread."""
    body = scope.get(SCOPE_KEY)
    if body is None or body.limit != limit:
        body = await _receive_up_to(receive, limit)
        scope[SCOPE_KEY] = body
    return body, replaying(body, receive)


def replaying(body: Body, receive: Receive) -> Receive:
    """``receive`` as if nothing had been read: ``body`` first, then the rest."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            more = not body.complete  # a client gone or a body past the limit
            return {"type": "http.request", "body": body.content, "more_body": more}
        return await receive()

    return replay
