"""The consent ledger in the admin: the wordings (added here, frozen once cited),
the events (read-only for everyone: a correction is a new event), and the form that
records a grant or a revocation through app/policy/consent.py.

The database refuses the same things (app's consent migration); the admin neither
offers them nor answers them with a 500.
"""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pydantic
from piccolo_admin.endpoints import TableConfig
from piccolo_api.crud.endpoints import OrderBy
from piccolo_api.crud.hooks import Hook, HookType
from starlette.requests import Request

from app.admin.forms import RowChoice, operator_form, picked
from app.admin.hooks import by_name, changed, current_row, refused, validators
from app.admin.menu import CONSENT_GROUP
from app.enums import ConsentAction, ConsentMethod, ConsentPurpose
from app.errors import Conflict, DomainError, InvalidValue
from app.leads import workspace_of_lead
from app.policy import consent
from app.tables import ConsentEvent, ConsentWording
from app.validation import decoded_json

# --- wordings: numbered and hashed by the database ----------------------------------------

SET_BY_DATABASE = ("version", "sha256")
KEPT_ON_EDIT = ("workspace_id", *SET_BY_DATABASE)


async def new_wording(row: ConsentWording) -> ConsentWording:
    """A new version's number and hash come from the database, never the form."""
    for name in SET_BY_DATABASE:
        if getattr(row, name) not in (None, ""):
            raise refused(Conflict("set by the database when the version is added"), name)
        setattr(row, name, None)
    return row


async def wording_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """A version keeps its workspace, number and hash; a cited one is refused by the
    database (shown as its readable refusal)."""
    fields = by_name(values)
    current = await current_row(ConsentWording, row_id)
    for name in changed(fields, current, KEPT_ON_EDIT):
        raise refused(
            Conflict(
                f"v{current['version']} keeps its {name.replace('_', ' ')}: add a new version"
            ),
            name,
        )
    return values


CONSENT_TABLES = [
    TableConfig(
        ConsentWording,
        visible_columns=[
            ConsentWording.version,
            ConsentWording.workspace_id,
            ConsentWording.business_name,
            ConsentWording.channel,
            ConsentWording.sha256,
            ConsentWording.created_at,
        ],
        visible_filters=[
            ConsentWording.workspace_id,
            ConsentWording.channel,
            ConsentWording.business_name,
            ConsentWording.created_at,
        ],
        link_column=ConsentWording.version,
        order_by=[OrderBy(ConsentWording.workspace_id), OrderBy(ConsentWording.version, False)],
        menu_group=CONSENT_GROUP,
        hooks=[
            Hook(hook_type=HookType.pre_save, callable=new_wording),
            Hook(hook_type=HookType.pre_patch, callable=wording_patch),
        ],
        validators=validators(),
    ),
    TableConfig(
        ConsentEvent,
        visible_columns=[
            ConsentEvent.id,
            ConsentEvent.workspace_id,
            ConsentEvent.lead_id,
            ConsentEvent.action,
            ConsentEvent.purpose,
            ConsentEvent.wording_id,
            ConsentEvent.method,
            ConsentEvent.captured_at,
            ConsentEvent.recorded_at,
            ConsentEvent.recorded_by,
        ],
        visible_filters=[
            ConsentEvent.workspace_id,
            ConsentEvent.lead_id,
            ConsentEvent.action,
            ConsentEvent.purpose,
            ConsentEvent.method,
            ConsentEvent.captured_at,
            ConsentEvent.recorded_at,
        ],
        order_by=[OrderBy(ConsentEvent.id, ascending=False)],
        menu_group=CONSENT_GROUP,
        validators=validators(
            history="consent events are an append-only ledger: record a grant or a "
            "revocation with the 'Record consent' action; a correction is a new event"
        ),
    ),
]

# --- the form --------------------------------------------------------------------------------

# A moment "said" may lead the database's clock by this much (its CHECK allows 5 minutes).
CLOCK_SKEW = timedelta(minutes=5)
FORM_FIELDS = {"wording_version": "wording"}  # the domain's field -> the form's


def chosen(choices: type[StrEnum], title: str, description: str, default: Any) -> Any:
    """A form field whose value is one of ``choices``, offered as a list to pick from
    (as the admin offers a column's choices); None when left empty, if allowed."""
    extra = {
        "choices": {
            choice.name: {"display_name": choice.value.replace("_", " "), "value": choice.value}
            for choice in choices
        },
        "nullable": default is None,
    }
    return pydantic.Field(
        default=default,
        title=title,
        description=description,
        json_schema_extra={"type": "string", "extra": extra},
    )


