"""The webhook payload, read into what the domain needs; anything else the
platform sent is kept with the message, as sent."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.enums import DeliveryStatus
from app.validation import in_words, problems


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class Metadata(Lenient):
    display_phone_number: str = ""
    phone_number_id: str = Field(min_length=1)


class Profile(Lenient):
    name: str | None = None


class Contact(Lenient):
    wa_id: str = Field(min_length=1)
    profile: Profile = Profile()


class Message(Lenient):
    sender: str = Field(alias="from", min_length=1)
    id: str = Field(min_length=1, max_length=255)
    timestamp: str = Field(pattern=r"^\d{1,12}$")
    type: str = Field(min_length=1)


class Status(Lenient):
    id: str = Field(min_length=1, max_length=255)
    status: str
    timestamp: str = Field(pattern=r"^\d{1,12}$")


class Value(Lenient):
    metadata: Metadata
    contacts: list[Contact] = []
    messages: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []


class Change(Lenient):
    field: str
    value: dict[str, Any]


class Entry(Lenient):
    id: str
    changes: list[Change]


class Envelope(Lenient):
    object: Literal["whatsapp_business_account"]
    entry: list[Entry]


@dataclass(frozen=True)
class InboundMessage:
    """One message a lead sent to a business number."""

    phone_number_id: str
    sender: str
    sender_name: str | None
    platform_message_id: str
    sent_at: datetime
    type: str
    text: str | None  # the whole text of a text message (opt-out words are read here)
    content: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class StatusUpdate:
    """The platform's report on a message we sent."""

    phone_number_id: str
    platform_message_id: str
    status: DeliveryStatus
    at: datetime


class PayloadError(ValueError):
    """The body is signed but is not the platform's webhook shape."""


def read_payload(document: Any) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """Messages and status reports of every ``messages`` change, in order."""
    try:
        envelope = Envelope.model_validate(document)
        messages, statuses = [], []
        for entry in envelope.entry:
            for change in entry.changes:
                if change.field != "messages":
                    continue
                value = Value.model_validate(change.value)
                messages += _messages(value)
                statuses += _statuses(value)
    except ValidationError as error:
        first = in_words(problems(error.errors())[:1])
        raise PayloadError(f"not a WhatsApp webhook payload: {first}") from None
    return messages, statuses


def _messages(value: Value) -> list[InboundMessage]:
    names = {contact.wa_id: contact.profile.name for contact in value.contacts}
    found = []
    for raw in value.messages:
        message = Message.model_validate(raw)
        found.append(
            InboundMessage(
                phone_number_id=value.metadata.phone_number_id,
                sender=message.sender,
                sender_name=(names.get(message.sender) or None),
                platform_message_id=message.id,
                sent_at=_instant(message.timestamp),
                type=message.type,
                text=_text_body(raw) if message.type == "text" else None,
                content=content_line(raw),
                raw=raw,
            )
        )
    return found


def _statuses(value: Value) -> list[StatusUpdate]:
    known = {status.value for status in DeliveryStatus}
    found = []
    for raw in value.statuses:
        status = Status.model_validate(raw)
        if status.status in known:
            found.append(
                StatusUpdate(
                    phone_number_id=value.metadata.phone_number_id,
                    platform_message_id=status.id,
                    status=DeliveryStatus(status.status),
                    at=_instant(status.timestamp),
                )
            )
    return found


def _instant(unix_seconds: str) -> datetime:
    return datetime.fromtimestamp(int(unix_seconds), tz=UTC)


def _text_body(raw: dict[str, Any]) -> str:
    text = raw.get("text")
    body = text.get("body") if isinstance(text, dict) else None
    if not isinstance(body, str):
        raise PayloadError("not a WhatsApp webhook payload: a text message without text.body")
    return body


def _field(raw: dict[str, Any], *path: str) -> str:
    """A nested string field, or empty."""
    value: Any = raw
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def content_line(raw: dict[str, Any]) -> str:
    """A readable line for any message type; text messages are their text."""
    kind = str(raw.get("type", "unknown"))
    if kind == "text":
        return _text_body(raw)
    if kind in ("image", "video", "audio", "sticker", "document"):
        detail = _field(raw, kind, "caption") or _field(raw, kind, "filename")
    elif kind == "location":
        place = " ".join(filter(None, (_field(raw, kind, "name"), _field(raw, kind, "address"))))
        location = raw.get("location") if isinstance(raw.get("location"), dict) else {}
        detail = place or f"{location.get('latitude')},{location.get('longitude')}"
    elif kind == "interactive":
        detail = _field(raw, kind, "button_reply", "title") or _field(
            raw, kind, "list_reply", "title"
        )
    elif kind == "button":
        detail = _field(raw, "button", "text")
    elif kind == "reaction":
        detail = _field(raw, "reaction", "emoji")
    elif kind == "contacts":
        contacts = raw.get("contacts") if isinstance(raw.get("contacts"), list) else []
        detail = ", ".join(_field(c, "name", "formatted_name") for c in contacts)
    else:
        detail = ""
    return f"[{kind}] {detail}".rstrip()
