"""A signed webhook body, read item by item into what the domain needs.

Every item stands alone: a message, a status report or a preference the code can
read becomes a domain object; anything else (an unreadable body, a field the code
does not act on, an item of an unexpected shape, the platform's own error
reports) becomes a ``KeptItem``: the item as a whole webhook body of its own,
with the reason, for the inbox (``webhook_inbox``). Reading it again later runs
the same code, so an upgrade can act on what an older version could not.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from app.enums import DeliveryStatus, MarketingPreference
from app.phone_numbers import normalized_external_id
from app.validation import in_words, problems

OBJECT = "whatsapp_business_account"
# The value's lists of items; everything else in a value is its context.
ITEM_LISTS = ("messages", "statuses", "user_preferences", "user_id_update", "errors")
ROUTED_FIELDS = ("messages", "user_preferences", "user_id_update")
RECORDED_STATUSES = frozenset(status.value for status in DeliveryStatus)
MARKETING_PREFERENCES = frozenset(preference.value for preference in MarketingPreference)


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class Metadata(Lenient):
    display_phone_number: str = ""
    phone_number_id: str = Field(min_length=1, max_length=64)


class Contact(Lenient):
    wa_id: str = ""
    user_id: str = ""
    profile: dict[str, Any] = {}


def _seconds_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# Unix seconds: the platform writes them as a string, or (user_preferences) a number.
UnixSeconds = Annotated[str, BeforeValidator(_seconds_as_text), Field(pattern=r"^\d{1,12}$")]


class Message(Lenient):
    sender: str = Field(alias="from", default="", max_length=255)
    sender_user_id: str = Field(alias="from_user_id", default="", max_length=255)
    id: str = Field(min_length=1, max_length=255)
    timestamp: UnixSeconds
    type: str = Field(min_length=1, max_length=64)


class Status(Lenient):
    id: str = Field(min_length=1, max_length=255)
    status: str
    timestamp: UnixSeconds
    errors: list[dict[str, Any]] = []


class Preference(Lenient):
    wa_id: str = Field(default="", max_length=255)
    user_id: str = Field(default="", max_length=255)
    category: str
    value: str
    timestamp: UnixSeconds


class UserIdChange(Lenient):
    previous: str = Field(min_length=1, max_length=255)
    current: str = Field(min_length=1, max_length=255)


class UserIdUpdateItem(Lenient):
    wa_id: str = Field(default="", max_length=255)
    user_id: UserIdChange
    timestamp: UnixSeconds


class Change(Lenient):
    field: str = Field(min_length=1, max_length=64)
    value: dict[str, Any]


class Entry(Lenient):
    changes: list[dict[str, Any]]


class Envelope(Lenient):
    object: Literal["whatsapp_business_account"]
    entry: list[dict[str, Any]]


class ItemError(ValueError):
    """An item the code cannot read; the message says why."""


@dataclass(frozen=True)
class Person:
    """Who wrote: a phone number (E.164 when it is one), the platform's
    business-scoped user id, or both; at least one of the two."""

    phone: str | None
    user_id: str | None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.phone or self.user_id or "?"


@dataclass(frozen=True)
class Source:
    """Where an item came from: enough to keep it as a webhook body of its own."""

    entry: dict[str, Any]  # the entry without its changes ("id", "time")
    field: str
    context: dict[str, Any]  # the value without its item lists
    key: str | None  # the item list ("messages"), None for a whole value
    item: Any = None

    def body(self) -> str:
        value = dict(self.context)
        if self.key is not None:
            value[self.key] = [self.item]
        return _body(self.entry, self.field, value)


@dataclass(frozen=True)
class InboundMessage:
    """One message a lead sent to a business number."""

    phone_number_id: str
    person: Person
    platform_message_id: str
    sent_at: datetime
    type: str
    content: str
    raw: dict[str, Any]
    source: Source
    # The whole text the lead typed, or the payload and text of the button it tapped:
    # an opt-out word in either means stop.
    answers: tuple[str, ...] = ()
    tapped: bool = False
    # ``system`` user_changed_number: the number the person moved to; it and
    # user_changed_user_id: the person's new user id.
    new_phone: str | None = None
    new_user_id: str | None = None

    @property
    def is_system(self) -> bool:
        return self.type == "system"

    def consent_evidence(self) -> dict[str, Any]:
        """The message as proof of a consent given or taken back by it: its platform
        id, its words, its time (as sent, and read), and the platform's object itself."""
        return {
            "platform_message_id": self.platform_message_id,
            "text": self.content,
            "tapped_button": self.tapped,
            "timestamp": self.raw.get("timestamp"),
            "sent_at": self.sent_at.isoformat(),
            "message": self.raw,
        }


