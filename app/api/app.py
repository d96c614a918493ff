"""The API's routes: each resolves the caller's workspace from its token, then calls
one domain function. A row of another workspace is reported exactly like a
missing one (404)."""

from datetime import datetime
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Response
from starlette.exceptions import HTTPException

from app import (
    attestations,
    conversations,
    lead_import,
    leads,
    policy_decisions,
    strategies,
    workspaces,
)
from app.api import hot_paths, whatsapp
from app.api.errors import install_error_handlers
from app.api.schemas import (
    AttestationCreate,
    AttestationOut,
    AttestationPage,
    ClaimOut,
    ClaimRequest,
    CurrentAttestation,
    DecisionOut,
    DecisionPage,
    DispatchOut,
    DispatchRequest,
    ErrorBody,
    ImportOut,
    ImportRowOut,
    Instant,
    LeadCreate,
    LeadFields,
    LeadImport,
    LeadOut,
    LeadPage,
    LeadStageChangeOut,
    MessageCreate,
    MessageOut,
    MessagePage,
    PermitRequest,
    ReplayOut,
    ScheduleOut,
    SimulatedDecisionOut,
    SimulateRequest,
    StrategyChangeOut,
    StrategyContent,
    StrategyCreate,
    StrategyOut,
    ThreadOut,
    WorkspaceOut,
    WorkspacePatch,
    WorkspacePolicy,
    WorkspacePolicyOut,
)
from app.change_log import name_actor, token_actor
from app.enums import LeadStage, LeadTag
from app.errors import InvalidValue
from app.outage import answer_outages_with_503
from app.pagination import (
    ID_CURSOR_PATTERN,
    MAX_PAGE_SIZE,
    TIME_CURSOR_PATTERN,
    decode_cursor,
    encode_cursor,
)
from app.policy import engine, workspace_policy
from app.tables import MAX_ID
from app.tokens import caller_of_token
from app.validation import in_words, problems

# --- the caller's workspace -------------------------------------------------------------


async def caller_workspace(authorization: Annotated[str | None, Header()] = None) -> int:
    """The workspace of the bearer token; 401 without a live one. The token is
    named as the actor of the changes the request makes (app/change_log.py)."""
    scheme, _, token = (authorization or "").partition(" ")
    caller = await caller_of_token(token.strip()) if scheme.lower() == "bearer" else None
    if caller is None:
        raise HTTPException(
            status_code=401,
            detail="a valid token is required: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    await name_actor(token_actor(caller))
    return caller.workspace_id


Workspace = Annotated[int, Depends(caller_workspace)]
RowId = Annotated[int, Path(gt=0, le=MAX_ID)]
ExternalId = Annotated[str, Path(min_length=1, max_length=255)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
IdCursor = Annotated[
    str | None, Query(pattern=ID_CURSOR_PATTERN, description="next_cursor of the previous page")
]
TimeCursor = Annotated[
    str | None, Query(pattern=TIME_CURSOR_PATTERN, description="next_cursor of the previous page")
]
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 404, 409, 413, 422, 503)
}

router = APIRouter(responses=ERRORS)


def fields_of(body: Any) -> dict[str, Any]:
    """The fields a request actually sent (absent ones stay as they are)."""
    return body.model_dump(exclude_unset=True)


# --- workspace -------------------------------------------------------------------------------


@router.get("/workspace", response_model=WorkspaceOut, tags=["workspace"])
async def read_workspace(workspace_id: Workspace) -> dict:
    return await workspaces.get_workspace(workspace_id)


@router.patch("/workspace", response_model=WorkspaceOut, tags=["workspace"])
async def change_workspace(body: WorkspacePatch, workspace_id: Workspace) -> dict:
    return await workspaces.update_workspace(workspace_id, fields_of(body))


@router.get("/workspace/policy", response_model=WorkspacePolicyOut, tags=["workspace"])
async def read_policy(workspace_id: Workspace) -> dict:
    """The send policy: window, days and blocked dates, in the lead's local time."""
    return await workspace_policy.get_policy(workspace_id)


@router.put("/workspace/policy", response_model=WorkspacePolicyOut, tags=["workspace"])
async def replace_policy(body: WorkspacePolicy, workspace_id: Workspace) -> dict:
    """Replace the send policy; it may narrow 09:00-21:00 Monday-Saturday, never widen it."""
    return await workspace_policy.put_policy(workspace_id, body.model_dump(mode="json"))


