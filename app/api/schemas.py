"""Request and response bodies of the API, derived from the domain enums."""

import json
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from starlette.responses import Response

from app.enums import (
    BudgetTier,
    ChatRole,
    DeliveryStatus,
    FollowUpPreset,
    LeadStage,
    LeadTag,
    MessageFormat,
    ReasonCode,
    SendKind,
    StrategyStatus,
    Weekday,
)

MAX_ID = 2**31 - 1


def encoded(model: type[BaseModel], data: Any, status_code: int = 200) -> Response:
    """A response body typed and encoded by ``model`` in one pass (pydantic-core), not
    FastAPI's validate-then-jsonable_encoder; ``model`` is the route's response_model."""
    body = model.model_validate(data).model_dump_json()
    return Response(body, status_code, media_type="application/json")


def _json_text(value: Any) -> Any:
    """jsonb columns come back from the database as JSON text."""
    return json.loads(value) if isinstance(value, str) else value


Text255 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
LongText = Annotated[str, StringConstraints(max_length=100_000)]
FromJson = BeforeValidator(_json_text)


class Strict(BaseModel):
    """Request bodies refuse fields they do not know."""

    model_config = ConfigDict(extra="forbid")


# --- errors -----------------------------------------------------------------------------


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldError] = []


class ErrorBody(BaseModel):
    error: ErrorDetail


# --- workspace ----------------------------------------------------------------------------


class WorkspaceOut(BaseModel):
    id: int
    name: str
    timezone: str
    budget_tier: BudgetTier
    created_at: datetime


class WorkspacePatch(Strict):
    name: Text255 | None = None
    timezone: Text255 | None = None
    budget_tier: BudgetTier | None = None


WallTime = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", examples=["09:00"])]


class WorkspacePolicy(Strict):
    """The workspace's send policy; it may only narrow 09:00-21:00, Monday-Saturday."""

    send_window_start: WallTime
    send_window_end: WallTime
    send_days: list[Weekday] = Field(min_length=1, max_length=7)
    blocked_dates: list[date] = Field(max_length=400)


class WorkspacePolicyOut(BaseModel):
    send_window_start: str
    send_window_end: str
    send_days: list[Weekday]
    blocked_dates: list[date]
    policy_version: int


# --- leads ----------------------------------------------------------------------------------


class LeadFields(Strict):
    name: Annotated[str, StringConstraints(max_length=255)] | None = None
    stage: LeadStage | None = None
    tags: list[LeadTag] | None = Field(default=None, max_length=len(LeadTag))
    timezone: Text255 | None = None
    last_followup_at: AwareDatetime | None = None
    next_followup_at: AwareDatetime | None = None
    last_followup_review_at: AwareDatetime | None = None


class LeadCreate(LeadFields):
    external_id: Text255


class LeadOut(BaseModel):
    id: int
    external_id: str
    name: str | None
    stage: LeadStage
    tags: Annotated[list[LeadTag], FromJson]
    timezone: str | None
    last_followup_at: datetime | None
    next_followup_at: datetime | None
    last_followup_review_at: datetime | None
    followup_lease_until: datetime | None
    last_inbound_at: datetime | None = Field(description="when the lead last wrote to us")
    stage_before_takeover: LeadStage | None
    created_at: datetime


class LeadPage(BaseModel):
    items: list[LeadOut]
    next_cursor: str | None


class LeadStageChangeOut(BaseModel):
    lead: LeadOut
    stage_before: LeadStage
    changed: bool


class LeadImport(Strict):
    rows: list[Any] = Field(max_length=10_000, description="LeadCreate objects")


class ImportRowOut(BaseModel):
    index: int
    external_id: str | None
    result: str
    reason: str | None


class ImportOut(BaseModel):
    created: int
    updated: int
    rejected: int
    results: list[ImportRowOut]


class ClaimRequest(Strict):
    limit: int = Field(default=10, ge=1, le=100)
    lease_seconds: int = Field(default=300, ge=1, le=86_400)


class ClaimOut(BaseModel):
    items: list[LeadOut]


# --- strategies ----------------------------------------------------------------------


