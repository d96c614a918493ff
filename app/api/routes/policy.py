"""The policy engine: send permits, simulations, schedules and replays."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api import answers
from app.api.auth import WorkspaceToRead, WorkspaceToSend
from app.api.parameters import ERRORS, RowId
from app.api.schemas import (
    DecisionOut,
    PermitRequest,
    ReplayOut,
    ScheduleOut,
    SimulatedDecisionOut,
    SimulateRequest,
)
from app.policy import engine

router = APIRouter(responses=ERRORS)


@router.post(
    "/leads/{lead_id:int}/send-permits",
    status_code=201,
    response_model=DecisionOut,
    tags=["policy"],
)
async def request_permit(
    lead_id: RowId, body: PermitRequest, workspace_id: WorkspaceToSend
) -> Response:
    """Decide and record whether the lead may be sent a message now. An allowed
    decision is a permit: name it as ``permit_id`` of the model message."""
    return await answers.permit_decision(workspace_id, lead_id, body.kind)


@router.post("/policy/simulate", response_model=SimulatedDecisionOut, tags=["policy"])
async def simulate_decision(body: SimulateRequest, workspace_id: WorkspaceToRead) -> dict:
    """The decision the engine would make at ``at``; nothing is recorded."""
    return await engine.simulate(workspace_id, body.lead_id, body.kind, body.at)


@router.get("/leads/{lead_id:int}/schedule", response_model=ScheduleOut, tags=["policy"])
async def followup_schedule(
    lead_id: RowId, workspace_id: WorkspaceToRead, count: Annotated[int, Query(ge=1, le=50)] = 5
) -> dict:
    """The next follow-ups if each were sent as soon as allowed, in UTC and lead-local time."""
    return await engine.schedule(workspace_id, lead_id, count)


@router.get("/policy-decisions/{decision_id:int}/replay", response_model=ReplayOut, tags=["policy"])
async def replay_decision(decision_id: RowId, workspace_id: WorkspaceToRead) -> dict:
    """Re-run the policy on a decision's recorded inputs; ``same`` says whether it agrees."""
    return await engine.replay(workspace_id, decision_id)
