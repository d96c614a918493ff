"""Conversation threads and their messages."""

from datetime import datetime

from fastapi import APIRouter, Response

from app import conversations
from app.api import answers
from app.api.auth import WorkspaceToRead, WorkspaceToSend
from app.api.parameters import ERRORS, Limit, RowId, TimeCursor
from app.api.schemas import MessageCreate, MessageOut, MessagePage, ThreadOut
from app.pagination import DEFAULT_PAGE_SIZE, decode_cursor

router = APIRouter(responses=ERRORS)


@router.post(
    "/leads/{lead_id:int}/threads",
    status_code=201,
    response_model=ThreadOut,
    tags=["conversations"],
)
async def start_thread(lead_id: RowId, workspace_id: WorkspaceToSend) -> dict:
    return await conversations.start_thread(workspace_id, lead_id)


@router.get("/threads/{thread_id:int}/messages", response_model=MessagePage, tags=["conversations"])
async def list_messages(
    thread_id: RowId,
    workspace_id: WorkspaceToRead,
    cursor: TimeCursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response:
    """Newest first."""
    before = decode_cursor(cursor, datetime, int) if cursor else None
    return await answers.message_page(workspace_id, thread_id, before, limit)


@router.post(
    "/threads/{thread_id:int}/messages",
    status_code=201,
    response_model=MessageOut,
    tags=["conversations"],
)
async def append_message(
    thread_id: RowId, body: MessageCreate, workspace_id: WorkspaceToSend
) -> Response:
    """A `model` message needs ``permit_id``: an allowed send permit for the thread's
    lead, at most 15 minutes old and not used by another message (409 otherwise)."""
    return await answers.appended_message(workspace_id, thread_id, body)
