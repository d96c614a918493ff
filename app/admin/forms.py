"""Operator actions as forms, each calling one domain function; form fields name the
table they pick from."""

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Annotated, Any

import pydantic
from piccolo_admin.endpoints import FormConfig
from starlette.exceptions import HTTPException
from starlette.requests import Request

from app import leads
from app.admin.crud import operator_actor
from app.admin.menu import AUDIT_GROUP, LEADS_GROUP, OPERATORS_GROUP, STRATEGY_GROUP
from app.admin.two_factor import UnknownOperator, reset_two_factor
from app.change_log import name_actor
from app.enums import SendKind
from app.errors import DomainError
from app.policy import engine, strategies
from app.policy.attestations import record_attestation
from app.tables import MAX_ID
from app.whatsapp.inbox import reprocess
from app.workspaces import existing_workspace


def picked(table: str, description: str, required: bool = True) -> Any:
    """A form field whose value is a row of ``table``: typed as text in the form, where
    the admin's extras script (extras.js) suggests rows as the operator types; when
    not ``required``, left empty it is None."""
    extra = {"foreign_key": {"to": table, "target_column": "id"}, "nullable": not required}
    return pydantic.Field(
        default=... if required else None,
        description=description,
        json_schema_extra={"type": "string", "extra": extra},
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


class ReprocessInboxForm(pydantic.BaseModel):
    items: int = pydantic.Field(
        default=500, ge=1, le=10_000, description="How many unprocessed items at most, oldest first"
    )


class WhyNotForm(LeadAction):
    kind: SendKind = SendKind.FOLLOWUP


async def _message(action: Callable[[], Awaitable[Any]]) -> str:
    """Run a domain action; its refusal becomes the form's error message."""
    try:
        return (await action()).message
    except DomainError as error:
        raise ValueError(str(error)) from None


async def reprocess_inbox_form(request: Request, data: ReprocessInboxForm) -> str:
    report = await reprocess(actor=None, limit=data.items)
    return report.summary()


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
    zones = ", ".join(trace["zones"]) or "unresolved"
    lines = [
        decision["summary"],
        f"Zone {zones} ({trace['zone_reason']}); local time {trace['local_time']}.",
    ]
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


class ResetTwoFactorForm(pydantic.BaseModel):
    username: str = pydantic.Field(
        min_length=1, max_length=100, description="The operator's username"
    )


async def reset_two_factor_form(request: Request, data: ResetTwoFactorForm) -> str:
    """A superuser's way to let an operator who lost the device enrol again."""
    if not request.user.user.superuser:
        raise HTTPException(403, "only a superuser may reset an operator's two-factor sign-in")
    try:
        return await reset_two_factor(data.username, operator_actor(request))
    except UnknownOperator as error:
        raise ValueError(str(error)) from None


def lead_form(change: Callable[[int, int], Awaitable[leads.LeadStageChange]]):
    async def endpoint(request: Request, data: LeadAction) -> str:
        async def action() -> leads.LeadStageChange:
            return await change(await leads.workspace_of_lead(data.lead), data.lead)

        return await _message(action)

    return endpoint


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
        "Reprocess webhook inbox",
        ReprocessInboxForm,
        reprocess_inbox_form,
        "Act again, with this version of the code, on webhook items that were kept "
        "(e.g. after routing a WhatsApp number): what can be acted on now is stored.",
        LEADS_GROUP,
    ),
    operator_form(
        "Reset two-factor sign-in",
        ResetTwoFactorForm,
        reset_two_factor_form,
        "Superusers: an operator who lost the device and every recovery code signs in "
        "with the password alone and enrols a new device.",
        OPERATORS_GROUP,
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
