"""The operator admin: piccolo-admin configured for the domain tables.

Edits pass through the same rules as every other writer (app/validation.py,
the domain modules, then the database). Operator actions are forms, each
calling one domain function. History (chat messages, policy decisions,
attestations) is read-only here.
"""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import pydantic
from fastapi import FastAPI
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import Column
from piccolo.table import Table
from piccolo_admin.endpoints import AdminRouter, FormConfig, TableConfig, create_admin
from piccolo_api.crud.endpoints import OrderBy, PiccoloCRUD
from piccolo_api.crud.hooks import Hook, HookType
from piccolo_api.crud.validators import Validators
from piccolo_api.session_auth.middleware import SessionsAuthBackend
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from app import leads, strategies
from app.admin.crud import operator_actor, use_admin_crud
from app.admin.overview import OVERVIEW_PATH, overview_page, to_login
from app.attestations import record_attestation
from app.change_log import name_actor
from app.enums import LeadStage, SendKind, StrategyStatus
from app.errors import Conflict, DomainError, InvalidValue, NotFound
from app.legacy.tables import LegacyMapping
from app.outage import answer_outages_with_503
from app.phone_numbers import normalized_external_id
from app.policy import engine, workspace_policy
from app.settings import AdminSettings
from app.tables import (
    MAX_ID,
    ApiToken,
    ChangeLog,
    ChatMessage,
    ConversationThread,
    Lead,
    OutreachAttestation,
    PolicyDecision,
    StrategyVersion,
    WhatsAppNumber,
    Workspace,
)
from app.validation import in_words, interval_overrides, lead_tags, problems, timezone_name
from app.workspaces import existing_workspace


def refused(error: DomainError, field: str) -> HTTPException:
    """A 422 in the shape the admin UI lists under the form: field, then message."""
    if isinstance(error, InvalidValue):
        field, message = error.field, error.message
    else:
        message = str(error)
    return HTTPException(
        status_code=422,
        detail=[{"loc": ["body", field], "msg": message, "type": type(error).__name__}],
    )


def by_name(values: dict[Any, Any]) -> dict[str, Any]:
    """PATCH hooks receive columns as keys; name them."""
    return {
        key._meta.name if isinstance(key, Column) else key: value for key, value in values.items()
    }


def as_json(value: Any) -> Any:
    """JSON columns travel as JSON text in the admin; compare them decoded."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


async def current_row(table: type[Table], row_id: Any) -> dict[str, Any]:
    row = await table.select().where(table._meta.primary_key == row_id).first()
    if row is None:
        raise refused(NotFound(f"{table._meta.tablename} {row_id} does not exist"), "id")
    return row


def changed(fields: dict[str, Any], current: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` the PATCH changes (the admin sends unchanged fields too)."""
    return [
        name for name in names if name in fields and as_json(fields[name]) != as_json(current[name])
    ]


# --- field rules for creates (pre_save) and edits (pre_patch) ------------------------

FieldRule = Callable[[str, Any], Any]

WORKSPACE_RULES: dict[str, FieldRule] = {
    "timezone": timezone_name,
    **workspace_policy.FIELD_RULES,
}
LEAD_RULES: dict[str, FieldRule] = {
    "timezone": lambda field, value: None if value is None else timezone_name(field, value),
    "tags": lead_tags,
}
STRATEGY_RULES: dict[str, FieldRule] = {"interval_overrides": interval_overrides}


def apply_rules(rules: dict[str, FieldRule], fields: dict[str, Any]) -> None:
    try:
        for name, rule in rules.items():
            if name in fields:
                rule(name, fields[name])
    except DomainError as error:
        raise refused(error, "body") from None


def save_hook(rules: dict[str, FieldRule]) -> Hook:
    async def check(row: Table) -> Table:
        apply_rules(rules, {name: getattr(row, name) for name in rules})
        return row

    return Hook(hook_type=HookType.pre_save, callable=check)


