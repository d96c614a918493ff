"""The API's hot paths once their input is read: one domain call and the response,
shared by the FastAPI routes (app/api/routes/) and the fast lane (fast_lane.py).
Pages of leads and messages may come from a read replica (app/db/replicas.py)."""

from datetime import datetime
from typing import Any

from starlette.responses import Response

from app import conversations, leads
from app.api.schemas import (
    ClaimOut,
    DecisionOut,
    LeadOut,
    LeadPage,
    MessageCreate,
    MessageOut,
    MessagePage,
    encoded,
)
from app.db.replicas import reads_may_lag
from app.enums import LeadStage, SendKind
from app.pagination import encode_cursor
from app.policy import engine


async def lead(workspace_id: int, lead_id: int) -> Response:
    return encoded(LeadOut, await leads.get_lead(workspace_id, lead_id))


async def lead_by_external_id(workspace_id: int, external_id: str) -> Response:
    return encoded(LeadOut, await leads.lead_by_external_id(workspace_id, external_id))


async def upsert_lead(workspace_id: int, external_id: str, fields: dict[str, Any]) -> Response:
    """201 when created, 200 when updated."""
    row, created = await leads.upsert_lead(workspace_id, external_id, fields)
    return encoded(LeadOut, row, 201 if created else 200)


async def lead_page(
    workspace_id: int,
    limit: int,
    stage: LeadStage | None = None,
    tags: list[str] | None = None,
    due_before: datetime | None = None,
    after_id: int | None = None,
) -> Response:
    with reads_may_lag():
        rows = await leads.list_leads(
            workspace_id,
            stage=stage,
            tags=tags,
            due_before=due_before,
            after_id=after_id,
            limit=limit,
        )
    next_cursor = encode_cursor(rows[-1]["id"]) if len(rows) == limit else None
    return encoded(LeadPage, {"items": rows, "next_cursor": next_cursor})


async def claimed_followups(workspace_id: int, limit: int, lease_seconds: int) -> Response:
    rows = await leads.claim_due_followups(workspace_id, limit, lease_seconds)
    return encoded(ClaimOut, {"items": rows})


async def appended_message(workspace_id: int, thread_id: int, body: MessageCreate) -> Response:
    message = await conversations.append_message(
        workspace_id,
        thread_id,
        body.role,
        body.content,
        body.tool_calls,
        body.permit_id,
        body.platform_message_id,
    )
    return encoded(MessageOut, message, 201)


async def message_page(
    workspace_id: int, thread_id: int, before: tuple[datetime, int] | None, limit: int
) -> Response:
    with reads_may_lag():
        rows = await conversations.message_page(workspace_id, thread_id, before, limit)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = encode_cursor(last["created_at"], last["id"]) if last else None
    return encoded(MessagePage, {"items": rows, "next_cursor": next_cursor})


async def permit_decision(workspace_id: int, lead_id: int, kind: SendKind) -> Response:
    return encoded(DecisionOut, await engine.request_permit(workspace_id, lead_id, kind), 201)
