"""Per-workspace API tokens: created once, stored as SHA-256, revocable."""

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from app.db.executor import fetch
from app.errors import NotFound
from app.tables import ApiToken, Workspace

TOKEN_PREFIX = "mp_"


def token_hash(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is a safe way to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``secret`` is shown once and never stored."""

    id: int
    workspace_id: int
    name: str
    secret: str


async def create_token(workspace_id: int, name: str = "") -> IssuedToken:
    """Issue a token for the workspace."""
    if not await Workspace.exists().where(Workspace.id == workspace_id):
        raise NotFound(f"workspace {workspace_id} does not exist")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    rows = await ApiToken.insert(
        ApiToken(workspace_id=workspace_id, name=name, token_hash=token_hash(secret))
    ).returning(ApiToken.id)
    return IssuedToken(id=rows[0]["id"], workspace_id=workspace_id, name=name, secret=secret)


async def list_tokens(workspace_id: int | None = None) -> list[dict[str, Any]]:
    """Tokens (never their secrets), newest first."""
    query = ApiToken.select(
        ApiToken.id, ApiToken.workspace_id, ApiToken.name, ApiToken.created_at, ApiToken.revoked_at
    ).order_by(ApiToken.id, ascending=False)
    if workspace_id is not None:
        query = query.where(ApiToken.workspace_id == workspace_id)
    return await query


async def revoke_token(token_id: int) -> bool:
    """Revoke a token; False when it was already revoked."""
    rows = await fetch(
        "UPDATE api_token SET revoked_at = now() WHERE id = {} AND revoked_at IS NULL RETURNING id",
        token_id,
    )
    if rows:
        return True
    if not await ApiToken.exists().where(ApiToken.id == token_id):
        raise NotFound(f"token {token_id} does not exist")
    return False


# A live token's workspace is remembered for at most this long by each server
# process, so a revocation (from any process: CLI, admin, psql) takes effect
# within it; unknown and revoked tokens are never remembered.
TOKEN_CACHE_SECONDS = 0.5
TOKEN_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Caller:
    """A live token's owner: its workspace, and the token itself by id and name."""

    workspace_id: int
    token_id: int
    token_name: str


_live_tokens: dict[str, tuple[Caller, float]] = {}


async def caller_of_authorization(authorization: str | None) -> Caller | None:
    """Who an ``Authorization: Bearer <token>`` header speaks for, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    return await caller_of_token(token.strip()) if scheme.lower() == "bearer" else None


async def caller_of_token(token: str) -> Caller | None:
    """Who a live token speaks for, or None."""
    digest = token_hash(token)
    remembered = _live_tokens.get(digest)
    now = time.monotonic()
    if remembered is not None and now - remembered[1] < TOKEN_CACHE_SECONDS:
        return remembered[0]
    rows = await fetch(
        "SELECT id, workspace_id, name FROM api_token WHERE token_hash = {} AND revoked_at IS NULL",
        digest,
    )
    if not rows:
        _live_tokens.pop(digest, None)
        return None
    if len(_live_tokens) >= TOKEN_CACHE_SIZE:
        _live_tokens.clear()
    caller = Caller(rows[0]["workspace_id"], rows[0]["id"], rows[0]["name"])
    _live_tokens[digest] = (caller, now)
    return caller
