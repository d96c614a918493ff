"""Follow-ups: claim due leads, or dispatch them through the policy engine."""

from fastapi import APIRouter, Response

from app.api import answers
from app.api.auth import WorkspaceToSend
from app.api.parameters import ERRORS
from app.api.schemas import ClaimOut, ClaimRequest, DispatchOut, DispatchRequest
from app.policy import engine

router = APIRouter(responses=ERRORS)


@router.post("/followups/claim", response_model=ClaimOut, tags=["follow-ups"])
async def claim_followups(body: ClaimRequest, workspace_id: WorkspaceToSend) -> Response:
    """Due leads in follow-up stages (NEW, CONTACTED, ENGAGED, QUALIFIED), leased to
    the caller for lease_seconds: concurrent claimers never get the same lead."""
    return await answers.claimed_followups(workspace_id, body.limit, body.lease_seconds)


@router.post("/followups/dispatch", response_model=DispatchOut, tags=["follow-ups", "policy"])
async def dispatch_followups(body: DispatchRequest, workspace_id: WorkspaceToSend) -> DispatchOut:
    """Claim due leads and gate each: allowed ones get a permit (and their next
    follow-up scheduled), deferred ones are due again when allowed, stopped ones
    are no longer scheduled. Nothing is recorded while the workspace is paused."""
    result = await engine.dispatch(workspace_id, body.limit, body.lease_seconds)
    return DispatchOut.model_validate(result, from_attributes=True)
