"""Field rules checked before the database, with readable messages.

The database enforces the same shapes (see the migrations); these functions say
what is wrong in words and normalise the value.
"""

import json
import string
import zoneinfo
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from app.enums import (
    FOLLOW_UP_STAGES,
    INTERVAL_OVERRIDE_HOURS,
    INTERVAL_OVERRIDE_MAX_HOURS,
    INTERVAL_OVERRIDE_MIN_HOURS,
    LeadTag,
)
from app.errors import InvalidValue


@cache
def _timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_name(field: str, value: Any) -> str:
    """An IANA timezone name such as ``Europe/Lisbon`` or ``UTC``."""
    if not isinstance(value, str) or value not in _timezone_names():
        raise InvalidValue(
            field, f"{value!r} is not an IANA timezone name (for example 'Europe/Lisbon', 'UTC')"
        )
    return value


def stored_json(value: Any) -> Any:
    """A JSON value that may come as JSON text (jsonb columns read through asyncpg,
    JSON fields of the admin's forms), decoded; anything else as it is. The one JSON
    text decoder of the domain: callers choose what a malformed text means."""
    return json.loads(value) if isinstance(value, str) else value


def decoded_json(field: str, value: Any) -> Any:
    """``stored_json``, or the field's InvalidValue when the text is not JSON."""
    try:
        return stored_json(value)
    except json.JSONDecodeError:
        raise InvalidValue(field, f"{value!r} is not valid JSON") from None


def lead_tags(field: str, value: Any) -> list[str]:
    """A list of distinct LeadTag values."""
    tags = decoded_json(field, value)
    allowed = [tag.value for tag in LeadTag]
    if not isinstance(tags, list):
        raise InvalidValue(field, f"must be a list of tags from {allowed}")
    unknown = [tag for tag in tags if tag not in allowed]
    if unknown:
        raise InvalidValue(field, f"unknown tags {unknown}; allowed: {allowed}")
    duplicates = sorted({tag for tag in tags if tags.count(tag) > 1})
    if duplicates:
        raise InvalidValue(field, f"tags appear more than once: {duplicates}")
    return tags


def interval_overrides(field: str, value: Any) -> dict[str, int] | None:
    """Null, or {follow-up stage: whole hours} within the documented bounds."""
    overrides = decoded_json(field, value)
    if overrides is None:
        return None
    stages = [stage.value for stage in FOLLOW_UP_STAGES]
    bounds = INTERVAL_OVERRIDE_HOURS
    if not isinstance(overrides, dict):
        raise InvalidValue(field, 'must be an object such as {"CONTACTED": 48} or null')
    for stage, hours in overrides.items():
        if stage not in stages:
            raise InvalidValue(field, f"{stage!r} is not a follow-up stage; use one of {stages}")
        if isinstance(hours, bool) or not isinstance(hours, int):
            raise InvalidValue(field, f"{stage}: hours must be a whole number ({bounds})")
        if not INTERVAL_OVERRIDE_MIN_HOURS <= hours <= INTERVAL_OVERRIDE_MAX_HOURS:
            raise InvalidValue(field, f"{stage}: {hours} hours is outside {bounds}")
    return overrides


# A workspace's opt-out and opt-in words: whole messages that opt a lead out (or in).
MAX_REPLY_WORDS = 50
MAX_REPLY_WORD_LENGTH = 64
REPLY_WORD_IGNORED = string.whitespace + string.punctuation


def reply_word(text: str) -> str:
    """A word as a lead's whole message is compared with it (app/whatsapp/inbound.py):
    any case, surrounding spaces and punctuation ignored."""
    return text.strip(REPLY_WORD_IGNORED).casefold()


def reply_words(field: str, value: Any) -> list[str]:
    """A list of at most MAX_REPLY_WORDS words, each with a letter or digit and at most
    MAX_REPLY_WORD_LENGTH characters, distinct as a message is compared with them."""
    words = decoded_json(field, value)
    if not isinstance(words, list):
        raise InvalidValue(field, 'must be a list of words such as ["STOP", "UNSUBSCRIBE"]')
    if len(words) > MAX_REPLY_WORDS:
        raise InvalidValue(field, f"at most {MAX_REPLY_WORDS} words")
    for word in words:
        if not isinstance(word, str) or not reply_word(word):
            raise InvalidValue(field, f"{word!r} is not a word with a letter or digit")
        if len(word) > MAX_REPLY_WORD_LENGTH:
            raise InvalidValue(field, f"{word!r} is longer than {MAX_REPLY_WORD_LENGTH} characters")
    read = [reply_word(word) for word in words]
    twice = sorted({word for word in words if read.count(reply_word(word)) > 1})
    if twice:
        raise InvalidValue(field, f"words appear more than once (in any case): {twice}")
    return words


def words_in_both(opt_in_words: Any, opt_out_words: Any) -> list[str]:
    """The opt-in words that are also opt-out words (as a message is compared)."""
    opting_in, opting_out = stored_json(opt_in_words), stored_json(opt_out_words)
    if not isinstance(opting_in, list) or not isinstance(opting_out, list):
        return []  # refused by the fields' own rule
    read_out = {reply_word(word) for word in opting_out if isinstance(word, str)}
    return [word for word in opting_in if isinstance(word, str) and reply_word(word) in read_out]


# Where FastAPI says a value was read, first in its location: not part of the name.
SOURCES = frozenset({"body", "query", "path", "header"})


def problems(errors: Iterable[Mapping[str, Any]], unnamed: str = "body") -> list[tuple[str, str]]:
    """A pydantic ``ValidationError``'s ``errors()`` as (field, message) pairs: the
    field is the dotted location without its source, or ``unnamed``."""
    return [(_field_name(error["loc"]) or unnamed, error["msg"]) for error in errors]


def _field_name(location: tuple) -> str:
    parts = location[1:] if location and location[0] in SOURCES else location
    return ".".join(str(part) for part in parts)


def in_words(pairs: Iterable[tuple[str, str]]) -> str:
    """``field: message; field: message``."""
    return "; ".join(f"{field}: {message}" for field, message in pairs)