# --- leads ------------------------------------------------------------------------------------


@router.post("/leads", status_code=201, response_model=LeadOut, tags=["leads"])
async def create_lead(body: LeadCreate, workspace_id: Workspace) -> dict:
    fields = fields_of(body)
    return await leads.create_lead(workspace_id, fields.pop("external_id"), fields)


@router.get("/leads/by-external-id/{external_id}", response_model=LeadOut, tags=["leads"])
async def read_lead_by_external_id(external_id: ExternalId, workspace_id: Workspace) -> Response:
    """The lead with this external id; a phone number matches in any written form."""
    return await hot_paths.lead_by_external_id(workspace_id, external_id)


@router.put(
    "/leads/by-external-id/{external_id}",
    response_model=LeadOut,
    responses={201: {"model": LeadOut, "description": "Created"}},
    tags=["leads"],
)
async def upsert_lead(
    external_id: ExternalId,
    body: LeadFields,
    workspace_id: Workspace,
) -> Response:
    """Create or update by external id; 201 when created, 200 when updated."""
    if not external_id.strip():
        raise InvalidValue("external_id", "must not be blank")
    return await hot_paths.upserted_lead(workspace_id, external_id, fields_of(body))


@router.post(
    "/leads/import",
    response_model=ImportOut,
    tags=["leads"],
    description=f"Up to {lead_import.IMPORT_LIMIT:,} rows; each is created, updated or "
    "rejected with the reason.",
)
async def import_leads(body: LeadImport, workspace_id: Workspace) -> ImportOut:
    accepted, rejected = [], []
    for index, row in enumerate(body.rows):
        try:
            lead = LeadCreate.model_validate(row)
        except pydantic.ValidationError as error:
            reason = in_words(problems(error.errors(), unnamed="row"))
            external_id = row.get("external_id") if isinstance(row, dict) else None
            external_id = external_id if isinstance(external_id, str) else None
            rejected.append(lead_import.ImportOutcome(index, external_id, "rejected", reason))
            continue
        fields = fields_of(lead)
        accepted.append((index, fields.pop("external_id"), fields))
    outcomes = sorted(
        [*rejected, *await lead_import.import_leads(workspace_id, accepted)],
        key=lambda outcome: outcome.index,
    )
    counts = {kind: sum(o.result == kind for o in outcomes) for kind in ("created", "updated")}
    return ImportOut(
        created=counts["created"],
        updated=counts["updated"],
        rejected=len(outcomes) - counts["created"] - counts["updated"],
        results=[ImportRowOut(**outcome.__dict__) for outcome in outcomes],
    )


@router.get("/leads", response_model=LeadPage, tags=["leads"])
async def list_leads(
    workspace_id: Workspace,
    stage: LeadStage | None = None,
    tag: Annotated[
        list[LeadTag] | None, Query(description="all of these tags (repeats ignored)")
    ] = None,
    due_before: Annotated[Instant | None, Query()] = None,
    cursor: IdCursor = None,
    limit: Limit = 50,
) -> Response:
    after_id = decode_cursor(cursor, int)[0] if cursor else None
    return await hot_paths.lead_page(workspace_id, limit, stage, tag, due_before, after_id)


@router.get("/leads/{lead_id:int}", response_model=LeadOut, tags=["leads"])
async def read_lead(lead_id: RowId, workspace_id: Workspace) -> Response:
    return await hot_paths.lead(workspace_id, lead_id)


@router.patch("/leads/{lead_id:int}", response_model=LeadOut, tags=["leads"])
async def change_lead(lead_id: RowId, body: LeadFields, workspace_id: Workspace) -> dict:
    return await leads.update_lead(workspace_id, lead_id, fields_of(body))


async def _stage_change(workspace_id: int, change: leads.LeadStageChange) -> LeadStageChangeOut:
    lead = await leads.get_lead(workspace_id, change.lead_id)
    return LeadStageChangeOut(lead=lead, stage_before=change.stage_before, changed=change.changed)


@router.post("/leads/{lead_id:int}/suppress", response_model=LeadStageChangeOut, tags=["leads"])
async def suppress_lead(lead_id: RowId, workspace_id: Workspace) -> LeadStageChangeOut:
    return await _stage_change(workspace_id, await leads.suppress_lead(workspace_id, lead_id))


