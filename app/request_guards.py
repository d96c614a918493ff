"""ASGI middleware that refuses malformed request bodies before an app sees them."""

import json
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WRITE_METHODS = {"POST", "PUT", "PATCH"}
DEFAULT_MAX_BODY_BYTES = 1_048_576


class JSONBodyGuard:
    """Writes must carry a JSON object of bounded size: 400 or 413 otherwise.

    The wrapped apps parse bodies with ``await request.json()`` and pass the
    result on as keyword arguments; a malformed body would otherwise surface
    as a 500.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        error_body: Callable[[str, str], dict[str, Any]] | None = None,
        raw_body_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Endpoints that read the raw body themselves (a signed webhook checks the
        # signature before parsing): only the size limit applies.
        self.raw_body_paths = raw_body_paths
        self.error_body = error_body or (lambda code, message: {"detail": message})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        body, too_large = await self._read_body(receive)
        raw = scope["path"].endswith(self.raw_body_paths) if self.raw_body_paths else False
        problem = self._problem(b"" if raw and not too_large else body, too_large)
        if problem is not None:
            status, code, message = problem
            response = JSONResponse(self.error_body(code, message), status_code=status)
            await response(scope, receive, send)
            return
        await self.app(scope, self._replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    def _problem(self, body: bytes, too_large: bool) -> tuple[int, str, str] | None:
        if too_large:
            message = f"request body is larger than {self.max_body_bytes} bytes"
            return 413, "payload_too_large", message
        if not body:
            return None  # e.g. a logout; endpoints that need a body say so
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 400, "invalid_json", "request body must be valid JSON"
        if not isinstance(document, dict):
            return 400, "invalid_json", "request body must be a JSON object"
        return None

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


ADMIN_SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
API_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}


class SecurityHeaders:
    """Adds fixed headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw_headers = [
            (name.lower().encode(), value.encode()) for name, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [header for header in self.raw_headers if header[0] not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
