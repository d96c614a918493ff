"""Conversation threads and their messages, scoped to a workspace."""

import json
from datetime import datetime
from typing import Any

from app.db.executor import fetch, fetchval_on
from app.enums import ChatRole, LeadStage, SendKind
from app.errors import Conflict, NotFound, RuleBroken
from app.pagination import NEWEST

THREAD_COLUMNS = "id, workspace_id, lead_id, status, created_at"
MESSAGE_COLUMNS = (
    "id, thread_id, role, content, tool_calls, permit_id, platform_message_id, "
    "delivery_status, delivery_status_at, delivery_error_code, delivery_error_title, created_at"
)


# The one way a thread is created: a new active thread with one of the workspace's
# leads (arguments: lead id, workspace id); no row when the lead is not the workspace's.
NEW_THREAD = (
    "INSERT INTO conversation_thread (workspace_id, lead_id) "
    "SELECT workspace_id, id FROM lead WHERE id = {} AND workspace_id = {}"
)
START_THREAD = f"{NEW_THREAD} RETURNING {THREAD_COLUMNS}"
# The lead's newest active thread, else a new one, in one statement (arguments: lead
# id, workspace id, twice). Concurrent callers for one lead must be serialised by the
# caller (the webhook holds the person's advisory locks), or each may create one.
ACTIVE_OR_NEW_THREAD = f"""
WITH active AS (
    SELECT id FROM conversation_thread
    WHERE lead_id = {{}} AND workspace_id = {{}} AND status = 'active'
    ORDER BY id DESC LIMIT 1
), created AS (
    {NEW_THREAD} AND NOT EXISTS (SELECT FROM active) RETURNING id
)
SELECT id FROM active UNION ALL SELECT id FROM created
"""


async def start_thread(workspace_id: int, lead_id: int) -> dict[str, Any]:
    """A new active thread with one of the workspace's leads (the API's: a lead may
    have several)."""
    rows = await fetch(START_THREAD, lead_id, workspace_id)
    if not rows:
        raise NotFound(f"lead {lead_id} does not exist")
    return rows[0]


async def active_thread(connection: Any, workspace_id: int, lead_id: int) -> int | None:
    """The id of the lead's newest active thread, created when it has none (one round
    trip, on the caller's ``connection``); None when the lead is not the workspace's."""
    return await fetchval_on(
        connection, ACTIVE_OR_NEW_THREAD, lead_id, workspace_id, lead_id, workspace_id
    )


# Adds the message and, when it is sent under a follow-up permit, moves its lead from
# NEW to CONTACTED in the same statement (so with the request's change-log actor; a
# trigger's change would not be recorded). No other stage moves: a later one never goes
# back, TAKE_OVER and SUPPRESSED stay. A failed delivery later does not undo it.
APPEND_MESSAGE = f"""
WITH message AS (
    INSERT INTO chat_message (thread_id, role, content, tool_calls, permit_id,
                              platform_message_id)
    SELECT id, {{}}, {{}}, {{}}::jsonb, {{}}, {{}} FROM conversation_thread
    WHERE id = {{}} AND workspace_id = {{}}
    RETURNING {MESSAGE_COLUMNS}
), contacted AS (
    UPDATE lead SET stage = '{LeadStage.CONTACTED}'
    FROM message JOIN policy_decision AS permit ON permit.id = message.permit_id
    WHERE lead.id = permit.lead_id AND permit.kind = '{SendKind.FOLLOWUP}'
      AND permit.allow_send AND lead.stage = '{LeadStage.NEW}'
)
SELECT * FROM message
"""


async def append_message(
    workspace_id: int,
    thread_id: int,
    role: ChatRole,
    content: str,
    tool_calls: list[Any] | None = None,
    permit_id: int | None = None,
    platform_message_id: str | None = None,
) -> dict[str, Any]:
    """Add a message to a thread of the workspace (one statement).

    A `model` message names its send permit; the database refuses it without a
    valid one (see the migration "send policy rules"). Sent under a follow-up permit,
    it moves a NEW lead to CONTACTED (``APPEND_MESSAGE``). ``platform_message_id`` is
    the id WhatsApp gave the sent message: its delivery reports land on it."""
    role = ChatRole(role)
    if role is ChatRole.MODEL and permit_id is None:
        raise Conflict(
            "a model message needs a send permit: POST /leads/{lead_id}/send-permits, "
            "then pass its id as permit_id"
        )
    if role is not ChatRole.MODEL and permit_id is not None:
        raise RuleBroken("permit_id", f"only model messages carry a send permit, not {role}")
    rows = await fetch(
        APPEND_MESSAGE,
        role.value,
        content,
        None if tool_calls is None else json.dumps(tool_calls),
        permit_id,
        platform_message_id,
        thread_id,
        workspace_id,
    )
    if not rows:
        raise NotFound(f"thread {thread_id} does not exist")
    return rows[0]


MESSAGE_PAGE = f"""
SELECT {MESSAGE_COLUMNS} FROM chat_message
WHERE thread_id = (SELECT id FROM conversation_thread WHERE id = {{}} AND workspace_id = {{}})
  AND (created_at, id) < ({{}}, {{}})
ORDER BY created_at DESC, id DESC
LIMIT {{}}
"""


async def message_page(
    workspace_id: int,
    thread_id: int,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Messages newest first, older than ``before`` (created_at, id)."""
    created_at, message_id = before or NEWEST
    rows = await fetch(MESSAGE_PAGE, thread_id, workspace_id, created_at, message_id, limit)
    if not rows:
        await _ensure_thread(workspace_id, thread_id)
    return rows


async def _ensure_thread(workspace_id: int, thread_id: int) -> None:
    rows = await fetch(
        "SELECT 1 FROM conversation_thread WHERE id = {} AND workspace_id = {}",
        thread_id,
        workspace_id,
    )
    if not rows:
        raise NotFound(f"thread {thread_id} does not exist")
