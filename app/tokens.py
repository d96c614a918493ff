"""Per-workspace API tokens: created once, stored as SHA-256, revocable, optionally
expiring and limited to scopes (app/enums.py ``TokenScope``). This module is the one
owner of the token check: who a bearer header speaks for, and whether that caller may
act in a scope now; both API lanes (app/api/auth.py, app/api/fast_lane.py) ask it."""

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.db.executor import fetch
from app.enums import TokenScope
from app.errors import InvalidValue, NotFound
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


def token_scopes(names: Iterable[str]) -> list[TokenScope] | None:
    """Scopes by name, each once, in ``TokenScope``'s order; none named: None, a full token."""
    named = {name.strip().lower() for name in names}
    unknown = sorted(named - {scope.value for scope in TokenScope})
    if unknown:
        known = ", ".join(scope.value for scope in TokenScope)
        raise InvalidValue("scopes", f"unknown scope {unknown[0]!r}: the scopes are {known}")
    return [scope for scope in TokenScope if scope.value in named] or None


def has_expired(expires_at: datetime | None) -> bool:
    """Whether a token with this expiry (None: never) no longer works."""
    return expires_at is not None and expires_at <= datetime.now(UTC)


def checked_expiry(expires_at: datetime | None) -> datetime | None:
    """An expiry must name its time zone and lie in the future."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidValue("expires_at", "an expiry needs a time zone, e.g. 2027-01-31T00:00Z")
    if has_expired(expires_at):
        raise InvalidValue(
            "expires_at", f"the expiry {expires_at.isoformat()} is not in the future"
        )
    return expires_at


async def create_token(
    workspace_id: int,
    name: str = "",
    scopes: Iterable[str] = (),
    expires_at: datetime | None = None,
) -> IssuedToken:
    """Issue a token for the workspace: limited to ``scopes`` (none: every scope),
    refused (401) after ``expires_at`` (None: never)."""
    chosen, expiry = token_scopes(scopes), checked_expiry(expires_at)
    if not await Workspace.exists().where(Workspace.id == workspace_id):
        raise NotFound(f"workspace {workspace_id} does not exist")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        workspace_id=workspace_id,
        name=name,
        token_hash=token_hash(secret),
        scopes=chosen,
        expires_at=expiry,
    )
    rows = await ApiToken.insert(row).returning(ApiToken.id)
    return IssuedToken(id=rows[0]["id"], workspace_id=workspace_id, name=name, secret=secret)


async def list_tokens(workspace_id: int | None = None) -> list[dict[str, Any]]:
    """Tokens (never their secrets), newest first."""
    query = ApiToken.select(
        ApiToken.id,
        ApiToken.workspace_id,
        ApiToken.name,
        ApiToken.created_at,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.scopes,
        ApiToken.last_used_at,
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
    """A live token's owner: its workspace, and the token itself by id and name, what
    it may do (None: everything) and until when (None: for ever)."""

    workspace_id: int
    token_id: int
    token_name: str
    scopes: frozenset[TokenScope] | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """Why a request's token does not admit it: 401 (no live token) or 403 (scope)."""

    status: int
    message: str


def refusal(caller: Caller | None, scope: TokenScope, action: str) -> Refusal | None:
    """Whether ``caller`` may do ``action`` (e.g. "POST /leads"), which needs ``scope``."""
    if caller is None:
        return Refusal(401, "a valid token is required: Authorization: Bearer <token>")
    if caller.expires_at is not None and has_expired(caller.expires_at):
        expired = caller.expires_at.astimezone(UTC)
        return Refusal(401, f"this token expired at {expired:%Y-%m-%d %H:%M:%S} UTC")
    if caller.scopes is not None and scope not in caller.scopes:
        return Refusal(403, f"{action} needs a token with the '{scope}' scope")
    return None


# The live token by its hash, noting its use in the same statement, at most once a
# minute: the row is written only when its last use is older, and SKIP LOCKED lets
# a concurrent request that is already noting it (in its own transaction) pass by.
# Looked up at most every TOKEN_CACHE_SECONDS per process, so this costs nothing per
# request. The change log leaves last_used_at out (its trigger's arguments).
LIVE_TOKEN_NOTING_USE = """
WITH token AS (
    SELECT id, workspace_id, name, scopes, expires_at
      FROM api_token
     WHERE token_hash = {} AND revoked_at IS NULL
), noted AS (
    UPDATE api_token SET last_used_at = now()
     WHERE id = (SELECT unused.id
                   FROM api_token AS unused
                  WHERE unused.id = (SELECT id FROM token)
                    AND (unused.last_used_at IS NULL
                         OR unused.last_used_at < now() - interval '1 minute')
                    FOR UPDATE SKIP LOCKED)
)
SELECT id, workspace_id, name, scopes, expires_at FROM token
"""

_live_tokens: dict[str, tuple[Caller, float]] = {}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def caller_of_authorization(authorization: str | None) -> Caller | None:
    """Who an ``Authorization: Bearer <token>`` header speaks for, or None."""
    token = bearer_token(authorization)
    return await caller_of_token(token) if token is not None else None


async def caller_of_token(token: str) -> Caller | None:
    """Who a live token speaks for, or None."""
    digest = token_hash(token)
    remembered = _live_tokens.get(digest)
    now = time.monotonic()
    if remembered is not None and now - remembered[1] < TOKEN_CACHE_SECONDS:
        return remembered[0]
    rows = await fetch(LIVE_TOKEN_NOTING_USE, digest)
    if not rows:
        _live_tokens.pop(digest, None)
        return None
    if len(_live_tokens) >= TOKEN_CACHE_SIZE:
        _live_tokens.clear()
    caller = _caller(rows[0])
    _live_tokens[digest] = (caller, now)
    return caller


def _caller(row: dict[str, Any]) -> Caller:
    scopes = None if row["scopes"] is None else frozenset(map(TokenScope, row["scopes"]))
    return Caller(row["workspace_id"], row["id"], row["name"], scopes, row["expires_at"])
