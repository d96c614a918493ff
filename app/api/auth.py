"""Who calls, and may they: the bearer token names the caller's workspace, and each
route declares the one token scope it needs (``WorkspaceToRead`` and its siblings).

The declaration is FastAPI's ``Security(..., scopes=[...])``: it is enforced here,
shown in the OpenAPI document (the operation's security requirement, an ``x-scope``
extension and a line of its description: ``document_scopes``) and read by the fast
lane (``route_scope``), so the three cannot disagree."""

from typing import Annotated, Any

from fastapi import FastAPI, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from starlette.exceptions import HTTPException

from app.change_log import name_actor, token_actor
from app.enums import TokenScope
from app.tokens import caller_of_authorization, refusal

# Declares the scheme in the OpenAPI document; the header is read by app/tokens.py.
BEARER = HTTPBearer(
    auto_error=False,
    description="An API token (`piccolo masterplan create-token`): "
    "`Authorization: Bearer mp_...`. Each operation needs one scope (README, 'Token scopes').",
)


async def caller_workspace(
    security_scopes: SecurityScopes,
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> int:
    """The workspace of the bearer token; 401 without a live one, 403 when the token
    lacks the route's scope. The token is named as the actor of the changes the
    request makes (app/change_log.py)."""
    [scope] = security_scopes.scopes
    caller = await caller_of_authorization(request.headers.get("authorization"))
    refused = refusal(caller, TokenScope(scope), f"{request.method} {_route_path(request)}")
    if refused is not None:
        raise HTTPException(
            status_code=refused.status,
            detail=refused.message,
            headers={"WWW-Authenticate": _challenge(refused.status, scope)},
        )
    assert caller is not None
    await name_actor(token_actor(caller))
    return caller.workspace_id


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return route.path_format if isinstance(route, APIRoute) else request.url.path


def _challenge(status: int, scope: str) -> str:
    """RFC 6750's challenge: a 403 names the scope the token lacks."""
    return f'Bearer error="insufficient_scope", scope="{scope}"' if status == 403 else "Bearer"


def _needing(scope: TokenScope) -> Any:
    return Security(caller_workspace, scopes=[scope.value])


WorkspaceToRead = Annotated[int, _needing(TokenScope.READ)]
WorkspaceToWrite = Annotated[int, _needing(TokenScope.WRITE)]
WorkspaceToSend = Annotated[int, _needing(TokenScope.SEND)]
WorkspaceToAdminister = Annotated[int, _needing(TokenScope.ADMIN)]


def route_scope(route: APIRoute) -> TokenScope | None:
    """The token scope ``route`` declares; None for a route without a token (webhook)."""
    found = _declared_scopes(route.dependant)
    if len(found) > 1:
        raise RuntimeError(f"{route.path} declares several token scopes: {found}")
    return TokenScope(found[0]) if found else None


def _declared_scopes(dependant: Dependant) -> list[str]:
    if dependant.call is caller_workspace:
        return list(dependant.own_oauth_scopes or [])
    return [scope for sub in dependant.dependencies for scope in _declared_scopes(sub)]


def document_scopes(api: FastAPI) -> None:
    """The API's OpenAPI document names each operation's token scope: ``x-scope`` and
    a line of its description, from the security requirement FastAPI writes for it."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        fresh = api.openapi_schema is None
        document = generate()
        operations = [op for item in document["paths"].values() for op in item.values()]
        for operation in operations if fresh else ():
            for requirement in operation.get("security", []):
                for scope in requirement.get(BEARER.scheme_name, []):
                    _describe(operation, TokenScope(scope))
        return document

    api.openapi = openapi  # type: ignore[method-assign]


def _describe(operation: dict[str, Any], scope: TokenScope) -> None:
    operation["x-scope"] = scope.value
    line = f"Token scope: `{scope.value}` (a token without it gets 403)."
    description = operation.get("description")
    operation["description"] = f"{description}\n\n{line}" if description else line
