"""Opaque keyset cursors: the sort key of the last row a page returned."""

import base64
import json
from datetime import datetime
from typing import Any

from app.errors import InvalidValue

MAX_PAGE_SIZE = 200


def encode_cursor(*key: Any) -> str:
    """A cursor for the row with this sort key."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The sort key a cursor carries, checked against the expected types."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        return tuple(
            datetime.fromisoformat(value) if kind is datetime else kind(value)
            for value, kind in zip(values, types, strict=True)
        )
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidValue("cursor", "is not a cursor this endpoint returned") from None


def page_size(limit: int) -> int:
    """A bounded page size."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidValue("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
    return limit