class ConsentForm(pydantic.BaseModel):
    workspace: RowChoice = picked("workspace", "Pick the workspace")
    lead: RowChoice = picked("lead", "Pick the lead: search by part of its number or name")
    action: ConsentAction = chosen(
        ConsentAction, "Action", "grant: the person said yes; revoke: they took it back", "grant"
    )
    purpose: ConsentPurpose = chosen(
        ConsentPurpose, "Purpose", "What the person agreed to be sent", "marketing"
    )
    wording: RowChoice | None = picked(
        "consent_wording",
        "For a grant: the wording version the person was shown (v1 Acme, ...); "
        "empty for a revocation",
        required=False,
    )
    method: ConsentMethod | None = chosen(
        ConsentMethod, "Method", "For a grant: how the person said yes", None
    )
    captured_at: datetime | None = pydantic.Field(
        default=None, description="When the person said it, in UTC; empty: now"
    )
    evidence: str = pydantic.Field(
        default="",
        max_length=20_000,
        description='A JSON object, e.g. {"ip": "192.0.2.1", "page_url": "https://...", '
        '"recording": "call-2026-12-01.mp3"}',
    )


async def record_consent_form(request: Request, data: ConsentForm) -> str:
    """Record the grant or revocation; every refusal is the form's readable error."""
    try:
        event = await record_consent(data)
    except DomainError as error:
        raise ValueError(form_message(error)) from None
    said = event["captured_at"].astimezone(UTC)
    wording = f" on wording v{event['wording_version']}" if event["wording_version"] else ""
    return (
        f"Recorded consent event #{event['id']}: {event['action']} of {event['purpose']} "
        f"consent for lead #{data.lead}{wording}, said {said:%a} {said.day} {said:%b %Y %H:%M} UTC."
    )


async def record_consent(data: ConsentForm) -> dict[str, Any]:
    """The form's values checked against its workspace, then app/policy/consent.py's
    record_event (which refuses the same things again, with nothing stored)."""
    workspace_of = await workspace_of_lead(data.lead)
    if workspace_of != data.workspace:
        raise Conflict(
            f"lead: lead #{data.lead} belongs to workspace #{workspace_of}, "
            f"not to workspace #{data.workspace}"
        )
    captured_at = said_at(data.captured_at)
    return await consent.record_event(
        data.workspace,
        data.lead,
        data.action,
        data.purpose,
        captured_at,
        wording_version=await wording_version(data.workspace, data.wording),
        method=data.method,
        evidence=evidence_object(data.evidence),
    )


def said_at(value: datetime | None) -> datetime:
    """When the person said it: UTC when the form gives no zone; never in the future."""
    now = datetime.now(UTC)
    if value is None:
        return now
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value > now + CLOCK_SKEW:
        raise InvalidValue("captured_at", f"{value:%Y-%m-%d %H:%M} UTC is in the future")
    return value


async def wording_version(workspace_id: int, wording_id: int | None) -> int | None:
    """The version number of the picked wording, which must be of ``workspace_id``."""
    if wording_id is None:
        return None
    row = await current_wording_row(wording_id)
    if row["workspace_id"] != workspace_id:
        raise Conflict(
            f"wording: v{row['version']} (#{wording_id}) belongs to workspace "
            f"#{row['workspace_id']}, not to workspace #{workspace_id}"
        )
    return row["version"]


async def current_wording_row(wording_id: int) -> dict[str, Any]:
    row = (
        await ConsentWording.select(ConsentWording.workspace_id, ConsentWording.version)
        .where(ConsentWording.id == wording_id)
        .first()
    )
    if row is None:
        raise InvalidValue("wording", f"consent wording #{wording_id} does not exist")
    return row


def evidence_object(text: str) -> dict[str, Any]:
    example = 'such as {"ip": "192.0.2.1"}'
    if not text.strip():
        return {}
    value = decoded_json("evidence", text)
    if not isinstance(value, dict):
        raise InvalidValue("evidence", f"must be a JSON object, {example}")
    return value


def form_message(error: DomainError) -> str:
    """The refusal, naming the form's field rather than the domain's."""
    if isinstance(error, InvalidValue):
        return f"{FORM_FIELDS.get(error.field, error.field)}: {error.message}"
    return str(error)


CONSENT_FORMS = [
    operator_form(
        "Record consent",
        ConsentForm,
        record_consent_form,
        "Record, as you, that a lead granted or revoked consent for a purpose. A grant "
        "names the wording version the person was shown and how they said yes. The "
        "ledger is append-only: a correction is a new event.",
        CONSENT_GROUP,
    ),
]
