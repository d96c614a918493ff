"""Leads: create, read, change, import, list; the takeover and suppress actions."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app import lead_import, leads
from app.api import answers
from app.api.auth import WorkspaceToRead, WorkspaceToWrite
from app.api.parameters import ERRORS, ExternalId, IdCursor, Limit, RowId, fields_of
from app.api.schemas import (
    ImportLead,
    ImportOut,
    ImportRowOut,
    Instant,
    LeadCreate,
    LeadFields,
    LeadImport,
    LeadOut,
    LeadPage,
    LeadStageChangeOut,
)
from app.enums import LeadStage, LeadTag
from app.errors import InvalidValue
from app.pagination import DEFAULT_PAGE_SIZE, decode_cursor

router = APIRouter(responses=ERRORS)


@router.post("/leads", status_code=201, response_model=LeadOut, tags=["leads"])
async def create_lead(body: LeadCreate, workspace_id: WorkspaceToWrite) -> dict:
    fields = fields_of(body)
    return await leads.create_lead(workspace_id, fields.pop("external_id"), fields)


@router.get("/leads/by-external-id/{external_id}", response_model=LeadOut, tags=["leads"])
async def read_lead_by_external_id(
    external_id: ExternalId, workspace_id: WorkspaceToRead
) -> Response:
    """The lead with this external id; a phone number matches in any written form."""
    return await answers.lead_by_external_id(workspace_id, external_id)


@router.get("/leads/by-platform-user-id/{platform_user_id}", response_model=LeadOut, tags=["leads"])
async def read_lead_by_platform_user_id(
    platform_user_id: ExternalId, workspace_id: WorkspaceToRead
) -> dict:
    """The lead with this messaging platform user id (WhatsApp's business-scoped user id,
    "US.13491208655302741918"): it finds the lead whether or not its phone number is known."""
    return await leads.lead_by_platform_user_id(workspace_id, platform_user_id)


@router.put(
    "/leads/by-external-id/{external_id}",
    response_model=LeadOut,
    responses={201: {"model": LeadOut, "description": "Created"}},
    tags=["leads"],
)
async def upsert_lead(
    external_id: ExternalId,
    body: LeadFields,
    workspace_id: WorkspaceToWrite,
) -> Response:
    """Create or update by external id; 201 when created, 200 when updated."""
    if not external_id.strip():
        raise InvalidValue("external_id", "must not be blank")
    return await answers.upsert_lead(workspace_id, external_id, fields_of(body))


@router.post(
    "/leads/import",
    response_model=ImportOut,
    tags=["leads"],
    description=f"Up to {lead_import.IMPORT_LIMIT:,} rows; each is created, updated or "
    "rejected with the reason. With `consent_wording_version` (404 if the workspace has no "
    "such version, nothing stored), each row with `consent` also gets a marketing grant.",
)
async def import_leads(body: LeadImport, workspace_id: WorkspaceToWrite) -> ImportOut:
    outcomes = await lead_import.import_rows(
        workspace_id, body.rows, ImportLead, body.consent_wording_version
    )
    counts = lead_import.summary(outcomes)
    return ImportOut(
        created=counts["created"],
        updated=counts["updated"],
        rejected=counts["rejected"],
        granted=counts["granted"],
        already_granted=counts["already_granted"],
        results=[ImportRowOut(**outcome.__dict__) for outcome in outcomes],
    )


@router.get("/leads", response_model=LeadPage, tags=["leads"])
async def list_leads(
    workspace_id: WorkspaceToRead,
    stage: LeadStage | None = None,
    tag: Annotated[
        list[LeadTag] | None, Query(description="all of these tags (repeats ignored)")
    ] = None,
    due_before: Annotated[Instant | None, Query()] = None,
    cursor: IdCursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response:
    after_id = decode_cursor(cursor, int)[0] if cursor else None
    return await answers.lead_page(workspace_id, limit, stage, tag, due_before, after_id)


@router.get("/leads/{lead_id:int}", response_model=LeadOut, tags=["leads"])
async def read_lead(lead_id: RowId, workspace_id: WorkspaceToRead) -> Response:
    return await answers.lead(workspace_id, lead_id)


@router.patch("/leads/{lead_id:int}", response_model=LeadOut, tags=["leads"])
async def change_lead(lead_id: RowId, body: LeadFields, workspace_id: WorkspaceToWrite) -> dict:
    return await leads.update_lead(workspace_id, lead_id, fields_of(body))


def _stage_change(change: leads.LeadStageChange) -> LeadStageChangeOut:
    return LeadStageChangeOut(
        lead=change.lead, stage_before=change.stage_before, changed=change.changed
    )


@router.post("/leads/{lead_id:int}/suppress", response_model=LeadStageChangeOut, tags=["leads"])
async def suppress_lead(lead_id: RowId, workspace_id: WorkspaceToWrite) -> LeadStageChangeOut:
    return _stage_change(await leads.suppress_lead(workspace_id, lead_id))


@router.post("/leads/{lead_id:int}/takeover", response_model=LeadStageChangeOut, tags=["leads"])
async def take_over_lead(lead_id: RowId, workspace_id: WorkspaceToWrite) -> LeadStageChangeOut:
    return _stage_change(await leads.take_over_lead(workspace_id, lead_id))


@router.post("/leads/{lead_id:int}/release", response_model=LeadStageChangeOut, tags=["leads"])
async def release_lead(lead_id: RowId, workspace_id: WorkspaceToWrite) -> LeadStageChangeOut:
    return _stage_change(await leads.release_lead(workspace_id, lead_id))
