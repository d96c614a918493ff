"""An ASGI app built when its first request arrives, not when the server starts.

The admin is piccolo-admin with 255 routes: about 2 s of CPU to import and build in
every server process. A process that serves only the API (most of them, and every
worker until an operator signs in) never pays it. The first admin request on each
process waits for the build; requests that arrive meanwhile wait with it (the build
runs on the event loop, once).
"""

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


class BuiltOnFirstUse:
    """Calls ``build`` on the first request, then serves every request with its app."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    @property
    def built(self) -> bool:
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = self._build()
        await self._app(scope, receive, send)
