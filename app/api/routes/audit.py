"""The audit trail: policy decisions and outreach attestations."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.auth import WorkspaceToRead, WorkspaceToWrite
from app.api.parameters import ERRORS, Limit, TimeCursor
from app.api.schemas import (
    AttestationCreate,
    AttestationOut,
    AttestationPage,
    CurrentAttestation,
    DecisionPage,
    Instant,
)
from app.db.replicas import reads_may_lag
from app.pagination import DEFAULT_PAGE_SIZE, decode_cursor, encode_cursor
from app.policy import attestations, decisions
from app.tables import MAX_ID

router = APIRouter(responses=ERRORS)


@router.get("/policy-decisions", response_model=DecisionPage, tags=["audit"])
async def list_decisions(
    workspace_id: WorkspaceToRead,
    lead_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    since: Annotated[Instant | None, Query()] = None,
    cursor: TimeCursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> DecisionPage:
    """Oldest first from ``since``."""
    after = decode_cursor(cursor, datetime, int) if cursor else None
    with reads_may_lag():
        rows = await decisions.decision_page(workspace_id, lead_id, since, after, limit)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = encode_cursor(last["created_at"], last["id"]) if last else None
    return DecisionPage(items=rows, next_cursor=next_cursor)


@router.post("/attestations", status_code=201, response_model=AttestationOut, tags=["audit"])
async def record_attestation(body: AttestationCreate, workspace_id: WorkspaceToWrite) -> dict:
    recorded = await attestations.record_attestation(workspace_id, body.operator_id, body.granted)
    return recorded.__dict__


@router.get("/attestations", response_model=AttestationPage, tags=["audit"])
async def list_attestations(
    workspace_id: WorkspaceToRead, cursor: TimeCursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> AttestationPage:
    """Newest first."""
    before = decode_cursor(cursor, datetime, int) if cursor else None
    with reads_may_lag():
        rows = await attestations.attestation_page(workspace_id, before, limit)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = encode_cursor(last["timestamp"], last["id"]) if last else None
    return AttestationPage(items=rows, next_cursor=next_cursor)


@router.get("/attestations/current", response_model=CurrentAttestation, tags=["audit"])
async def current_attestation(workspace_id: WorkspaceToRead) -> CurrentAttestation:
    """The latest attestation decides: outreach is granted only if it grants it."""
    latest = await attestations.current_attestation(workspace_id)
    return CurrentAttestation(granted=bool(latest and latest["granted"]), attestation=latest)
