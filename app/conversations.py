"""Conversation threads and their messages, scoped to a workspace."""

import json
from datetime import datetime
from typing import Any

from app.db.executor import fetch
from app.enums import ChatRole
from app.errors import Conflict, NotFound, RuleBroken
from app.pagination import NEWEST
from app.tables import ChatMessage

THREAD_COLUMNS = "id, workspace_id, lead_id, status, created_at"
MESSAGE_COLUMNS = (
    "id, thread_id, role, content, tool_calls, permit_id, platform_message_id, "
    "delivery_status, delivery_status_at, delivery_error_code, delivery_error_title, created_at"
)


async def start_thread(workspace_id: int, lead_id: int) -> dict[str, Any]:
    """A new active thread with one of the workspace's leads."""
    rows = await ChatMessage.raw(
        f"INSERT INTO conversation_thread (workspace_id, lead_id) "
        f"SELECT workspace_id, id FROM lead WHERE id = {{}} AND workspace_id = {{}} "
        f"RETURNING {THREAD_COLUMNS}",
        lead_id,
        workspace_id,
    )
    if not rows:
        raise NotFound(f"lead {lead_id} does not exist")
    return rows[0]


APPEND_MESSAGE = f"""
INSERT INTO chat_message (thread_id, role, content, tool_calls, permit_id, platform_message_id)
SELECT id, {{}}, {{}}, {{}}::jsonb, {{}}, {{}} FROM conversation_thread
WHERE id = {{}} AND workspace_id = {{}}
RETURNING {MESSAGE_COLUMNS}
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
    valid one (see the migration "send policy rules"). ``platform_message_id`` is
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
    rows = await ChatMessage.raw(
        "SELECT 1 FROM conversation_thread WHERE id = {} AND workspace_id = {}",
        thread_id,
        workspace_id,
    )
    if not rows:
        raise NotFound(f"thread {thread_id} does not exist")
