"""``GET /metrics``: the Prometheus scrape (app/metrics.py), for the monitoring
system and operators only.

Read with ``Authorization: Bearer <METRICS_TOKEN>`` (the setting; compared in
constant time), or from a browser signed in to the admin as an operator (an admin
user's session). Anything else is refused in the API's error shape: 401 without
valid credentials, 403 for a session of a user who is not an operator. Served
beside ``/healthz``, outside the API: the API's OpenAPI document does not list it.
"""

import hmac

from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.middleware import SessionsAuthBackend
from piccolo_api.session_auth.tables import SessionsBase
from starlette.authentication import AuthenticationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.errors import error_body
from app.metrics import CONTENT_TYPE, scrape
from app.settings import settings
from app.tokens import bearer_token

# Any active user's session is read here; the endpoint tells operators from others (403).
SESSIONS = SessionsAuthBackend(auth_table=BaseUser, session_table=SessionsBase, admin_only=False)


def _refused(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def refusal(request: Request) -> JSONResponse | None:
    """Why ``request`` may not read the metrics, or None when it may."""
    token = bearer_token(request.headers.get("authorization"))
    expected = settings().observability.metrics_token
    if token is not None:
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return _refused(401, "unauthorized", "the metrics token is missing or wrong")
    try:
        _, user = await SESSIONS.authenticate(request)
    except AuthenticationError:
        return _refused(
            401, "unauthorized", "send the metrics token as a bearer token, or sign in to the admin"
        )
    if not user.user.admin:
        return _refused(403, "forbidden", "only operators (admin users) read the metrics")
    return None


async def metrics(request: Request) -> Response:
    """Every metric in Prometheus' text format, all workers' values added up."""
    refused = await refusal(request)
    if refused is not None:
        return refused
    return Response(scrape(), media_type=CONTENT_TYPE)
