"""``piccolo masterplan create-token | list-tokens | revoke-token``."""

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from app.errors import DomainError, InvalidValue
from app.settings import ConfigurationError
from app.tokens import create_token as issue_token
from app.tokens import has_expired
from app.tokens import list_tokens as all_tokens
from app.tokens import revoke_token as revoke

# The option that gave each value app/tokens.py may refuse.
OPTIONS = {"scopes": "--scope", "expires_at": "--expires-at"}
LIFETIME_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LIFETIME = re.compile(r"^(\d{1,6})([mhdw])$")


async def create_token(
    workspace_id: int,
    name: str = "",
    scope: Any = None,
    expires_in: Any = None,
    expires_at: Any = None,
    **hyphenated: Any,
) -> None:
    """
    Create an API token for a workspace; the token is printed once, on the last line.

    :param workspace_id:
        The workspace the token acts for.
    :param name:
        What the token is for, e.g. "outreach engine".
    :param scope:
        What it may do: read, write, send or admin; repeat it (--scope=read
        --scope=send) or list them (--scope=read,send). None: every scope.
    :param expires_in:
        Refused after this long, e.g. 90m, 12h, 30d, 4w (also --expires-in).
    :param expires_at:
        Refused after this instant, e.g. 2027-01-31T00:00Z (also --expires-at).
    :param hyphenated:
        Not given by name: the options above spelled with hyphens land here.
    """
    try:
        options = _options(hyphenated, expires_in=expires_in, expires_at=expires_at)
        issued = await issue_token(int(workspace_id), name, _scopes(scope), _expiry(**options))
    except InvalidValue as error:
        raise ConfigurationError(f"{OPTIONS[error.field]}: {error.message}") from None
    except (DomainError, ValueError) as error:
        raise ConfigurationError(str(error)) from None
    print(f"Created token {issued.id} for workspace {issued.workspace_id}; it is shown only once:")
    print(issued.secret)


def _options(hyphenated: dict[str, Any], **given: Any) -> dict[str, Any]:
    """``--expires-in`` and ``--expires-at`` as well as their underscored spelling; any
    other option the command does not take is refused by name."""
    for option, value in hyphenated.items():
        if option.replace("-", "_") not in given:
            raise ValueError(f"create-token takes no option --{option}")
        given[option.replace("-", "_")] = value
    return given


def _scopes(last: Any) -> list[str]:
    """Every ``--scope`` given: Piccolo's command line keeps only the last of a repeated
    option, so the others are read from the arguments themselves."""
    given = [arg.split("=", 1)[1] for arg in sys.argv if arg.startswith("--scope=")]
    if last is True or (last is not None and not given):
        given = [last]
    if any(value is True or not str(value).strip() for value in given):
        raise ValueError("--scope needs a value, e.g. --scope=read")
    return [name for value in given for name in str(value).split(",") if name.strip()]


def _expiry(expires_in: Any, expires_at: Any) -> datetime | None:
    """When the token stops working, from ``--expires-in`` or ``--expires-at``."""
    if expires_in is not None and expires_at is not None:
        raise ValueError("give --expires-in or --expires-at, not both")
    if expires_in is not None:
        match = LIFETIME.match(str(expires_in).strip())
        if match is None or int(match.group(1)) == 0:
            raise ValueError(
                f"--expires-in must be a whole number of m, h, d or w, e.g. 30d, not {expires_in!r}"
            )
        lifetime = timedelta(**{LIFETIME_UNITS[match.group(2)]: int(match.group(1))})
        return datetime.now(UTC) + lifetime
    if expires_at is not None:
        try:
            return datetime.fromisoformat(str(expires_at).strip())
        except ValueError:
            example = "e.g. 2027-01-31T00:00Z"
            raise ValueError(
                f"--expires-at must be an ISO 8601 instant, {example}, not {expires_at!r}"
            ) from None
    return None


async def list_tokens(workspace_id: int | None = None) -> None:
    """
    List API tokens (never their secrets).

    :param workspace_id:
        Only this workspace's tokens.
    """
    tokens = await all_tokens(None if workspace_id is None else int(workspace_id))
    if not tokens:
        print("No tokens.")
    for token in tokens:
        print(_listed(token))


def _listed(token: dict[str, Any]) -> str:
    """One token on one line: state, scopes, last use, name."""
    if token["revoked_at"]:
        state = f"revoked {token['revoked_at']:%Y-%m-%d %H:%M}"
    elif has_expired(token["expires_at"]):
        state = f"expired {token['expires_at']:%Y-%m-%d %H:%M}"
    elif token["expires_at"]:
        state = f"live until {token['expires_at']:%Y-%m-%d %H:%M}"
    else:
        state = "live"
    scopes = ",".join(token["scopes"]) if token["scopes"] else "all scopes"
    used = f"used {token['last_used_at']:%Y-%m-%d %H:%M}" if token["last_used_at"] else "never used"
    return (
        f"{token['id']:>5}  workspace {token['workspace_id']:<5}  {state:<27}  {scopes:<20}  "
        f"created {token['created_at']:%Y-%m-%d %H:%M}  {used:<22}  {token['name']}"
    )


async def revoke_token(token_id: int) -> None:
    """
    Revoke an API token; requests with it get 401 from then on.

    :param token_id:
        The id that list-tokens shows.
    """
    try:
        revoked = await revoke(int(token_id))
    except (DomainError, ValueError) as error:
        raise ConfigurationError(str(error)) from None
    print(f"Token {token_id} revoked." if revoked else f"Token {token_id} was already revoked.")
