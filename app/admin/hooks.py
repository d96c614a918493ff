"""Field rules for admin creates (pre_save hooks) and edits (pre_patch hooks), and
the request checks of read-only tables: the same rules as every other writer."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from piccolo.columns import Column
from piccolo.table import Table
from piccolo_api.crud.endpoints import PiccoloCRUD
from piccolo_api.crud.hooks import Hook, HookType
from piccolo_api.crud.validators import Validators
from starlette.exceptions import HTTPException
from starlette.requests import Request

from app import leads
from app.enums import LeadStage, StrategyStatus
from app.errors import Conflict, DomainError, InvalidValue, NotFound, RuleBroken
from app.phone_numbers import normalized_external_id
from app.policy import strategies, workspace_policy
from app.tables import Lead, StrategyVersion, Workspace
from app.validation import (
    interval_overrides,
    lead_tags,
    reply_words,
    stored_json,
    timezone_name,
    words_in_both,
)
from app.workspaces import tier


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
    try:
        return stored_json(value)
    except json.JSONDecodeError:
        return value  # compared as typed: the field's own rule refuses it


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
    "messaging_tier": tier,
    **workspace_policy.FIELD_RULES,
    "opt_out_words": reply_words,
    "opt_in_words": reply_words,
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


def refuse_words_in_both(opt_in_words: Any, opt_out_words: Any) -> None:
    both = words_in_both(opt_in_words, opt_out_words)
    if both:
        raise refused(
            RuleBroken("opt_in_words", f"{both} are opt-out words too: a word opts in or out"),
            "opt_in_words",
        )


async def new_workspace_words(row: Workspace) -> Workspace:
    """No word both opts a lead in and out."""
    refuse_words_in_both(row.opt_in_words, row.opt_out_words)
    return row


async def workspace_words_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """No word both opts a lead in and out, as sent or as stored."""
    fields = by_name(values)
    if "opt_in_words" in fields or "opt_out_words" in fields:
        current = await current_row(Workspace, row_id)
        merged = {**current, **fields}
        refuse_words_in_both(merged["opt_in_words"], merged["opt_out_words"])
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


def refuse_direct_takeover(current: Any, wanted: Any) -> None:
    """A lead enters and leaves TAKE_OVER only through the admin's actions."""
    refusal = leads.takeover_refusal(
        stage_or_none(current), stage_or_none(wanted), **ADMIN_TAKEOVER_ACTIONS
    )
    if refusal:
        raise refused(Conflict(refusal), "stage")


async def new_lead_stage(row: Lead) -> Lead:
    """A lead is taken over by the action, never created so."""
    refuse_direct_takeover(None, row.stage)
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
    if changed(fields, current, ("marketing_stopped_at",)):
        raise refused(
            Conflict("kept by the database from the lead's marketing preferences"),
            "marketing_stopped_at",
        )
    if changed(fields, current, ("stage_before_takeover",)):
        raise refused(
            Conflict("kept by the 'Take over lead' and 'Release lead' actions"),
            "stage_before_takeover",
        )
    if changed(fields, current, ("stage",)):
        refuse_direct_takeover(current["stage"], fields["stage"])
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


def counted_by_login(reason: str) -> Validators:
    """Rows the login form writes: operators may only delete them."""
    deny = read_only(reason)
    return Validators(post_single=[deny], put_single=[deny], patch_single=[deny])
