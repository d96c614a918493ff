"""Writes carry a JSON object of bounded size, or are refused before any app sees them."""

import json
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.edge.body import Body, read_body

WRITE_METHODS = {"POST", "PUT", "PATCH"}
DEFAULT_MAX_BODY_BYTES = 1_048_576


class JSONBodyGuard:
    """ASGI middleware: a write's body must be a JSON object of bounded size; 400 or
    413 otherwise.

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
        larger_bodies: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths (prefixes) that take a larger body (a file's rows): their own limit.
        self.larger_bodies = larger_bodies or {}
        # Endpoints that read the raw body themselves (a signed webhook checks the
        # signature before parsing): only the size limit applies.
        self.raw_body_paths = raw_body_paths
        self.error_body = error_body or (lambda code, message: {"detail": message})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        limit = next(
            (size for path, size in self.larger_bodies.items() if scope["path"].startswith(path)),
            self.max_body_bytes,
        )
        body, replayed = await read_body(scope, receive, limit)
        raw = scope["path"].endswith(self.raw_body_paths) if self.raw_body_paths else False
        problem = self._problem(body, raw)
        if problem is not None:
            status, code, message = problem
            response = JSONResponse(self.error_body(code, message), status_code=status)
            await response(scope, receive, send)
            return
        await self.app(scope, replayed, send)

    def _problem(self, body: Body, raw: bool) -> tuple[int, str, str] | None:
        if body.too_large:
            message = f"request body is larger than {body.limit} bytes"
            return 413, "payload_too_large", message
        if raw or not body.content:
            return None  # e.g. a logout; endpoints that need a body say so
        try:
            document = json.loads(body.content)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 400, "invalid_json", "request body must be valid JSON"
        if not isinstance(document, dict):
            return 400, "invalid_json", "request body must be a JSON object"
        return None
