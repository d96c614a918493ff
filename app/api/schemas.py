"""Request and response bodies of the API, derived from the domain enums."""

import re
from datetime import date, datetime
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from piccolo.columns import Column
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    computed_field,
    create_model,
)
from starlette.responses import Response

from app.enums import (
    FLOOR_SEND_DAYS,
    FLOOR_SEND_WINDOW,
    FOLLOW_UP_STAGES,
    INTERVAL_OVERRIDE_MAX_HOURS,
    INTERVAL_OVERRIDE_MIN_HOURS,
    BudgetTier,
    ChangeActorKind,
    ChatRole,
    ConsentAction,
    ConsentChannel,
    ConsentMethod,
    ConsentPurpose,
    DeliveryStatus,
    FollowUpPreset,
    LeadStage,
    LeadTag,
    MessageFormat,
    MessagingTier,
    ReasonCode,
    SendKind,
    StrategyStatus,
    Weekday,
)
from app.lead_import import IMPORT_LIMIT
from app.phone_numbers import lead_number
from app.policy.public_holidays import calendar_codes
from app.policy.recipient import ZoneChoice, ZoneSource, candidate_zones
from app.tables import MAX_HOLIDAY_CALENDARS, MAX_ID, Lead
from app.validation import stored_json


def encoded(model: type[BaseModel], data: Any, status_code: int = 200) -> Response:
    """A response body typed and encoded by ``model`` in one pass (pydantic-core), not
    FastAPI's validate-then-jsonable_encoder; ``model`` is the route's response_model."""
    body = model.model_validate(data).model_dump_json()
    return Response(body, status_code, media_type="application/json")


# PostgreSQL text cannot hold the NUL character; the schema says so.
NO_NUL = r"^[^\x00]*$"
# What str.strip() removes (the characters of str.isspace()), spelled out: regex
# engines disagree on what \s means, and the schema's readers use several.
STRIPPED = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Stripped, it is not empty: some character is neither stripped nor NUL. The schema
# says so, so that whitespace alone is schema-invalid as well as refused.
NOT_BLANK = rf"^[^\x00]*[^\x00{STRIPPED}][^\x00]*$"
Text255 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=NOT_BLANK),
]
NulFreeText = Annotated[str, StringConstraints(pattern=NO_NUL)]


def _not_bool_or_text(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON integer, not a boolean or a string")
    return value


def json_integer(**bounds: int) -> Any:
    """An integer as JSON Schema reads one, within ``bounds`` (ge, gt, le): 29 or 29.0,
    never true or "29". The bounds sit inside, so the schema states them."""
    return Annotated[int, Field(**bounds), BeforeValidator(_not_bool_or_text)]


JsonInteger = json_integer()


def _refuse_nul(value: Any) -> Any:
    """PostgreSQL holds no NUL character in text or JSON: said before the database is asked."""
    if _holds_nul(value):
        raise ValueError("must not contain the NUL character (\\u0000)")
    return value


# Long text states "no NUL" as "not a string holding one": the same rule, but a pattern
# beside a 100,000 bound becomes one {0,100000} regex in Schemathesis, which compiles
# it afresh for every schema it derives (three quarters of the contract test's time).
LongText = Annotated[
    str,
    StringConstraints(max_length=100_000),
    AfterValidator(_refuse_nul),
    Field(json_schema_extra={"not": {"pattern": r"\x00"}}),
]


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    return False


# JSON values without a NUL character, nested at most three levels (a tool call:
# {"id", "type", "function": {"name", "arguments"}}). Stated without recursion, so
# that generated clients can read the schema, and fuzzers know the rule too.
JsonScalar = NulFreeText | JsonInteger | float | StrictBool | None
NoExtraKeys = Field(json_schema_extra={"additionalProperties": False})
JsonInner = JsonScalar | list[JsonScalar] | Annotated[dict[NulFreeText, JsonScalar], NoExtraKeys]
JsonValue = JsonScalar | list[JsonInner] | Annotated[dict[NulFreeText, JsonInner], NoExtraKeys]
ToolCall = Annotated[dict[NulFreeText, JsonValue], NoExtraKeys]
FromJson = BeforeValidator(stored_json)  # jsonb columns come back as JSON text


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str | datetime) or (
        isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9.]+\s*", value)
    ):
        raise ValueError("must be an ISO 8601 date-time with its offset")
    return value