@router.post("/leads/{lead_id:int}/takeover", response_model=LeadStageChangeOut, tags=["leads"])
async def take_over_lead(lead_id: RowId, workspace_id: Workspace) -> LeadStageChangeOut:
    return await _stage_change(workspace_id, await leads.take_over_lead(workspace_id, lead_id))


@router.post("/leads/{lead_id:int}/release", response_model=LeadStageChangeOut, tags=["leads"])
async def release_lead(lead_id: RowId, workspace_id: Workspace) -> LeadStageChangeOut:
    return await _stage_change(workspace_id, await leads.release_lead(workspace_id, lead_id))


@router.post("/followups/claim", response_model=ClaimOut, tags=["follow-ups"])
async def claim_followups(body: ClaimRequest, workspace_id: Workspace) -> Response:
    """Due leads in follow-up stages (NEW, CONTACTED, ENGAGED, QUALIFIED), leased to
    the caller for lease_seconds: concurrent claimers never get the same lead."""
    return await hot_paths.claimed_followups(workspace_id, body.limit, body.lease_seconds)


@router.post("/followups/dispatch", response_model=DispatchOut, tags=["follow-ups", "policy"])
async def dispatch_followups(body: DispatchRequest, workspace_id: Workspace) -> DispatchOut:
    """Claim due leads and gate each: allowed ones get a permit (and their next
    follow-up scheduled), deferred ones are due again when allowed, stopped ones
    are no longer scheduled. Nothing is recorded while the workspace is paused."""
    result = await engine.dispatch(workspace_id, body.limit, body.lease_seconds)
    return DispatchOut.model_validate(result, from_attributes=True)


# --- policy ------------------------------------------------------------------------------


@router.post(
    "/leads/{lead_id:int}/send-permits",
    status_code=201,
    response_model=DecisionOut,
    tags=["policy"],
)
async def request_permit(lead_id: RowId, body: PermitRequest, workspace_id: Workspace) -> Response:
    """Decide and record whether the lead may be sent a message now. An allowed
    decision is a permit: name it as ``permit_id`` of the model message."""
    return await hot_paths.permit_decision(workspace_id, lead_id, body.kind)


@router.post("/policy/simulate", response_model=SimulatedDecisionOut, tags=["policy"])
async def simulate_decision(body: SimulateRequest, workspace_id: Workspace) -> dict:
    """The decision the engine would make at ``at``; nothing is recorded."""
    return await engine.simulate(workspace_id, body.lead_id, body.kind, body.at)


@router.get("/leads/{lead_id:int}/schedule", response_model=ScheduleOut, tags=["policy"])
async def followup_schedule(
    lead_id: RowId, workspace_id: Workspace, count: Annotated[int, Query(ge=1, le=50)] = 5
) -> dict:
    """The next follow-ups if each were sent as soon as allowed, in UTC and lead-local time."""
    return await engine.schedule(workspace_id, lead_id, count)


# --- strategies ------------------------------------------------------------------------------


@router.get("/strategies", response_model=list[StrategyOut], tags=["strategies"])
async def list_strategies(workspace_id: Workspace) -> list[dict]:
    return await strategies.list_versions(workspace_id)


@router.get("/strategies/active", response_model=StrategyOut, tags=["strategies"])
async def active_strategy(workspace_id: Workspace) -> dict:
    return await strategies.active_version(workspace_id)


@router.post("/strategies", status_code=201, response_model=StrategyOut, tags=["strategies"])
async def create_strategy(body: StrategyCreate, workspace_id: Workspace) -> dict:
    fields = fields_of(body)
    overrides = fields.pop("interval_overrides", None)
    nulls = [key for key, value in fields.items() if value is None]
    if nulls:
        raise InvalidValue(nulls[0], "must not be null")
    content = fields
    return await strategies.create_draft(workspace_id, overrides=overrides, **content)


@router.patch("/strategies/{version_id:int}", response_model=StrategyOut, tags=["strategies"])
async def change_strategy(
    version_id: RowId, body: StrategyContent, workspace_id: Workspace
) -> dict:
    return await strategies.update_draft(workspace_id, version_id, fields_of(body))


async def _strategy_change(change: strategies.StrategyChange) -> StrategyChangeOut:
    active = await strategies.active_version(change.workspace_id)
    return StrategyChangeOut(active=active, rolled_back_version=change.rolled_back_version)


