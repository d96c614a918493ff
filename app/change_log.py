"""Who changed what: the writer's side of the change log.

The database records every created, edited or deleted row (trigger
``masterplan_record_change``, table ``change_log``) in the same transaction as the
change. Writers name themselves with transaction-local settings, so a name never
outlives its transaction or leaks to the next user of a pooled connection:

- ``RecordedWrites`` (app/edge/recorded_writes.py) runs each state-changing request
  of the API and of the admin in one transaction (committed before the response is
  sent, rolled back when the answer is an error: a refused request changes nothing);
- the code that knows the caller (token check, admin session, webhook signature)
  then calls ``name_actor``.

The API's fast lane (app/api/fast_lane.py) serves writes that are one statement
each, or one transaction of the domain's own: ``statements_named`` lets each of
those statements name its actor itself, in the same round trip, so these hot paths
pay no extra ``BEGIN``, ``set_config`` and ``COMMIT``.

The settings also carry the request's id (``X-Request-ID``, app/request_ids.py),
which the triggers write to ``change_log.request_id``.

A write outside such a request (psql, commands) is recorded as its database user.
"""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from app.db.executor import execute_on, fetch, setting_arguments, settings_for_statements
from app.enums import ChangeActorKind
from app.request_ids import current_request_id
from app.tokens import Caller

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Set while a state-changing request runs: what it does, in words.
_request_action: ContextVar[str | None] = ContextVar("change_log_action", default=None)


@dataclass(frozen=True)
class Actor:
    kind: ChangeActorKind
    name: str
    id: int | None = None


def token_actor(caller: Caller) -> Actor:
    return Actor(
        ChangeActorKind.API_TOKEN, caller.token_name or f"token #{caller.token_id}", caller.token_id
    )


def actor_settings(actor: Actor, action: str) -> dict[str, str]:
    """The transaction-local settings the change log trigger reads: the actor, the
    action, and the id of the request it serves (app/request_ids.py; empty outside one)."""
    return {
        "masterplan.actor_kind": actor.kind.value,
        "masterplan.actor": actor.name,
        "masterplan.actor_id": "" if actor.id is None else str(actor.id),
        "masterplan.action": action,
        "masterplan.request_id": current_request_id() or "",
    }


ACTOR_SETTINGS = 5
NAME_ACTOR = "SELECT " + ", ".join(["set_config({}, {}, true)"] * ACTOR_SETTINGS)


def _name_arguments(actor: Actor, action: str) -> tuple[str, ...]:
    """``NAME_ACTOR``'s arguments: each setting's name, then its value."""
    return setting_arguments(actor_settings(actor, action))


async def name_actor(actor: Actor, action: str | None = None) -> None:
    """Name who makes the changes of the current state-changing request (and what it
    does, if more telling than its method and path); a no-op outside one."""
    request_action = _request_action.get()
    if request_action is None:
        return
    await fetch(NAME_ACTOR, *_name_arguments(actor, action or request_action))


async def name_on(connection: Any, actor: Actor, action: str) -> None:
    """Name the writer of the changes of ``connection``'s current transaction (a
    command's own transaction, outside any request)."""
    await execute_on(connection, NAME_ACTOR, *_name_arguments(actor, action))


@contextlib.contextmanager
def statements_named(actor: Actor, scope: Scope) -> Iterator[None]:
    """Every statement run inside through app/db/executor.py names the actor and the
    request itself, in its own round trip (in a transaction: its first statement). For
    a state-changing request whose writes are each one statement, or one transaction of the domain's
    own (whose first statement names it): it needs no request transaction."""
    with settings_for_statements(actor_settings(actor, _action(scope))):
        yield


def _action(scope: Scope) -> str:
    return f"{scope['method']} {scope['path']}"


def records_changes(scope: Scope, prefixes: tuple[str, ...]) -> bool:
    """Whether a request is a state-changing one under ``prefixes``."""
    return (
        scope["type"] == "http"
        and scope["method"] not in SAFE_METHODS
        and scope["path"].startswith(prefixes)
    )


@contextlib.contextmanager
def request_action(scope: Scope) -> Iterator[None]:
    """Within the block, the change log's action is the request's method and path."""
    action = _request_action.set(_action(scope))
    try:
        yield
    finally:
        _request_action.reset(action)