# A lead enters and leaves TAKE_OVER through the actions (POST .../takeover, /release).
WritableStage = Annotated[
    LeadStage,
    WithJsonSchema(
        {"type": "string", "enum": [s.value for s in LeadStage if s is not LeadStage.TAKE_OVER]}
    ),
]
DistinctTags = Annotated[
    list[LeadTag], Field(max_length=len(LeadTag), json_schema_extra={"uniqueItems": True})
]
# The years an instant may be written in: the policy engine reckons weeks back and
# ahead of an instant, which near Python's year 1 or 9999 left its range (a 500).
FIRST_YEAR, LAST_YEAR = 1970, 2999
YEAR_PATTERN = r"^(?:19[7-9][0-9]|2[0-9]{3})-"


def _within_years(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


# An instant, written as RFC 3339 says ("2026-03-08T07:00:00Z"); never a number. Its
# year, as written (before its offset is applied), is one of the years above; the
# schema says so with a pattern on its first characters.
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_text),
    AfterValidator(_within_years),
    Field(json_schema_extra={"pattern": YEAR_PATTERN}),
]
# When a person consented: any year, its range checked by the ledger's own rule (409).
# Inside an event's two shapes, a year pattern filtered out too many generated events
# for Schemathesis' health check (a fresh example database in CI).
SaidAt = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


def timezone_pattern() -> str:
    """The IANA zone names as one pattern. A pattern rather than an enum: names such
    as ``GMT0``, ``Etc/GMT0`` and ``Etc/GMT-0`` would become the same identifier in a
    generated client's enum."""
    names = sorted(available_timezones())
    return "^(?:" + "|".join(name.replace("+", "\\+") for name in names) + ")$"


# An IANA timezone name: the schema states every one.
TimezoneName = Annotated[
    str,
    Field(
        description="an IANA timezone name (zoneinfo's own list)",
        json_schema_extra={"pattern": timezone_pattern()},
        examples=["Europe/Lisbon"],
    ),
]
# Whole hours per follow-up stage, the rule the database also enforces.
IntervalOverrides = dict[
    Literal[tuple(stage.value for stage in FOLLOW_UP_STAGES)],  # type: ignore[misc]
    json_integer(ge=INTERVAL_OVERRIDE_MIN_HOURS, le=INTERVAL_OVERRIDE_MAX_HOURS),
]


def _without_null(schema: dict[str, Any]) -> None:
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


def NotNull(kind: Any) -> Any:
    """Optional in a request, but never null: the schema does not offer null, and the
    domain refuses it with the field's name (422)."""
    return Annotated[kind | None, Field(json_schema_extra=_without_null)]


class Strict(BaseModel):
    """Request bodies refuse fields they do not know. Their numbers and flags are
    json_integer and StrictBool: JSON ``true`` or ``"60"`` is not an integer, as the
    schema says, in either lane (app/api/fast_lane.py validates with these models)."""

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
    messaging_tier: MessagingTier = Field(
        description="WhatsApp's messaging limit of the business portfolio (docs/policy.md)"
    )
    created_at: datetime


class WorkspacePatch(Strict):
    name: NotNull(Text255) = None
    timezone: NotNull(TimezoneName) = None
    budget_tier: NotNull(BudgetTier) = None
    messaging_tier: NotNull(MessagingTier) = None


def _wall_times_within(opens: str, closes: str) -> str:
    """A pattern for "HH:MM" from ``opens`` to ``closes`` (whole hours) inclusive."""
    first, last = int(opens[:2]), int(closes[:2])
    hours = "|".join(f"{hour:02d}" for hour in range(first, last))
    return f"^(?:(?:{hours}):[0-5][0-9]|{closes})$"


# The schema states the floor (09:00-21:00, Monday-Saturday); the domain checks it
# with messages that say why (app/policy/workspace_policy.py).
WallTime = Annotated[
    str,
    Field(
        json_schema_extra={"pattern": _wall_times_within(*FLOOR_SEND_WINDOW)},
        examples=["09:00"],
    ),
]
FLOOR_DAYS_SCHEMA = {"type": "string", "enum": [day.value for day in FLOOR_SEND_DAYS]}


