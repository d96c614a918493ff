"""The WhatsApp webhook (no bearer token: Meta signs the body instead) and the
workspace's business numbers."""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from app.api.auth import WorkspaceToRead
from app.api.parameters import ERRORS as API_ERRORS
from app.api.schemas import ErrorBody
from app.change_log import Actor, name_actor
from app.enums import ChangeActorKind
from app.metrics import WEBHOOK_MESSAGES, WEBHOOK_SIGNATURE_FAILURES, WEBHOOK_STATUSES
from app.settings import ConfigurationError, WhatsAppSettings, settings
from app.tables import WhatsAppNumber
from app.whatsapp import inbound
from app.whatsapp.payload import read_payload
from app.whatsapp.signature import same_secret, signed_by

WEBHOOK_ACTOR = Actor(ChangeActorKind.WEBHOOK, "WhatsApp")
WEBHOOK_PATH = "/integrations/whatsapp/webhook"
log = logging.getLogger("masterplan.whatsapp")


def whatsapp_settings() -> WhatsAppSettings:
    """The Meta app's secrets; 503 with the reason while WhatsApp is off."""
    try:
        whatsapp = settings().whatsapp
    except ConfigurationError as error:
        raise HTTPException(status_code=503, detail=str(error.code)) from None
    if whatsapp is None:
        raise HTTPException(
            status_code=503,
            detail="WhatsApp is off: set WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN",
        )
    return whatsapp


WhatsApp = Annotated[WhatsAppSettings, Depends(whatsapp_settings)]
ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 413, 422, 503)}
ERROR_BODY_REF = "#/components/schemas/ErrorBody"

router = APIRouter(tags=["whatsapp"], responses=ERRORS)


@router.get(
    WEBHOOK_PATH,
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **{
            status: {"content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}}
            for status in (400, 401, 403, 413, 422, 503)
        },
    },
)
async def verify_subscription(
    whatsapp: WhatsApp,
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=100)] = None,
    verify_token: Annotated[str | None, Query(alias="hub.verify_token", max_length=500)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=500)] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: the challenge back when the token matches."""
    if mode != "subscribe" or not same_secret(verify_token, whatsapp.verify_token):
        raise HTTPException(status_code=403, detail="the verify token does not match")
    return PlainTextResponse(challenge or "")


class WebhookReceipt(BaseModel):
    stored: int = Field(description="messages stored")
    duplicates: int = Field(description="messages stored by an earlier delivery")
    statuses: int = Field(description="our messages whose delivery status changed")
    preferences: int = Field(description="marketing preferences recorded")
    consent_events: int = Field(
        description="consent grants and revocations recorded from opt-in and opt-out words"
    )
    kept: int = Field(description="items kept in the webhook inbox: not acted on, with why")
    unknown_numbers: list[str] = Field(description="phone_number_ids no workspace has")


@router.post(WEBHOOK_PATH, response_model=WebhookReceipt)
async def receive_webhook(request: Request, whatsapp: WhatsApp) -> WebhookReceipt:
    """Messages, status reports and preferences from Meta, signed with
    X-Hub-Signature-256. A signed body is acknowledged whatever its shape: what
    cannot be acted on is kept in the webhook inbox with the reason (Meta retries
    anything else). Answered after the transaction commits: acknowledged means stored."""
    body = await request.body()
    if not signed_by(body, request.headers.get("x-hub-signature-256"), whatsapp.app_secrets):
        WEBHOOK_SIGNATURE_FAILURES.inc()
        raise HTTPException(status_code=401, detail="X-Hub-Signature-256 is missing or wrong")
    await name_actor(WEBHOOK_ACTOR)
    receipt = await inbound.receive(read_payload(body))
    count_receipt(receipt)
    return WebhookReceipt(**receipt.__dict__)


def count_receipt(receipt: inbound.Receipt) -> None:
    """A delivery's messages and statuses, in the webhook metrics (app/metrics.py)."""
    for outcome, count in (("stored", receipt.stored), ("duplicate", receipt.duplicates)):
        if count:
            WEBHOOK_MESSAGES.labels(outcome).inc(count)
    if receipt.statuses:
        WEBHOOK_STATUSES.inc(receipt.statuses)


class WhatsAppNumberOut(BaseModel):
    id: int
    phone_number_id: str
    display_phone_number: str


numbers = APIRouter(tags=["whatsapp"], responses=API_ERRORS)


@numbers.get("/integrations/whatsapp/numbers", response_model=list[WhatsAppNumberOut])
async def list_numbers(workspace_id: WorkspaceToRead) -> list:
    """The token's workspace's numbers (managed in the admin)."""
    return (
        await WhatsAppNumber.select(
            WhatsAppNumber.id,
            WhatsAppNumber.phone_number_id,
            WhatsAppNumber.display_phone_number,
        )
        .where(WhatsAppNumber.workspace_id == workspace_id)
        .order_by(WhatsAppNumber.id)
    )
