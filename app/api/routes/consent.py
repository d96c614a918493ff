"""The consent ledger: the workspace's consent wordings, and each lead's grants and
revocations (app/policy/consent.py)."""

from datetime import datetime

from fastapi import APIRouter

from app import leads
from app.api.auth import WorkspaceToRead, WorkspaceToWrite
from app.api.parameters import ERRORS, Limit, RowId, TimeCursor
from app.api.schemas import (
    ConsentEventCreate,
    ConsentEventOut,
    ConsentEventPage,
    ConsentStateOut,
    ConsentWordingCreate,
    ConsentWordingOut,
    PurposeConsent,
)
from app.enums import ConsentAction
from app.pagination import DEFAULT_PAGE_SIZE, decode_cursor, encode_cursor
from app.policy import consent

router = APIRouter(responses=ERRORS, tags=["consent"])


@router.post("/consent-wordings", status_code=201, response_model=ConsentWordingOut)
async def create_wording(body: ConsentWordingCreate, workspace_id: WorkspaceToWrite) -> dict:
    """A new version of the words shown when asking for consent; the database numbers
    it and hashes the text. A text that does not name the business: 409, field ``text``."""
    return await consent.create_wording(workspace_id, body.business_name, body.text, body.channel)


@router.get("/consent-wordings", response_model=list[ConsentWordingOut])
async def list_wordings(workspace_id: WorkspaceToRead) -> list[dict]:
    """Newest version first."""
    return await consent.wordings(workspace_id)


@router.get("/consent-wordings/{version:int}", response_model=ConsentWordingOut)
async def read_wording(version: RowId, workspace_id: WorkspaceToRead) -> dict:
    return await consent.wording(workspace_id, version)


@router.post("/leads/{lead_id:int}/consent-events", status_code=201, response_model=ConsentEventOut)
async def record_consent_event(
    lead_id: RowId, body: ConsentEventCreate, workspace_id: WorkspaceToWrite
) -> dict:
    """A grant (with the wording version shown and the method) or a revocation, as the
    person said it at ``captured_at``; recorded_at and recorded_by are the database's."""
    return await consent.record_event(
        workspace_id,
        lead_id,
        body.action,
        body.purpose,
        body.captured_at,
        wording_version=getattr(body, "wording_version", None),
        method=body.method,
        evidence=body.evidence.model_dump(exclude_none=True),
        channel=body.channel,
    )


@router.get("/leads/{lead_id:int}/consent-events", response_model=ConsentEventPage)
async def list_consent_events(
    lead_id: RowId,
    workspace_id: WorkspaceToRead,
    cursor: TimeCursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> ConsentEventPage:
    """The lead's history, newest first (by when the person said it)."""
    before = decode_cursor(cursor, datetime, int) if cursor else None
    await leads.get_lead(workspace_id, lead_id)
    rows = await consent.history(workspace_id, lead_id, before, limit)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = encode_cursor(last["captured_at"], last["id"]) if last else None
    return ConsentEventPage(items=rows, next_cursor=next_cursor)


@router.get("/leads/{lead_id:int}/consent", response_model=ConsentStateOut)
async def consent_state(lead_id: RowId, workspace_id: WorkspaceToRead) -> ConsentStateOut:
    """Per purpose, the latest event and whether it is a grant."""
    await leads.get_lead(workspace_id, lead_id)
    state = await consent.consent_state(workspace_id, lead_id)
    purposes = [
        PurposeConsent(
            purpose=purpose,
            granted=bool(event and event["action"] == ConsentAction.GRANT),
            event=event,
        )
        for purpose, event in state.items()
    ]
    return ConsentStateOut(lead_id=lead_id, purposes=purposes)