# The schema lists the calendars the holidays package knows; the domain says why not.
HolidayCalendar = Annotated[str, WithJsonSchema({"type": "string", "enum": list(calendar_codes())})]


class WorkspacePolicy(Strict):
    """The workspace's send policy; it may only narrow 09:00-21:00, Monday-Saturday."""

    send_window_start: WallTime
    send_window_end: WallTime
    send_days: list[Weekday] = Field(
        min_length=1,
        max_length=len(FLOOR_SEND_DAYS),
        json_schema_extra={"items": FLOOR_DAYS_SCHEMA, "uniqueItems": True},
    )
    blocked_dates: list[date] = Field(max_length=400, json_schema_extra={"uniqueItems": True})
    holiday_calendars: list[HolidayCalendar] | None = Field(
        default=None,
        max_length=MAX_HOLIDAY_CALENDARS,
        description="public holiday calendars: ISO 3166 country codes, optionally with a "
        "subdivision ('MY', 'US', 'GB-SCT'); left out: kept as they are",
        examples=[["MY"]],
        json_schema_extra={"uniqueItems": True},
    )
    lead_country_holidays: StrictBool | None = Field(
        default=None,
        description="hold follow-ups on the public holidays of each lead's own country "
        "(from its phone number); left out: kept as it is",
    )


class WorkspacePolicyOut(BaseModel):
    send_window_start: str
    send_window_end: str
    send_days: list[Weekday]
    blocked_dates: list[date]
    holiday_calendars: list[str]
    lead_country_holidays: bool
    policy_version: int


# --- leads ----------------------------------------------------------------------------------


class LeadFields(Strict):
    name: Annotated[str, StringConstraints(max_length=255, pattern=NO_NUL)] | None = None
    stage: NotNull(WritableStage) = None
    tags: NotNull(DistinctTags) = None
    timezone: TimezoneName | None = None
    last_followup_at: Instant | None = None
    next_followup_at: Instant | None = None
    last_followup_review_at: Instant | None = None


class LeadCreate(LeadFields):
    external_id: Text255


# The lead as the API shows it: every column of the table but its workspace, typed by
# the column (a new column appears here by itself); these say more than their type.
LEAD_OUT_TYPES: dict[str, Any] = {
    "stage": (LeadStage, ...),
    "tags": (Annotated[list[LeadTag], FromJson], ...),
    "stage_before_takeover": (LeadStage | None, ...),
    "last_inbound_at": (datetime | None, Field(description="when the lead last wrote to us")),
    "platform_user_id": (
        str | None,
        Field(
            description="the messaging platform's id of the person (WhatsApp's business-scoped "
            "user id), which stays when the phone number is withheld; the lead is found by it "
            "at /leads/by-platform-user-id/{platform_user_id}"
        ),
    ),
    "marketing_stopped_at": (
        datetime | None,
        Field(
            description="since when the lead has stopped marketing messages on WhatsApp: "
            "follow-ups are held (MARKETING_STOPPED) until it resumes"
        ),
    ),
    "unreachable_since": (
        datetime | None,
        Field(
            description="since when WhatsApp reports the lead undeliverable (error 131026): "
            "follow-ups are held (LEAD_UNREACHABLE) until the lead writes"
        ),
    ),
    "marketing_limited_until": (
        datetime | None,
        Field(
            description="WhatsApp's per-user marketing limit refused a message to the lead "
            "(error 131049): no follow-up before this instant (USER_MARKETING_LIMIT)"
        ),
    ),
}
LEAD_OUT_HIDDEN = frozenset({"workspace_id"})


def _column_type(column: Column) -> tuple[Any, Any]:
    python = column.value_type
    return (python | None if column._meta.null else python, ...)


class LeadZone(BaseModel):
    """The zone in effect for a lead, from its own columns (app/policy/recipient.py)."""

    external_id: str
    timezone: str | None

    @cached_property
    def _zone(self) -> ZoneChoice:
        return candidate_zones(self.timezone, lead_number(self.external_id), None)

    @computed_field(  # type: ignore[prop-decorator]
        description="the IANA zone(s) whose local time the policy reads for this lead: its "
        "timezone, else its phone number's zone(s); empty when the workspace's zone applies"
    )
    @property
    def zones(self) -> list[str]:
        return list(self._zone.zones)

    @computed_field(description="where the zone comes from")  # type: ignore[prop-decorator]
    @property
    def zone_source(self) -> ZoneSource:
        return self._zone.source

    @computed_field(description="why, in words")  # type: ignore[prop-decorator]
    @property
    def zone_reason(self) -> str:
        return self._zone.reason


