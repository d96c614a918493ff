"""Every request observed: its id on the response, its count and latency by route.

The outermost wrapper (app/main.py), so that every answer (the fast lane's, a 503 of
the outage guard, a 404) is seen. The request's id (app/request_ids.py) is set for
everything the request's task does (change log, log lines) and sent back as
``X-Request-ID``. Requests are counted by their route template (``/api/v1/leads/
{lead_id}``, never the raw path: one series per route, however many leads), read
from the route that answered (Starlette's and FastAPI's routers name it in the
scope, the fast lane names the FastAPI route it stands for), with the status and
the time until the response's last part is handed to the server (app/metrics.py):
counted before the client can read it, so a scrape after an answer includes it.
"""

import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import ROUTE_TEMPLATE, UNMATCHED_ROUTE, count_request
from app.request_ids import HEADER, request_id_of, start_serving, stop_serving

HEADER_NAME = HEADER.encode()
# Methods counted by name; any other is counted as OTHER (a client chooses the method).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that answered, under its mounts' paths."""
    named = scope.get(ROUTE_TEMPLATE)
    if named is not None:
        return named
    route = scope.get("route")
    path = getattr(route, "path_format", None)
    if path is None:
        return UNMATCHED_ROUTE
    root = scope.get("root_path", "")
    if isinstance(route, Mount):  # nothing inside it answered: its root path includes it
        return f"{root}/{{path}}"
    return f"{root}{path}"


def _header(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == HEADER_NAME:
            return value
    return None


class ObservedRequests:
    """ASGI middleware: ``X-Request-ID`` on every response, each request counted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(_header(scope))
        echoed = (HEADER_NAME, request_id.encode())
        status = 500  # unless a response starts
        counted = False

        def count() -> None:
            nonlocal counted
            if not counted:
                counted = True
                method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
                count_request(method, route_template(scope), status, time.perf_counter() - started)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), echoed]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before its last part leaves: a scrape that follows an answer
                # the client has read counts that answer.
                count()
            await send(message)

        serving = start_serving(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            stop_serving(serving)
            count()  # an answer that never ended (or never started, 500) is counted too
