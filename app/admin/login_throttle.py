"""The admin's login limit, counted in PostgreSQL so every server process counts alike.

piccolo-admin's own limiter counts in one process's memory, so N workers would allow
N times the attempts. Here each login attempt first reserves a failure for its
client address in ``login_throttle`` (one atomic upsert: racing workers cannot both
take the last one); a login that succeeds gives its reservation back. Past
``LOGIN_FAILURE_LIMIT`` failures within ``LOGIN_WINDOW_SECONDS`` of an address's
first failure, the address is refused with 429 until that window ends, whatever the
password. A right password that is asked for its second factor is not a failure; a
wrong code is. The address is the client's as the server sees it (behind a proxy on
another machine, set ``FORWARDED_ALLOW_IPS`` so it is the forwarded one).
"""

from piccolo_api.rate_limiting.middleware import RateLimitProvider
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.executor import fetch

LOGIN_FAILURE_LIMIT = 20
LOGIN_WINDOW_SECONDS = 300
LOGIN_PATH = "/public/login/"  # below the admin's mount
# piccolo-api's answer to a right password of an operator with two-factor sign-in.
CODE_ASKED = b"MFA code required"

RESERVE_FAILURE = """
INSERT INTO login_throttle AS throttle (address, window_started, failures)
VALUES ({}, now(), 1)
ON CONFLICT (address) DO UPDATE SET
    window_started = CASE WHEN throttle.window_started > now() - make_interval(secs => {})
        THEN throttle.window_started ELSE now() END,
    failures = CASE WHEN throttle.window_started > now() - make_interval(secs => {})
        THEN throttle.failures + 1 ELSE 1 END
RETURNING window_started, failures,
    ceil(extract(epoch FROM window_started + make_interval(secs => {}) - now()))::int
        AS seconds_left
"""

GIVE_BACK = """
UPDATE login_throttle SET failures = failures - 1
WHERE address = {} AND window_started = {} AND failures > 0
"""

# Ended windows are removed as other attempts pass; SKIP LOCKED never waits on one.
FORGET_ENDED_WINDOWS = """
DELETE FROM login_throttle WHERE address IN (
    SELECT address FROM login_throttle
    WHERE window_started <= now() - make_interval(secs => {})
    LIMIT 100 FOR UPDATE SKIP LOCKED
)
"""


class CountedInDatabase(RateLimitProvider):
    """Stands in for piccolo-admin's in-memory limiter: ``LoginThrottle`` counts."""

    def increment(self, identifier: str) -> None:
        return None


def route_path(scope: Scope) -> str:
    """The request's path below the admin's mount."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class LoginThrottle:
    """ASGI middleware in front of the admin: counts failed logins per address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or route_path(scope) != LOGIN_PATH:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if not client:
            refusal = JSONResponse({"detail": "the client's address is unknown"}, 400)
            await refusal(scope, receive, send)
            return
        await self._attempt(client[0], scope, receive, send)

    async def _attempt(self, address: str, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = LOGIN_WINDOW_SECONDS
        [window] = await fetch(RESERVE_FAILURE, address, seconds, seconds, seconds)
        await fetch(FORGET_ENDED_WINDOWS, seconds)
        if window["failures"] > LOGIN_FAILURE_LIMIT:
            retry_after = str(max(1, window["seconds_left"]))
            detail = f"too many failed logins from this address; retry in {retry_after} s"
            refusal = JSONResponse({"detail": detail}, 429, {"Retry-After": retry_after})
            await refusal(scope, receive, send)
            return

        status = 0

        async def send_after_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status < 400:
                    await fetch(GIVE_BACK, address, window["window_started"])
            elif status == 401 and CODE_ASKED in message.get("body", b""):
                # The password was right; the code comes in the next attempt, which counts.
                await fetch(GIVE_BACK, address, window["window_started"])
            await send(message)

        await self.app(scope, receive, send_after_counting)