LeadOut: type[BaseModel] = create_model(
    "LeadOut",
    __base__=LeadZone,
    **{
        column._meta.db_column_name: LEAD_OUT_TYPES.get(column._meta.db_column_name)
        or _column_type(column)
        for column in Lead._meta.columns
        if column._meta.db_column_name not in LEAD_OUT_HIDDEN
    },
)


class LeadPage(BaseModel):
    items: list[LeadOut]
    next_cursor: str | None


class LeadStageChangeOut(BaseModel):
    lead: LeadOut
    stage_before: LeadStage
    changed: bool


class LeadImport(Strict):
    rows: list[Any] = Field(max_length=IMPORT_LIMIT, description="ImportLead objects")
    consent_wording_version: json_integer(ge=1, le=MAX_ID) | None = Field(
        None,
        description="the workspace's wording version the rows' consent cites: each row with "
        "`consent` gets a marketing grant (method `import`), once however often imported",
    )


class ImportRowOut(BaseModel):
    index: int
    external_id: str | None
    result: str
    reason: str | None
    consent: str | None = Field(
        None, description="recorded, or already_recorded (imported before): rows with consent"
    )


class ImportOut(BaseModel):
    created: int
    updated: int
    rejected: int
    granted: int = Field(description="grants recorded by this import")
    already_granted: int = Field(description="grants of rows imported before, kept as they are")
    results: list[ImportRowOut]


class ClaimRequest(Strict):
    limit: json_integer(ge=1, le=100) = 10
    lease_seconds: json_integer(ge=1, le=86_400) = 300


class ClaimOut(BaseModel):
    items: list[LeadOut]


# --- strategies ----------------------------------------------------------------------


class StrategyContent(Strict):
    tone: NotNull(LongText) = None
    objectives: NotNull(LongText) = None
    objection_handling: NotNull(LongText) = None
    cta_rules: NotNull(LongText) = None
    followup_preset: NotNull(FollowUpPreset) = None
    interval_overrides: IntervalOverrides | None = None


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
    tool_calls: Annotated[list[ToolCall] | None, BeforeValidator(_refuse_nul)] = Field(
        default=None, max_length=100
    )
    permit_id: json_integer(gt=0, le=MAX_ID) | None = Field(
        default=None, description="required for model messages: a send permit"
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
    delivery_error_code: int | None = Field(
        description="why the platform could not deliver it: its error code (e.g. 131026)"
    )
    delivery_error_title: str | None = Field(description="and the error's title")
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
    lead_id: json_integer(gt=0, le=MAX_ID)
    kind: SendKind
    at: Instant | None = Field(default=None, description="default: now")


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
    zone: str = Field(description="the zone the local times are shown in: the first of `zones`")
    zones: list[str] = Field(description="every zone whose window a follow-up must be inside")
    zone_source: ZoneSource
    zone_reason: str
    interval_hours: int | None
    items: list[ScheduleItem]
    stops_with: ReasonCode | None = Field(description="why the preview ends early, if it does")


class DispatchRequest(Strict):
    limit: json_integer(ge=1, le=1000) = 100
    lease_seconds: json_integer(ge=1, le=86_400) = 300


class DispatchPause(BaseModel):
    reason_code: ReasonCode
    detail: str
    until: datetime | None = Field(
        default=None, description="when the pause ends, when known: a messaging-limit place frees"
    )


class DispatchOut(BaseModel):
    permits: list[DecisionOut]
    deferred: int
    stopped: int
    paused: DispatchPause | None = Field(
        description="set when a workspace-wide rule holds every follow-up (nothing was "
        "recorded), or the messaging limit holds the rest of the batch's templates (they "
        "stay due, not decided)"
    )


class DecisionPage(BaseModel):
    items: list[DecisionOut]
    next_cursor: str | None


class AttestationCreate(Strict):
    operator_id: Text255
    granted: StrictBool = True


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


# --- consent -------------------------------------------------------------------------

# The exact words a person was shown: kept as sent (never trimmed), more than spaces.
WordingText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=10_000, pattern=r"^[^\x00]*[^ \x00][^\x00]*$"),
]


