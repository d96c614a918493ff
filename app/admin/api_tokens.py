"""The admin's API token forms: issue a token with its scopes and expiry (the secret
is shown once, in the form's answer), and revoke one. Both call app/tokens.py, as the
``create-token`` and ``revoke-token`` commands do."""

from datetime import UTC, datetime
from typing import Any

import pydantic
from starlette.requests import Request

from app.admin.forms import RowChoice, operator_form, picked
from app.enums import TokenScope
from app.errors import DomainError
from app.tokens import create_token, revoke_token

TOKENS_GROUP = "Operators"


class TokenForm(pydantic.BaseModel):
    """Scopes are ticked one by one; ticking none is refused, so an operator never
    issues a token for everything without saying so."""

    workspace: RowChoice = picked("workspace", "Pick the workspace the token acts for")
    name: str = pydantic.Field(default="", max_length=100, description="What it is for")
    read: bool = pydantic.Field(default=False, description="read: GET requests")
    write: bool = pydantic.Field(default=False, description="write: leads, strategies, consent")
    send: bool = pydantic.Field(default=False, description="send: permits, messages, dispatch")
    admin: bool = pydantic.Field(default=False, description="admin: workspace settings")
    expires_at: datetime | None = pydantic.Field(
        default=None, description="Refused after this instant (UTC unless a zone is given)"
    )

    def scopes(self) -> list[str]:
        return [scope.value for scope in TokenScope if getattr(self, scope.value)]


class RevokeTokenForm(pydantic.BaseModel):
    token: RowChoice = picked("api_token", "Pick the token")


async def create_token_form(request: Request, data: TokenForm) -> str:
    scopes = data.scopes()
    if not scopes:
        raise ValueError("tick at least one scope: read, write, send or admin")
    expires_at = data.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    try:
        issued = await create_token(data.workspace, data.name, scopes, expires_at)
    except DomainError as error:
        raise ValueError(str(error)) from None
    until = f"until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "without expiry"
    return (
        f"Token {issued.id} ({', '.join(scopes)}; {until}) for workspace {issued.workspace_id}. "
        f"Copy it now, it is shown only once: {issued.secret}"
    )


async def revoke_token_form(request: Request, data: RevokeTokenForm) -> str:
    try:
        revoked = await revoke_token(data.token)
    except DomainError as error:
        raise ValueError(str(error)) from None
    return f"Token {data.token} revoked." if revoked else f"Token {data.token} was already revoked."


TOKEN_FORMS: list[Any] = [
    operator_form(
        "Create API token",
        TokenForm,
        create_token_form,
        "Issue an API token for a workspace, limited to the scopes ticked and optionally "
        "expiring; the token is shown once.",
        TOKENS_GROUP,
    ),
    operator_form(
        "Revoke API token",
        RevokeTokenForm,
        revoke_token_form,
        "Requests with the token get 401 from then on.",
        TOKENS_GROUP,
    ),
]