@dataclass(frozen=True)
class StatusUpdate:
    """The platform's report on a message we sent."""

    phone_number_id: str
    platform_message_id: str
    status: DeliveryStatus
    at: datetime
    source: Source
    error_code: int | None = None
    error_title: str | None = None


@dataclass(frozen=True)
class PreferenceUpdate:
    """A person stopped or resumed marketing messages on the platform."""

    phone_number_id: str
    person: Person
    preference: MarketingPreference
    at: datetime
    raw: dict[str, Any]
    source: Source


@dataclass(frozen=True)
class UserIdUpdate:
    """The platform gave a person a new business-scoped user id."""

    phone_number_id: str
    person: Person  # by the previous user id (and the phone number, when shared)
    new_user_id: str
    at: datetime
    source: Source
    new_phone: None = None  # a user id update never moves the number


@dataclass(frozen=True)
class KeptItem:
    """An item the code does not act on, kept with the reason."""

    field: str | None
    phone_number_id: str | None
    reason: str
    body: str

    @classmethod
    def of(cls, source: "Source", reason: str, phone_number_id: str | None) -> "KeptItem":
        """An item (or a whole change) kept as a webhook body of its own."""
        return cls(source.field, phone_number_id, reason, source.body())


@dataclass
class ChangeReading:
    """One change of one routed field: its number and its readable items."""

    phone_number_id: str
    source: Source  # the whole change
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    preferences: list[PreferenceUpdate] = field(default_factory=list)
    user_id_updates: list[UserIdUpdate] = field(default_factory=list)


@dataclass
class Reading:
    changes: list[ChangeReading] = field(default_factory=list)
    kept: list[KeptItem] = field(default_factory=list)

    def keep(self, source: Source, reason: str, phone_number_id: str | None = None) -> None:
        self.kept.append(KeptItem.of(source, reason, phone_number_id))


def _body(entry: dict[str, Any], field_name: str, value: Any) -> str:
    change = {"field": field_name, "value": value}
    return json.dumps({"object": OBJECT, "entry": [{**entry, "changes": [change]}]})


def _why(error: ValidationError) -> str:
    return in_words(problems(error.errors())[:1])