def patch_hook(rules: dict[str, FieldRule]) -> Hook:
    async def check(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
        apply_rules(rules, by_name(values))
        return values

    return Hook(hook_type=HookType.pre_patch, callable=check)


async def new_workspace_policy(row: Workspace) -> Workspace:
    """The send window's edges are checked against each other too."""
    try:
        workspace_policy.checked_policy(
            {name: getattr(row, name) for name in workspace_policy.POLICY_FIELDS}
        )
    except DomainError as error:
        raise refused(error, "body") from None
    return row


async def workspace_policy_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """A changed window edge is checked against the other one, as stored or as sent."""
    fields = by_name(values)
    current = await current_row(Workspace, row_id)
    try:
        workspace_policy.checked_policy(
            {name: fields[name] for name in workspace_policy.POLICY_FIELDS if name in fields},
            current,
        )
    except DomainError as error:
        raise refused(error, "body") from None
    if changed(fields, current, ("policy_version",)):
        raise refused(
            Conflict("raised by the database when the send policy changes"), "policy_version"
        )
    return values


async def new_lead_external_id(row: Lead) -> Lead:
    """Phone numbers are kept in E.164 form, however they were typed."""
    if isinstance(row.external_id, str):
        row.external_id = normalized_external_id(row.external_id)
    return row


# The actions as the admin names them, in the words of the takeover rule.
ADMIN_TAKEOVER_ACTIONS = {
    "take_over": "the 'Take over lead' action",
    "release": "the 'Release lead' action",
}


def stage_or_none(value: Any) -> LeadStage | None:
    """A stage, or None for junk (refused by the field's own rule)."""
    try:
        return LeadStage(value)
    except ValueError:
        return None


async def new_lead_stage(row: Lead) -> Lead:
    """A lead is taken over by the action, never created so."""
    refusal = leads.takeover_refusal(None, stage_or_none(row.stage), **ADMIN_TAKEOVER_ACTIONS)
    if refusal:
        raise refused(Conflict(refusal), "stage")
    return row


async def lead_external_id_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    return {
        key: normalized_external_id(value)
        if by_name({key: value}).keys() == {"external_id"} and isinstance(value, str)
        else value
        for key, value in values.items()
    }


async def lead_stage_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """Takeovers go through the actions, which remember the stage to return to."""
    fields = by_name(values)
    current = await current_row(Lead, row_id)
    if changed(fields, current, ("last_inbound_at",)):
        raise refused(
            Conflict("kept by the database from the lead's own messages"), "last_inbound_at"
        )
    if changed(fields, current, ("stage_before_takeover",)):
        raise refused(
            Conflict("kept by the 'Take over lead' and 'Release lead' actions"),
            "stage_before_takeover",
        )
    if changed(fields, current, ("stage",)):
        refusal = leads.takeover_refusal(
            stage_or_none(current["stage"]),
            stage_or_none(fields["stage"]),
            **ADMIN_TAKEOVER_ACTIONS,
        )
        if refusal:
            raise refused(Conflict(refusal), "stage")
    return values


async def new_strategy_is_draft(row: StrategyVersion) -> StrategyVersion:
    if row.status not in (None, StrategyStatus.DRAFT):
        raise refused(
            InvalidValue(
                "status", "new versions start as DRAFT; then use 'Activate strategy version'"
            ),
            "status",
        )
    row.status = StrategyStatus.DRAFT
    return row


async def strategy_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """Content of ACTIVE and ROLLED_BACK versions is frozen; status moves by actions."""
    fields = by_name(values)
    current = await current_row(StrategyVersion, row_id)
    if changed(fields, current, ("status", "activated_at", "previous_active_version_id")):
        raise refused(
            Conflict(
                "status changes through the 'Activate strategy version' and 'Roll back' actions"
            ),
            "status",
        )
    content = ("version_number", "workspace_id", *strategies.CONTENT_FIELDS)
    if changed(fields, current, content):
        try:
            await strategies.ensure_editable(current["workspace_id"], row_id)
        except DomainError as error:
            raise refused(error, "status") from None
    return values


# --- request checks -----------------------------------------------------------------

Validator = Callable[[PiccoloCRUD, Request], Awaitable[None] | None]


def read_only(reason: str) -> Validator:
    def refuse(piccolo_crud: PiccoloCRUD, request: Request) -> None:
        raise HTTPException(status_code=405, detail=reason)

    return refuse


def edits_use_patch(piccolo_crud: PiccoloCRUD, request: Request) -> None:
    # PUT skips the pre_patch hooks that hold the rules, so it is not offered.
    raise HTTPException(status_code=405, detail="replace is not supported; edit with PATCH")


def validators(*, history: str | None = None) -> Validators:
    """Edits by PATCH only; on history tables, no writes at all."""
    if history is None:
        return Validators(put_single=[edits_use_patch])
    deny = read_only(history)
    return Validators(
        post_single=[deny],
        put_single=[deny],
        patch_single=[deny],
        delete_single=[deny],
        delete_all=[deny],
    )


# --- operator actions ------------------------------------------------------------------


def picked(table: str, description: str) -> Any:
    """A form field whose value is a row of ``table``: typed as text in the form, where
    the admin's extras script (extras.js) suggests rows as the operator types."""
    extra = {"foreign_key": {"to": table, "target_column": "id"}, "nullable": False}
    return pydantic.Field(
        description=description, json_schema_extra={"type": "string", "extra": extra}
    )


RowChoice = Annotated[int, pydantic.Field(gt=0, le=MAX_ID)]


class WorkspaceAction(pydantic.BaseModel):
    workspace: RowChoice = picked("workspace", "Pick the workspace")


class StrategyVersionAction(pydantic.BaseModel):
    version: RowChoice = picked("strategy_version", "Pick the version (v1 of Acme, ...)")


class LeadAction(pydantic.BaseModel):
    lead: RowChoice = picked("lead", "Pick the lead: search by part of its number or name")


class AttestationForm(WorkspaceAction):
    granted: bool = True


class WhyNotForm(LeadAction):
    kind: SendKind = SendKind.FOLLOWUP


async def _message(action: Callable[[], Awaitable[Any]]) -> str:
    """Run a domain action; its refusal becomes the form's error message."""
    try:
        return (await action()).message
    except DomainError as error:
        raise ValueError(str(error)) from None


async def activate_form(request: Request, data: StrategyVersionAction) -> str:
    async def action() -> strategies.StrategyChange:
        workspace_id = await strategies.workspace_of_version(data.version)
        return await strategies.activate_strategy_version(workspace_id, data.version)

    return await _message(action)


async def roll_back_form(request: Request, data: WorkspaceAction) -> str:
    async def action() -> strategies.StrategyChange:
        return await strategies.roll_back_strategy(await existing_workspace(data.workspace))

    return await _message(action)


async def attestation_form(request: Request, data: AttestationForm) -> str:
    async def action() -> Any:
        workspace_id = await existing_workspace(data.workspace)
        return await record_attestation(workspace_id, operator_actor(request).name, data.granted)

    return await _message(action)


async def why_not_form(request: Request, data: WhyNotForm) -> str:
    """Every rule's outcome for the lead now, and the next follow-ups; records nothing."""
    try:
        workspace_id = await leads.workspace_of_lead(data.lead)
        decision = await engine.simulate(workspace_id, data.lead, data.kind)
        planned = await engine.schedule(workspace_id, data.lead, 5)
    except DomainError as error:
        raise ValueError(str(error)) from None
    return why_not_text(decision, planned)


def why_not_text(decision: dict[str, Any], planned: dict[str, Any]) -> str:
    """The decision as an operator reads it: verdict, each rule, when next."""
    trace = decision["rule_trace"]
    lines = [decision["summary"], f"Zone {trace['zone']}, local time {trace['local_time']}."]
    if decision["next_allowed_at"] is not None:
        utc = decision["next_allowed_at"].astimezone(UTC)
        lines.append(f"Next allowed at {utc:%Y-%m-%d %H:%M} UTC.")
    for rule in trace["rules"]:
        mark = "-" if not rule["applies"] else ("ok" if rule["passed"] else "NO")
        lines.append(f"[{mark}] {rule['rule']}: {rule['detail']}")
    upcoming = ", ".join(item["local_text"] for item in planned["items"]) or "none"
    lines.append(f"Next follow-ups: {upcoming}")
    if planned["stops_with"]:
        lines.append(f"Follow-ups stop: {planned['stops_with']}")
    return "\n".join(lines)


def lead_form(change: Callable[[int, int], Awaitable[leads.LeadStageChange]]):
    async def endpoint(request: Request, data: LeadAction) -> str:
        async def action() -> leads.LeadStageChange:
            return await change(await leads.workspace_of_lead(data.lead), data.lead)

        return await _message(action)

    return endpoint


STRATEGY_GROUP = "Workspaces & strategy"
LEADS_GROUP = "Leads & conversations"
AUDIT_GROUP = "Audit"


def operator_form(
    name: str,
    model: type[pydantic.BaseModel],
    endpoint: Callable[[Request, Any], Awaitable[str]],
    description: str,
    group: str,
) -> FormConfig:
    """A form whose changes the change log records as the operator's, by the form's name."""

    async def recorded(request: Request, data: Any) -> str:
        await name_actor(operator_actor(request), name)
        return await endpoint(request, data)

    return FormConfig(
        name=name,
        pydantic_model=model,
        endpoint=recorded,
        description=description,
        form_group=group,
    )


FORMS = [
    operator_form(
        "Activate strategy version",
        StrategyVersionAction,
        activate_form,
        "Make a version ACTIVE now; the ACTIVE one becomes ROLLED_BACK.",
        STRATEGY_GROUP,
    ),
    operator_form(
        "Roll back strategy",
        WorkspaceAction,
        roll_back_form,
        "The ACTIVE version becomes ROLLED_BACK; the one it replaced is ACTIVE again.",
        STRATEGY_GROUP,
    ),
    operator_form(
        "Record outreach attestation",
        AttestationForm,
        attestation_form,
        "Record, as you, that outreach is granted (or withdrawn) for a workspace.",
        AUDIT_GROUP,
    ),
    operator_form(
        "Why not, when next",
        WhyNotForm,
        why_not_form,
        "What the policy engine would decide for a lead now, rule by rule, and the next "
        "follow-ups in the lead's local time. Records nothing.",
        AUDIT_GROUP,
    ),
    operator_form(
        "Suppress lead",
        LeadAction,
        lead_form(leads.suppress_lead),
        "Stop all outreach to the lead (stage SUPPRESSED).",
        LEADS_GROUP,
    ),
    operator_form(
        "Take over lead",
        LeadAction,
        lead_form(leads.take_over_lead),
        "A human takes the conversation over (stage TAKE_OVER); its stage is kept.",
        LEADS_GROUP,
    ),
    operator_form(
        "Release lead",
        LeadAction,
        lead_form(leads.release_lead),
        "End a takeover: the lead returns to the stage it had before.",
        LEADS_GROUP,
    ),
]


# --- tables -------------------------------------------------------------------------------

TABLES = [
    TableConfig(
        Workspace,
        visible_columns=[
            Workspace.name,
            Workspace.timezone,
            Workspace.budget_tier,
            Workspace.created_at,
        ],
        visible_filters=[Workspace.name, Workspace.budget_tier, Workspace.timezone],
        link_column=Workspace.name,
        order_by=[OrderBy(Workspace.name)],
        menu_group=STRATEGY_GROUP,
        # Hooks of one type must be adjacent: piccolo-api groups them with
        # itertools.groupby and keeps only the last run of each type.
        hooks=[
            save_hook(WORKSPACE_RULES),
            Hook(hook_type=HookType.pre_save, callable=new_workspace_policy),
            patch_hook(WORKSPACE_RULES),
            Hook(hook_type=HookType.pre_patch, callable=workspace_policy_patch),
        ],
        validators=validators(),
    ),
    TableConfig(
        WhatsAppNumber,
        visible_columns=[
            WhatsAppNumber.display_phone_number,
            WhatsAppNumber.phone_number_id,
            WhatsAppNumber.workspace_id,
            WhatsAppNumber.created_at,
        ],
        visible_filters=[WhatsAppNumber.workspace_id, WhatsAppNumber.phone_number_id],
        link_column=WhatsAppNumber.display_phone_number,
        order_by=[OrderBy(WhatsAppNumber.workspace_id)],
        menu_group=STRATEGY_GROUP,
        validators=validators(),
    ),
    TableConfig(
        StrategyVersion,
        visible_columns=[
            StrategyVersion.version_number,
            StrategyVersion.workspace_id,
            StrategyVersion.status,
            StrategyVersion.followup_preset,
            StrategyVersion.activated_at,
            StrategyVersion.created_at,
        ],
        visible_filters=[
            StrategyVersion.workspace_id,
            StrategyVersion.status,
            StrategyVersion.followup_preset,
            StrategyVersion.activated_at,
        ],
        link_column=StrategyVersion.version_number,
        order_by=[
            OrderBy(StrategyVersion.workspace_id),
            OrderBy(StrategyVersion.version_number, ascending=False),
        ],
        menu_group=STRATEGY_GROUP,
        hooks=[
            Hook(hook_type=HookType.pre_save, callable=new_strategy_is_draft),
            save_hook(STRATEGY_RULES),
            patch_hook(STRATEGY_RULES),
            Hook(hook_type=HookType.pre_patch, callable=strategy_patch),
        ],
        validators=validators(),
    ),
    TableConfig(
        Lead,
        visible_columns=[
            Lead.external_id,
            Lead.name,
            Lead.workspace_id,
            Lead.stage,
            Lead.tags,
            Lead.next_followup_at,
            Lead.last_followup_at,
        ],
        visible_filters=[
            Lead.workspace_id,
            Lead.external_id,
            Lead.name,
            Lead.stage,
            Lead.tags,
            Lead.next_followup_at,
            Lead.last_followup_at,
        ],
        link_column=Lead.external_id,
        order_by=[OrderBy(Lead.created_at, ascending=False)],
        menu_group=LEADS_GROUP,
        hooks=[
            save_hook(LEAD_RULES),
            Hook(hook_type=HookType.pre_save, callable=new_lead_external_id),
            Hook(hook_type=HookType.pre_save, callable=new_lead_stage),
            patch_hook(LEAD_RULES),
            Hook(hook_type=HookType.pre_patch, callable=lead_stage_patch),
            Hook(hook_type=HookType.pre_patch, callable=lead_external_id_patch),
        ],
        validators=validators(),
    ),
    TableConfig(
        ConversationThread,
        visible_columns=[
            ConversationThread.id,
            ConversationThread.lead_id,
            ConversationThread.workspace_id,
            ConversationThread.status,
            ConversationThread.created_at,
        ],
        visible_filters=[
            ConversationThread.workspace_id,
            ConversationThread.lead_id,
            ConversationThread.status,
        ],
        order_by=[OrderBy(ConversationThread.created_at, ascending=False)],
        menu_group=LEADS_GROUP,
        validators=validators(),
    ),
    TableConfig(
        ChatMessage,
        visible_columns=[
            ChatMessage.id,
            ChatMessage.thread_id,
            ChatMessage.role,
            ChatMessage.content,
            ChatMessage.created_at,
        ],
        visible_filters=[ChatMessage.thread_id, ChatMessage.role, ChatMessage.created_at],
        order_by=[OrderBy(ChatMessage.created_at, ascending=False)],
        menu_group=LEADS_GROUP,
        validators=validators(
            history="chat messages are conversation history: they cannot be created, "
            "edited or deleted in the admin"
        ),
    ),
    TableConfig(
        PolicyDecision,
        visible_columns=[
            PolicyDecision.id,
            PolicyDecision.workspace_id,
            PolicyDecision.lead_id,
            PolicyDecision.kind,
            PolicyDecision.allow_send,
            PolicyDecision.reason_code,
            PolicyDecision.summary,
            PolicyDecision.next_allowed_at,
            PolicyDecision.created_at,
        ],
        visible_filters=[
            PolicyDecision.workspace_id,
            PolicyDecision.lead_id,
            PolicyDecision.kind,
            PolicyDecision.allow_send,
            PolicyDecision.reason_code,
            PolicyDecision.created_at,
        ],
        order_by=[OrderBy(PolicyDecision.created_at, ascending=False)],
        menu_group=AUDIT_GROUP,
        validators=validators(
            history="policy decisions are an append-only audit trail: they cannot be "
            "created, edited or deleted in the admin"
        ),
    ),
    TableConfig(
        OutreachAttestation,
        visible_columns=[
            OutreachAttestation.id,
            OutreachAttestation.workspace_id,
            OutreachAttestation.operator_id,
            OutreachAttestation.granted,
            OutreachAttestation.timestamp,
        ],
        visible_filters=[
            OutreachAttestation.workspace_id,
            OutreachAttestation.operator_id,
            OutreachAttestation.granted,
            OutreachAttestation.timestamp,
        ],
        order_by=[OrderBy(OutreachAttestation.timestamp, ascending=False)],
        menu_group=AUDIT_GROUP,
        validators=validators(
            history="outreach attestations are an append-only audit trail: record a new "
            "one with the 'Record outreach attestation' action"
        ),
    ),
    TableConfig(
        LegacyMapping,
        visible_columns=[
            LegacyMapping.id,
            LegacyMapping.prototype_table,
            LegacyMapping.prototype_id,
            LegacyMapping.strategy_version_id,
            LegacyMapping.conversation_thread_id,
            LegacyMapping.created_at,
        ],
        visible_filters=[
            LegacyMapping.prototype_table,
            LegacyMapping.prototype_id,
            LegacyMapping.strategy_version_id,
            LegacyMapping.conversation_thread_id,
        ],
        order_by=[OrderBy(LegacyMapping.prototype_table), OrderBy(LegacyMapping.prototype_id)],
        menu_group="Prototype",
        validators=validators(
            history="the prototype mapping is written by 'piccolo legacy backfill' only"
        ),
    ),
    TableConfig(
        ApiToken,
        visible_columns=[
            ApiToken.id,
            ApiToken.workspace_id,
            ApiToken.name,
            ApiToken.created_at,
            ApiToken.revoked_at,
        ],
        visible_filters=[ApiToken.workspace_id, ApiToken.name, ApiToken.revoked_at],
        order_by=[OrderBy(ApiToken.id, ascending=False)],
        menu_group="Operators",
        validators=validators(
            history="API tokens are managed with 'piccolo masterplan create-token' and "
            "'revoke-token'"
        ),
    ),
    TableConfig(
        ChangeLog,
        visible_columns=[
            ChangeLog.created_at,
            ChangeLog.actor_kind,
            ChangeLog.actor,
            ChangeLog.action,
            ChangeLog.operation,
            ChangeLog.table_name,
            ChangeLog.row_id,
            ChangeLog.changes,
        ],
        visible_filters=[
            ChangeLog.table_name,
            ChangeLog.row_id,
            ChangeLog.actor,
            ChangeLog.actor_kind,
            ChangeLog.operation,
            ChangeLog.workspace_id,
            ChangeLog.lead_id,
            ChangeLog.created_at,
        ],
        order_by=[OrderBy(ChangeLog.created_at, ascending=False)],
        menu_group=AUDIT_GROUP,
        validators=validators(
            history="the change log is written by the database as rows change: it cannot be "
            "created, edited or deleted"
        ),
    ),
    TableConfig(
        BaseUser,
        visible_columns=[
            BaseUser.username,
            BaseUser.email,
            BaseUser.active,
            BaseUser.admin,
            BaseUser.superuser,
            BaseUser.last_login,
        ],
        visible_filters=[BaseUser.username, BaseUser.active, BaseUser.admin],
        link_column=BaseUser.username,
        menu_group="Operators",
    ),
]


# --- bad input that reaches the database or the filter parser ----------------------------


def invalid_filter(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, pydantic.ValidationError)
    summary = in_words(problems(error.errors(), unnamed="value"))
    return JSONResponse({"detail": f"invalid value: {summary}"}, status_code=400)


def malformed_query(request: Request, error: Exception) -> JSONResponse:
    # piccolo-api raises ValueError for query parameters naming unknown columns.
    return JSONResponse({"detail": f"invalid request: {error}"}, status_code=400)


def value_refused_by_database(request: Request, error: Exception) -> JSONResponse:
    # SQLSTATE classes 22 (data exception) and 23 (integrity violation): bad input.
    # The admin UI shows {"db_error": ...} as "Database error: ...", like piccolo-api's own.
    assert isinstance(error, asyncpg.PostgresError)
    return JSONResponse({"db_error": str(error)}, status_code=422)


def fastapi_apps(app: Any) -> list[FastAPI]:
    """The FastAPI sub-applications piccolo-admin mounts (behind its middleware)."""
    found = []
    for route in getattr(app, "routes", []):
        inner = getattr(route, "app", None)
        while inner is not None and not isinstance(inner, FastAPI):
            inner = getattr(inner, "app", None)
        if inner is not None:
            found.append(inner)
    return found


def answer_bad_input_with_4xx(admin: FastAPI) -> None:
    """Bad filters and values the database refuses end in a 4xx, not a 500."""
    for app in [admin, *fastapi_apps(admin)]:
        answer_outages_with_503(app)
        app.add_exception_handler(pydantic.ValidationError, invalid_filter)
        app.add_exception_handler(ValueError, malformed_query)
        app.add_exception_handler(asyncpg.DataError, value_refused_by_database)
        app.add_exception_handler(
            asyncpg.IntegrityConstraintViolationError, value_refused_by_database
        )


SESSION_INCREASE_EXPIRY = timedelta(minutes=30)


def add_overview(admin: AdminRouter) -> None:
    """The overview page behind the admin's own session check, linked from its sidebar."""
    overview = Starlette(routes=[Route("/", overview_page, methods=["GET"])])
    backend = SessionsAuthBackend(
        auth_table=BaseUser,
        session_table=SessionsBase,
        admin_only=True,
        increase_expiry=SESSION_INCREASE_EXPIRY,
    )
    admin.mount("/overview", AuthenticationMiddleware(overview, backend, on_error=to_login))


EXTRAS_SCRIPT = (Path(__file__).parent / "extras.js").read_text()


def add_admin_extras(admin: AdminRouter) -> None:
    """A script with the admin's page: lists say "10,000+" or "about N" when a count
    is bounded or estimated; form fields naming a table suggest its rows."""

    async def script(request: Request) -> Response:
        return Response(EXTRAS_SCRIPT, media_type="text/javascript")

    admin.add_route("/extras/admin-extras.js", script, methods=["GET"])
    tag = '<script src="./extras/admin-extras.js"></script>'
    admin.template = admin.template.replace("</head>", f"  {tag}\n</head>", 1)


def create_operator_admin(settings: AdminSettings) -> ASGIApp:
    """The admin ASGI app: session login (rate limited), CSRF, tables and actions."""
    admin = create_admin(
        tables=TABLES,
        forms=FORMS,
        site_name="Masterplan admin",
        session_expiry=timedelta(hours=1),
        increase_expiry=SESSION_INCREASE_EXPIRY,
        max_session_expiry=timedelta(hours=12),
        production=settings.production,
        allowed_hosts=list(settings.allowed_hosts),
        auto_include_related=False,
        sidebar_links={"Overview": OVERVIEW_PATH},
    )
    answer_bad_input_with_4xx(admin)
    use_admin_crud(fastapi_apps(admin))
    add_overview(admin)
    add_admin_extras(admin)
    return admin
