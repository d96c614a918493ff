"""Fixed response headers, added in one way wherever a response is made."""

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
API_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}


class ResponseHeaders:
    """Headers every response of a part of the site carries; a response's own header
    of the same name wins."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    def missing_from(self, raw_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        present = {name for name, _ in raw_headers}
        return [header for header in self.raw if header[0] not in present]

    def add_to(self, response: Response) -> Response:
        """``response``, carrying these headers."""
        response.raw_headers.extend(self.missing_from(response.raw_headers))
        return response

    def add_to_start(self, message: Message) -> Message:
        """An ``http.response.start`` message, carrying these headers."""
        headers = list(message.get("headers", []))
        return {**message, "headers": [*headers, *self.missing_from(headers)]}


class SecurityHeaders:
    """ASGI middleware: ``headers`` on every response of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = ResponseHeaders(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = self.headers.add_to_start(message)
            await send(message)

        await self.app(scope, receive, send_with_headers)