def raw_text(body: bytes) -> str:
    """A body as text a database column holds, whatever its bytes."""
    return body.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def read_payload(body: bytes) -> Reading:
    """Every item of a signed body, read or kept; never raises."""
    reading = Reading()
    try:
        envelope = Envelope.model_validate(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = f"the body is not JSON: {error}"
        reading.kept.append(KeptItem(None, None, reason, raw_text(body)))
        return reading
    except ValidationError as error:
        reason = f"not a WhatsApp Business Account webhook body: {_why(error)}"
        reading.kept.append(KeptItem(None, None, reason, raw_text(body)))
        return reading
    for raw_entry in envelope.entry:
        _read_entry(reading, raw_entry)
    return reading


def _read_entry(reading: Reading, raw_entry: dict[str, Any]) -> None:
    try:
        entry = Entry.model_validate(raw_entry)
    except ValidationError as error:
        text = json.dumps({"object": OBJECT, "entry": [raw_entry]})
        reading.kept.append(KeptItem(None, None, f"an entry without changes: {_why(error)}", text))
        return
    head = {key: item for key, item in raw_entry.items() if key != "changes"}
    for raw_change in entry.changes:
        try:
            change = Change.model_validate(raw_change)
        except ValidationError as error:
            text = json.dumps({"object": OBJECT, "entry": [{**head, "changes": [raw_change]}]})
            reason = f"a change without a field and value: {_why(error)}"
            reading.kept.append(KeptItem(None, None, reason, text))
            continue
        _read_change(reading, head, change)


def _read_change(reading: Reading, entry: dict[str, Any], change: Change) -> None:
    value = change.value
    context = {key: item for key, item in value.items() if key not in ITEM_LISTS}
    whole = Source(entry, change.field, value, None)
    if change.field not in ROUTED_FIELDS:
        reading.keep(whole, f"the webhook field {change.field!r} is not acted on")
        return
    try:
        number = Metadata.model_validate(value.get("metadata")).phone_number_id
    except ValidationError as error:
        reading.keep(whole, f"a {change.field} change without its number: {_why(error)}")
        return
    read = ChangeReading(number, whole)
    people = _people(value.get("contacts"))
    for key in ITEM_LISTS:
        items = value.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            reading.keep(
                Source(entry, change.field, context, key, items), f"{key} is not a list", number
            )
            continue
        for item in items:
            source = Source(entry, change.field, context, key, item)
            try:
                _read_item(read, people, source)
            except (ItemError, ValidationError) as error:
                reason = _why(error) if isinstance(error, ValidationError) else str(error)
                reading.keep(source, f"{_item_name(key)}: {reason}", number)
    reading.changes.append(read)


def _item_name(key: str) -> str:
    names = {"messages": "a message", "statuses": "a status", "errors": "an error"}
    return names.get(key, f"a {key} item")


def _read_item(read: ChangeReading, people: "People", source: Source) -> None:
    if not isinstance(source.item, dict):
        raise ItemError("not a JSON object")
    if source.key == "messages":
        read.messages.append(_message(read.phone_number_id, people, source))
    elif source.key == "statuses":
        status = _status(read.phone_number_id, source)
        if status is not None:
            read.statuses.append(status)
    elif source.key == "user_preferences":
        read.preferences.append(_preference(read.phone_number_id, people, source))
    elif source.key == "user_id_update":
        read.user_id_updates.append(_user_id_update(read.phone_number_id, source))
    else:
        raise ItemError(f"the platform reported {error_text(source.item)}")


def error_text(error: dict[str, Any]) -> str:
    """A platform error in words: "131026 Message undeliverable: details"."""
    title = error.get("title") or error.get("message") or "an error"
    details = (
        error.get("error_data", {}).get("details")
        if isinstance(error.get("error_data"), dict)
        else None
    )
    return " ".join(str(part) for part in (error.get("code"), title) if part) + (
        f": {details}" if details else ""
    )


# --- people -----------------------------------------------------------------------------------


class People:
    """The value's contacts, found by phone number or by user id."""

    def __init__(self, contacts: list[Contact]) -> None:
        self.by_phone = {c.wa_id: c for c in contacts if c.wa_id}
        self.by_user = {c.user_id: c for c in contacts if c.user_id}

    def person(self, phone: str, user_id: str) -> Person:
        contact = self.by_phone.get(phone) if phone else None
        contact = contact or (self.by_user.get(user_id) if user_id else None)
        if contact is not None:
            phone = phone or contact.wa_id
            user_id = user_id or contact.user_id
        if not phone and not user_id:
            raise ItemError("neither a phone number nor a user id says who sent it")
        name = contact.profile.get("name") if contact is not None else None
        return Person(
            phone=normalized_external_id(phone) if phone else None,
            user_id=user_id or None,
            name=name if isinstance(name, str) and name else None,
        )


def _people(raw: Any) -> People:
    contacts = []
    for item in raw if isinstance(raw, list) else []:
        try:
            contacts.append(Contact.model_validate(item))
        except ValidationError:
            continue  # a contact only names people; one that cannot be read names no one
    return People(contacts)


# --- items ------------------------------------------------------------------------------------


def _message(phone_number_id: str, people: People, source: Source) -> InboundMessage:
    raw = source.item
    message = Message.model_validate(raw)
    person = people.person(message.sender, message.sender_user_id)
    answers, tapped = _answers(raw, message.type)
    return InboundMessage(
        phone_number_id=phone_number_id,
        person=person,
        platform_message_id=message.id,
        sent_at=_instant(message.timestamp),
        type=message.type,
        content=content_line(raw),
        raw=raw,
        source=source,
        answers=answers,
        tapped=tapped,
        new_phone=_changed_number(raw),
        new_user_id=_changed_user_id(raw),
    )


def _answers(raw: dict[str, Any], kind: str) -> tuple[tuple[str, ...], bool]:
    """What the lead said in so many words: typed text, or a tapped button."""
    if kind == "text":
        return (_text_body(raw),), False
    if kind == "button":
        return _strings(_field(raw, "button", "payload"), _field(raw, "button", "text")), True
    if kind == "interactive" and _field(raw, "interactive", "type") == "button_reply":
        reply = ("interactive", "button_reply")
        return _strings(_field(raw, *reply, "id"), _field(raw, *reply, "title")), True
    return (), False


def _strings(*values: str) -> tuple[str, ...]:
    return tuple(value for value in values if value)


def _changed_number(raw: dict[str, Any]) -> str | None:
    """A ``system`` user_changed_number's new number, when the platform shares it."""
    if raw.get("type") != "system" or _field(raw, "system", "type") != "user_changed_number":
        return None
    new = _field(raw, "system", "wa_id") or _field(raw, "system", "new_wa_id")
    if not new and not _field(raw, "system", "user_id"):
        raise ItemError("user_changed_number without the new number or user id")
    return normalized_external_id(new) if new else None


def _changed_user_id(raw: dict[str, Any]) -> str | None:
    """A ``system`` message's new user id (user_changed_user_id, user_changed_number)."""
    if raw.get("type") != "system":
        return None
    new = _field(raw, "system", "user_id")
    if not new and _field(raw, "system", "type") == "user_changed_user_id":
        raise ItemError("user_changed_user_id without the new user id (system.user_id)")
    return new[:255] or None


def _user_id_update(phone_number_id: str, source: Source) -> UserIdUpdate:
    update = UserIdUpdateItem.model_validate(source.item)
    phone = normalized_external_id(update.wa_id) if update.wa_id else None
    return UserIdUpdate(
        phone_number_id=phone_number_id,
        person=Person(phone, update.user_id.previous),
        new_user_id=update.user_id.current,
        at=_instant(update.timestamp),
        source=source,
    )


def _status(phone_number_id: str, source: Source) -> StatusUpdate | None:
    status = Status.model_validate(source.item)
    if status.status not in RECORDED_STATUSES:
        raise ItemError(f"the status {status.status!r} is not one this code records")
    error = status.errors[0] if status.errors and isinstance(status.errors[0], dict) else {}
    code = error.get("code")
    title = error.get("title") or error.get("message")
    return StatusUpdate(
        phone_number_id=phone_number_id,
        platform_message_id=status.id,
        status=DeliveryStatus(status.status),
        at=_instant(status.timestamp),
        source=source,
        error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        error_title=title[:255] if isinstance(title, str) and title else None,
    )


def _preference(phone_number_id: str, people: People, source: Source) -> PreferenceUpdate:
    preference = Preference.model_validate(source.item)
    if preference.category != "marketing_messages":
        raise ItemError(f"the preference category {preference.category!r} is not acted on")
    if preference.value not in MARKETING_PREFERENCES:
        raise ItemError(f"the marketing preference {preference.value!r} is not stop or resume")
    return PreferenceUpdate(
        phone_number_id=phone_number_id,
        person=people.person(preference.wa_id, preference.user_id),
        preference=MarketingPreference(preference.value),
        at=_instant(preference.timestamp),
        raw=source.item,
        source=source,
    )


def _instant(unix_seconds: str) -> datetime:
    return datetime.fromtimestamp(int(unix_seconds), tz=UTC)


def _text_body(raw: dict[str, Any]) -> str:
    body = _nested(raw, "text", "body")
    if not isinstance(body, str):
        raise ItemError("a text message without text.body")
    return body


def _nested(raw: Any, *path: str) -> Any:
    value = raw
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _field(raw: dict[str, Any], *path: str) -> str:
    """A nested string field, or empty."""
    value = _nested(raw, *path)
    return value if isinstance(value, str) else ""


# --- content lines ----------------------------------------------------------------------------


def content_line(raw: dict[str, Any]) -> str:
    """A readable line for any message type; text messages are their text."""
    kind = str(raw.get("type", "unknown"))
    if kind == "text":
        return _text_body(raw)
    reader = CONTENT.get(kind)
    detail = reader(raw) if reader is not None else ""
    return f"[{kind}] {detail}".rstrip()


def _media(raw: dict[str, Any]) -> str:
    kind = str(raw.get("type"))
    return _field(raw, kind, "caption") or _field(raw, kind, "filename")


def _location(raw: dict[str, Any]) -> str:
    place = " ".join(
        filter(None, (_field(raw, "location", "name"), _field(raw, "location", "address")))
    )
    location = _nested(raw, "location") or {}
    return place or f"{location.get('latitude')},{location.get('longitude')}"


def _interactive(raw: dict[str, Any]) -> str:
    kind = _field(raw, "interactive", "type")
    if kind == "nfm_reply":
        return _flow_reply(_nested(raw, "interactive", "nfm_reply") or {})
    return _field(raw, "interactive", "button_reply", "title") or _field(
        raw, "interactive", "list_reply", "title"
    )


def _flow_reply(reply: dict[str, Any]) -> str:
    """A Flows reply: its answers ("name: value"), without the flow token."""
    try:
        answers = json.loads(reply.get("response_json") or "{}")
    except (TypeError, json.JSONDecodeError):
        answers = {}
    shown = [
        f"{key}: {_answer(value)}"
        for key, value in (answers.items() if isinstance(answers, dict) else [])
        if key != "flow_token"
    ]
    title = reply.get("body") if isinstance(reply.get("body"), str) else ""
    return "; ".join(filter(None, [title, *shown]))


def _answer(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_answer(item) for item in value)
    return value if isinstance(value, str) else json.dumps(value)


def _order(raw: dict[str, Any]) -> str:
    """An order: each item (quantity x product, price), then the lead's note."""
    order = _nested(raw, "order") or {}
    items = order.get("product_items") if isinstance(order.get("product_items"), list) else []
    lines = [_order_item(item) for item in items if isinstance(item, dict)]
    note = order.get("text") if isinstance(order.get("text"), str) else ""
    return "; ".join(filter(None, [*lines, note and f"note: {note}"]))


def _order_item(item: dict[str, Any]) -> str:
    product = item.get("product_retailer_id", "?")
    price = " ".join(
        str(p) for p in (item.get("item_price"), item.get("currency")) if p is not None
    )
    return f"{item.get('quantity', 1)} x {product}" + (f" at {price}" if price else "")


def _reaction(raw: dict[str, Any]) -> str:
    return _field(raw, "reaction", "emoji")


def _contacts(raw: dict[str, Any]) -> str:
    contacts = raw.get("contacts") if isinstance(raw.get("contacts"), list) else []
    return ", ".join(_field(c, "name", "formatted_name") for c in contacts)


CONTENT = {
    "image": _media,
    "video": _media,
    "audio": _media,
    "sticker": _media,
    "document": _media,
    "location": _location,
    "interactive": _interactive,
    "button": lambda raw: _field(raw, "button", "text"),
    "reaction": _reaction,
    "contacts": _contacts,
    "order": _order,
    "system": lambda raw: _field(raw, "system", "body"),
}
