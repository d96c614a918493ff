"""Field rules checked before the database, with readable messages.

The database enforces the same shapes (see the migrations); these functions say
what is wrong in words and normalise the value.
"""

import json
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
