"""An operator's HTTP client for the admin's API, in process (no lifespan)."""

import itertools
import json
from typing import Any

import httpx
from piccolo.apps.user.tables import BaseUser
from piccolo_api.encryption.providers import FernetProvider
from piccolo_api.mfa.authenticator.tables import AuthenticatorSecret
from piccolo_api.session_auth.tables import SessionsBase

from app.admin.two_factor import encryption_key
from app.main import app
from app.settings import settings

# Each client gets its own address, as distinct operators would: the login
# rate limit counts per address and must not leak between tests.
_addresses = (f"10.0.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def anonymous_client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(next(_addresses), 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def csrf_token(client: httpx.AsyncClient) -> str:
    await client.get("/admin/")
    return client.cookies["csrftoken"]


class AdminClient:
    """A logged-in operator: CSRF header set, rows created the way the UI does."""

    def __init__(self, client: httpx.AsyncClient, csrf: str, username: str) -> None:
        self.http = client
        self.headers = {"X-CSRFToken": csrf}
        self.username = username

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/admin/api{path}", params=params)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(f"/admin/api{path}", json=body, headers=self.headers)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.http.patch(f"/admin/api{path}", json=body, headers=self.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(f"/admin/api{path}", headers=self.headers)

    async def create(self, table: str, **values: Any) -> httpx.Response:
        """POST a new row merged over the table's /new/ defaults, as the UI does."""
        defaults = (await self.get(f"/tables/{table}/new/")).json()
        row = {key: value for key, value in defaults.items() if key != "id"}
        row.update({key: _admin_value(value) for key, value in values.items()})
        return await self.post(f"/tables/{table}/", row)

    async def edit(self, table: str, row_id: int, **values: Any) -> httpx.Response:
        """PATCH the whole row with some values changed, as the edit page does."""
        current = (await self.get(f"/tables/{table}/{row_id}/")).json()
        current.pop("id", None)
        current.update({key: _admin_value(value) for key, value in values.items()})
        return await self.patch(f"/tables/{table}/{row_id}/", current)

    async def submit(self, form: str, **data: Any) -> httpx.Response:
        return await self.post(f"/forms/{form}/", data)


def _admin_value(value: Any) -> Any:
    # The admin sends JSON column values as JSON text.
    return json.dumps(value) if isinstance(value, dict | list) else value


async def logged_in_operator(username: str = "operator", superuser: bool = False) -> AdminClient:
    user = await BaseUser.create_user(
        username=username,
        password="correct horse",
        email=f"{username}@example.com",
        admin=True,
        superuser=superuser,
        active=True,
    )
    if superuser:
        await enrol_in_two_factor(user.id)  # superusers sign in with a second factor
    token = await SessionsBase.create_session(user_id=user.id)
    client = anonymous_client()
    client.cookies.set("id", token.token)
    return AdminClient(client, await csrf_token(client), username)


def two_factor_encryption() -> FernetProvider:
    """How the served admin encrypts authenticator secrets (this run's ADMIN_MFA_KEY)."""
    return FernetProvider(encryption_key(settings().admin.mfa))


async def enrol_in_two_factor(user_id: int) -> tuple[str, list[str]]:
    """Enrol an operator as the enrolment page does; the shared secret and recovery codes."""
    secret, recovery_codes = await AuthenticatorSecret.create_new(
        user_id=user_id, encryption_provider=two_factor_encryption()
    )
    return two_factor_encryption().decrypt(secret.secret), recovery_codes


def messages(response: httpx.Response) -> str:
    """Everything the admin UI would show an operator for a refused request."""
    body = response.json()
    detail = body.get("detail", "")
    if isinstance(detail, list):
        detail = " | ".join(f"{item['loc'][-1]}: {item['msg']}" for item in detail)
    return " | ".join(
        str(part) for part in (detail, body.get("db_error"), body.get("custom_form_error")) if part
    )