def _evidence_text(max_length: int, description: str) -> Any:
    return Field(default=None, max_length=max_length, pattern=NO_NUL, description=description)


class ConsentWordingCreate(Strict):
    business_name: Text255 = Field(description="the business the text names")
    text: WordingText = Field(
        description="the exact words shown to the person, naming the business (409 otherwise)"
    )
    channel: ConsentChannel = ConsentChannel.WHATSAPP


class ConsentWordingOut(BaseModel):
    version: int = Field(description="1, 2, 3 ... per workspace, set by the database")
    channel: ConsentChannel
    business_name: str
    text: str
    sha256: str = Field(description="hex SHA-256 of the UTF-8 text, computed by the database")
    created_at: datetime


class ConsentEvidence(Strict):
    """What shows the person said it: each field optional, each bounded."""

    ip: str | None = _evidence_text(45, "the person's IP address")
    user_agent: str | None = _evidence_text(1_000, "the person's browser")
    page_url: str | None = _evidence_text(2_048, "the page the wording was shown on")
    recording: str | None = _evidence_text(2_048, "a reference to a call recording")
    screenshot: str | None = _evidence_text(2_048, "a reference to a screenshot")
    note: str | None = _evidence_text(2_000, "anything else, in words")


class ImportConsent(Strict):
    """A row's proof that the person consented to the import's wording version."""

    captured_at: SaidAt = Field(description="when the person consented (not in the future)")
    evidence: ConsentEvidence = Field(
        description="what shows the person said it, as for any consent event: at least one field"
    )
    wording_version: json_integer(ge=1, le=MAX_ID) | None = Field(
        None, description="if given, the import's consent_wording_version"
    )


class ImportLead(LeadCreate):
    consent: ImportConsent | None = None


class _ConsentEventFields(Strict):
    purpose: ConsentPurpose
    channel: ConsentChannel = ConsentChannel.WHATSAPP
    evidence: ConsentEvidence = Field(default_factory=ConsentEvidence)
    captured_at: SaidAt = Field(
        description="when the person said it (at most 5 minutes ahead of the server's clock)"
    )


class ConsentGrantCreate(_ConsentEventFields):
    """A grant names the wording version the person was shown and how they said yes."""

    action: Literal[ConsentAction.GRANT.value]  # type: ignore[valid-type]
    wording_version: json_integer(gt=0, le=MAX_ID) = Field(
        description="the version of the workspace's consent wording the person was shown"
    )
    method: ConsentMethod


class ConsentRevokeCreate(_ConsentEventFields):
    """A revocation cites no wording; how it was said is optional."""

    action: Literal[ConsentAction.REVOKE.value]  # type: ignore[valid-type]
    method: ConsentMethod | None = None


# The schema states which fields a grant needs: a body without them is 422.
ConsentEventCreate = Annotated[
    ConsentGrantCreate | ConsentRevokeCreate,
    Discriminator(
        "action",
        custom_error_type="action",
        custom_error_message="action must be 'grant' or 'revoke'",
    ),
]


class ConsentEventOut(BaseModel):
    id: int
    lead_id: int
    action: ConsentAction
    purpose: ConsentPurpose
    channel: ConsentChannel
    wording_version: int | None
    wording_sha256: str | None = Field(description="the hash of the exact text shown")
    method: ConsentMethod | None
    evidence: Annotated[dict[str, Any], FromJson]
    captured_at: datetime = Field(description="when the person said it")
    recorded_at: datetime = Field(description="when it was recorded (the database's clock)")
    recorded_by_kind: ChangeActorKind | None
    recorded_by: str | None = Field(description="who recorded it: a token's name, an operator")


class ConsentEventPage(BaseModel):
    items: list[ConsentEventOut]
    next_cursor: str | None


class PurposeConsent(BaseModel):
    purpose: ConsentPurpose
    granted: bool = Field(description="the latest event for this purpose is a grant")
    event: ConsentEventOut | None = Field(description="that latest event; null: none recorded")


class ConsentStateOut(BaseModel):
    lead_id: int
    purposes: list[PurposeConsent]
