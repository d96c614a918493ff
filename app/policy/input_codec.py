"""``PolicyInputs`` to and from its two outside forms, derived from its fields once.

- a **row** of the loading statement (``engine.LOAD_INPUTS``), whose columns are named
  after the fields: JSONB columns come as JSON text, an ACTIVE strategy as a JSON
  object, the lead's number as its external id (read by app/phone_numbers.py);
- the **JSON** of a rule trace (``trace.rule_trace``), which is how a decision
  replays: instants and dates in ISO 8601, wall times as ``HH:MM``, enums by value,
  tuples as arrays, the dataclasses (``ActiveStrategy``, ``LeadNumber``) as objects.

Each field's converter is chosen by its type, once. A trace written before a field
existed replays with the field's default. Adding an input touches ``PolicyInputs``
and the loading statement, nothing here.
"""

import json
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields, is_dataclass
from datetime import date, datetime, time
from enum import Enum
from functools import cache, lru_cache
from typing import Any

from app.phone_numbers import LeadNumber, lead_number
from app.policy.rules import PolicyInputs

Convert = Callable[[Any], Any]


def _optional(hint: Any) -> Any:
    """``X`` of ``X | None``, or None when ``hint`` is not optional."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return others[0] if len(others) == 1 else None
    return None


def _reader(hint: Any) -> Convert:
    """JSON (or a loaded column) to a value of ``hint``."""
    inner = _optional(hint)
    if inner is not None:
        read = _reader(inner)
        return lambda value: None if value is None else read(value)
    if typing.get_origin(hint) is tuple:
        item = _reader(typing.get_args(hint)[0])
        return _cached(lambda value: tuple(item(each) for each in _parsed(value)))
    if hint is LeadNumber:
        # A loaded row names the lead's id; a trace, what its number said.
        return lambda value: (
            lead_number(value) if isinstance(value, str) else _record(LeadNumber, value)
        )
    if is_dataclass(hint):
        return _cached(lambda value: _record(hint, _parsed(value)))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if hint is datetime:
        return lambda value: value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if hint is time:
        return lambda value: value if isinstance(value, time) else time.fromisoformat(value)
    if hint is date:
        return lambda value: value if isinstance(value, date) else date.fromisoformat(value)
    if typing.get_origin(hint) is dict:
        return lambda value: value if value is None else dict(_parsed(value))
    return lambda value: value


def _parsed(value: Any) -> Any:
    """A JSONB column comes as JSON text."""
    return json.loads(value) if isinstance(value, str) else value


def _cached(read: Convert) -> Convert:
    """Rows of one batch repeat the workspace's JSON (and most tag lists): each text is
    read once."""
    cached = lru_cache(maxsize=1024)(read)
    return lambda value: cached(value) if isinstance(value, str) else read(value)


def _writer(hint: Any) -> Convert:
    """A value of ``hint`` to JSON."""
    inner = _optional(hint)
    if inner is not None:
        write = _writer(inner)
        return lambda value: None if value is None else write(value)
    if typing.get_origin(hint) is tuple:
        item = _writer(typing.get_args(hint)[0])
        return lambda value: [item(each) for each in value]
    if is_dataclass(hint):
        parts = _fields_of(hint, _writer)
        return lambda value: {name: write(getattr(value, name)) for name, write in parts}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return lambda value: value.value
    if hint is datetime or hint is date:
        return lambda value: value.isoformat()
    if hint is time:
        return lambda value: value.strftime("%H:%M")
    return lambda value: value


def _fields_of(cls: type, make: Callable[[Any], Convert]) -> list[tuple[str, Convert]]:
    hints = typing.get_type_hints(cls)
    return [(field.name, make(hints[field.name])) for field in fields(cls)]


def _record(cls: type, data: dict[str, Any]) -> Any:
    """A dataclass from its JSON object; a field it lacks takes its default."""
    readers, values = _readers_of(cls), {}
    for field in fields(cls):
        if field.name in data:
            values[field.name] = readers[field.name](data[field.name])
        elif field.default is MISSING and field.default_factory is MISSING:
            raise KeyError(f"{cls.__name__}.{field.name} is missing")
    return cls(**values)


@cache
def _readers_of(cls: type) -> dict[str, Convert]:
    return dict(_fields_of(cls, _reader))


INPUT_WRITERS = _fields_of(PolicyInputs, _writer)
INPUT_NAMES = tuple(name for name, _ in INPUT_WRITERS)


def inputs_to_json(inputs: PolicyInputs) -> dict[str, Any]:
    """The inputs as the rule trace records them."""
    return {name: write(getattr(inputs, name)) for name, write in INPUT_WRITERS}


def inputs_from_json(data: dict[str, Any]) -> PolicyInputs:
    """The inputs a recorded trace holds."""
    return _record(PolicyInputs, data)


def inputs_from_row(row: Any, **given: Any) -> PolicyInputs:
    """The inputs of a loaded row, whose columns are named after the fields;
    ``given`` are the fields the caller knows (the kind of send)."""
    readers = _readers_of(PolicyInputs)
    values = dict(given)
    for name in INPUT_NAMES:
        if name not in values:
            values[name] = readers[name](row[name])
    return PolicyInputs(**values)
