"""``piccolo masterplan create-token | list-tokens | revoke-token``."""

from app.errors import DomainError
from app.settings import ConfigurationError
from app.tokens import create_token as issue_token
from app.tokens import list_tokens as all_tokens
from app.tokens import revoke_token as revoke


async def create_token(workspace_id: int, name: str = "") -> None:
    """
    Create an API token for a workspace; the token is printed once, on the last line.

    :param workspace_id:
        The workspace the token acts for.
    :param name:
        What the token is for, e.g. "outreach engine".
    """
    try:
        issued = await issue_token(int(workspace_id), name)
    except (DomainError, ValueError) as error:
        raise ConfigurationError(str(error)) from None
    print(f"Created token {issued.id} for workspace {issued.workspace_id}; it is shown only once:")
    print(issued.secret)


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
        state = f"revoked {token['revoked_at']:%Y-%m-%d %H:%M}" if token["revoked_at"] else "live"
        print(
            f"{token['id']:>5}  workspace {token['workspace_id']:<5}  {state:<22}  "
            f"created {token['created_at']:%Y-%m-%d %H:%M}  {token['name']}"
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