class StrategyContent(Strict):
    tone: LongText | None = None
    objectives: LongText | None = None
    objection_handling: LongText | None = None
    cta_rules: LongText | None = None
    followup_preset: FollowUpPreset | None = None
    interval_overrides: dict[str, Any] | None = None


class StrategyCreate(StrategyContent):
    followup_preset: FollowUpPreset


class StrategyOut(BaseModel):
    id: int
    version_number: int
    status: StrategyStatus
    tone: str
    objectives: str
    objection_handling: str
    cta_rules: str
    followup_preset: FollowUpPreset
    interval_overrides: Annotated[dict[str, int] | None, FromJson]
    created_at: datetime
    activated_at: datetime | None
    previous_active_version_id: int | None


class StrategyChangeOut(BaseModel):
    active: StrategyOut
    rolled_back_version: int | None


# --- conversations -------------------------------------------------------------------


class ThreadOut(BaseModel):
    id: int
    lead_id: int
    status: str
    created_at: datetime


class MessageCreate(Strict):
    role: ChatRole
    content: LongText
    tool_calls: list[Any] | None = Field(default=None, max_length=100)
    permit_id: int | None = Field(
        default=None, gt=0, le=MAX_ID, description="required for model messages: a send permit"
    )
    platform_message_id: Text255 | None = Field(
        default=None, description="the messaging platform's id of a sent message (wamid...)"
    )


class MessageOut(BaseModel):
    id: int
    thread_id: int
    role: ChatRole
    content: str
    tool_calls: Annotated[list[Any] | None, FromJson]
    permit_id: int | None
    platform_message_id: str | None
    delivery_status: DeliveryStatus | None
    delivery_status_at: datetime | None
    created_at: datetime


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


# --- audit ---------------------------------------------------------------------------


class DecisionFields(BaseModel):
    lead_id: int
    kind: SendKind | None = Field(description="null on decisions recorded before the engine")
    allow_send: bool
    reason_code: str
    next_allowed_at: datetime | None
    message_format: MessageFormat | None
    summary: str
    rule_trace: Annotated[dict[str, Any], FromJson]


class DecisionOut(DecisionFields):
    id: int
    created_at: datetime


class SimulatedDecisionOut(DecisionFields):
    id: None = None
    created_at: None = None


class PermitRequest(Strict):
    kind: SendKind


class SimulateRequest(Strict):
    lead_id: int = Field(gt=0, le=MAX_ID)
    kind: SendKind
    at: AwareDatetime | None = Field(default=None, description="default: now")


class ReplayView(BaseModel):
    allow_send: bool
    reason_code: str
    next_allowed_at: datetime | None
    message_format: MessageFormat | None
    rules: list[dict[str, Any]]


class ReplayOut(BaseModel):
    decision_id: int
    same: bool
    recorded: ReplayView
    replayed: ReplayView


class ScheduleItem(BaseModel):
    at: datetime
    local: datetime
    local_text: str


class ScheduleOut(BaseModel):
    lead_id: int
    zone: str
    interval_hours: int | None
    items: list[ScheduleItem]
    stops_with: ReasonCode | None = Field(description="why the preview ends early, if it does")


class DispatchRequest(Strict):
    limit: int = Field(default=100, ge=1, le=1000)
    lease_seconds: int = Field(default=300, ge=1, le=86_400)


class DispatchPause(BaseModel):
    reason_code: ReasonCode
    detail: str


class DispatchOut(BaseModel):
    permits: list[DecisionOut]
    deferred: int
    stopped: int
    paused: DispatchPause | None = Field(
        description="set when a workspace-wide rule holds every follow-up; nothing was recorded"
    )


class DecisionPage(BaseModel):
    items: list[DecisionOut]
    next_cursor: str | None


class AttestationCreate(Strict):
    operator_id: Text255
    granted: bool = True


class AttestationOut(BaseModel):
    id: int
    operator_id: str
    timestamp: datetime
    granted: bool


class AttestationPage(BaseModel):
    items: list[AttestationOut]
    next_cursor: str | None


class CurrentAttestation(BaseModel):
    granted: bool
    attestation: AttestationOut | None