@router.post(
    "/strategies/{version_id:int}/activate", response_model=StrategyChangeOut, tags=["strategies"]
)
async def activate_strategy(version_id: RowId, workspace_id: Workspace) -> StrategyChangeOut:
    return await _strategy_change(
        await strategies.activate_strategy_version(workspace_id, version_id)
    )


@router.post("/strategies/rollback", response_model=StrategyChangeOut, tags=["strategies"])
async def roll_back_strategy(workspace_id: Workspace) -> StrategyChangeOut:
    return await _strategy_change(await strategies.roll_back_strategy(workspace_id))


# --- conversations ---------------------------------------------------------------------------


@router.post(
    "/leads/{lead_id:int}/threads",
    status_code=201,
    response_model=ThreadOut,
    tags=["conversations"],
)
async def start_thread(lead_id: RowId, workspace_id: Workspace) -> dict:
    return await conversations.start_thread(workspace_id, lead_id)


@router.get("/threads/{thread_id:int}/messages", response_model=MessagePage, tags=["conversations"])
async def list_messages(
    thread_id: RowId, workspace_id: Workspace, cursor: TimeCursor = None, limit: Limit = 50
) -> Response:
    """Newest first."""
    before = decode_cursor(cursor, datetime, int) if cursor else None
    return await hot_paths.message_page(workspace_id, thread_id, before, limit)


@router.post(
    "/threads/{thread_id:int}/messages",
    status_code=201,
    response_model=MessageOut,
    tags=["conversations"],
)
async def append_message(
    thread_id: RowId, body: MessageCreate, workspace_id: Workspace
) -> Response:
    """A `model` message needs ``permit_id``: an allowed send permit for the thread's
    lead, at most 15 minutes old and not used by another message (409 otherwise)."""
    return await hot_paths.appended_message(workspace_id, thread_id, body)


# --- audit ------------------------------------------------------------------------------------


@router.get("/policy-decisions", response_model=DecisionPage, tags=["audit"])
async def list_decisions(
    workspace_id: Workspace,
    lead_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    since: Annotated[Instant | None, Query()] = None,
    cursor: TimeCursor = None,
    limit: Limit = 50,
) -> DecisionPage:
    """Oldest first from ``since``."""
    after = decode_cursor(cursor, datetime, int) if cursor else None
    rows = await policy_decisions.decision_page(workspace_id, lead_id, since, after, limit)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = encode_cursor(last["created_at"], last["id"]) if last else None
    return DecisionPage(items=rows, next_cursor=next_cursor)


@router.get("/policy-decisions/{decision_id:int}/replay", response_model=ReplayOut, tags=["policy"])
async def replay_decision(decision_id: RowId, workspace_id: Workspace) -> dict:
    """Re-run the policy on a decision's recorded inputs; ``same`` says whether it agrees."""
    return await engine.replay(workspace_id, decision_id)


@router.post("/attestations", status_code=201, response_model=AttestationOut, tags=["audit"])
async def record_attestation(body: AttestationCreate, workspace_id: Workspace) -> dict:
    recorded = await attestations.record_attestation(workspace_id, body.operator_id, body.granted)
    return recorded.__dict__


@router.get("/attestations", response_model=AttestationPage, tags=["audit"])
async def list_attestations(
    workspace_id: Workspace, cursor: TimeCursor = None, limit: Limit = 50
) -> AttestationPage:
    """Newest first."""
    before = decode_cursor(cursor, datetime, int) if cursor else None
    rows = await attestations.attestation_page(workspace_id, before, limit)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = encode_cursor(last["timestamp"], last["id"]) if last else None
    return AttestationPage(items=rows, next_cursor=next_cursor)


@router.get("/attestations/current", response_model=CurrentAttestation, tags=["audit"])
async def current_attestation(workspace_id: Workspace) -> CurrentAttestation:
    """The latest attestation decides: outreach is granted only if it grants it."""
    latest = await attestations.current_attestation(workspace_id)
    return CurrentAttestation(granted=bool(latest and latest["granted"]), attestation=latest)


def create_api() -> FastAPI:
    """The API application, mounted at /api/v1/."""
    api = FastAPI(
        title="Masterplan API",
        version="1",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    api.include_router(router)
    api.include_router(whatsapp.router)
    api.include_router(whatsapp.numbers_router(caller_workspace))
    install_error_handlers(api)
    answer_outages_with_503(api)
    return api
