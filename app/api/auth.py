"""Who calls: the bearer token names the caller's workspace."""

from typing import Annotated

from fastapi import Depends, Header
from starlette.exceptions import HTTPException

from app.change_log import name_actor, token_actor
from app.tokens import caller_of_authorization


async def caller_workspace(authorization: Annotated[str | None, Header()] = None) -> int:
    """The workspace of the bearer token; 401 without a live one. The token is
    named as the actor of the changes the request makes (app/change_log.py)."""
    caller = await caller_of_authorization(authorization)
    if caller is None:
        raise HTTPException(
            status_code=401,
            detail="a valid token is required: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    await name_actor(token_actor(caller))
    return caller.workspace_id


Workspace = Annotated[int, Depends(caller_workspace)]
