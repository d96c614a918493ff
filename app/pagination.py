"""Opaque keyset cursors: the sort key of the last row a page returned."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from app.errors import InvalidValue
from app.tables import MAX_ID

MAX_PAGE_SIZE = 200
# A page's size when the caller names none.
DEFAULT_PAGE_SIZE = 50


# A cursor is the sort key of the last row a page returned, written so that the
# OpenAPI schema can state its exact form: every string matching the pattern is a
# cursor the server reads. Ids are 1-9 digits; instants are microseconds since
# 1970-01-01 UTC (1-16 digits), before the id.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_CURSOR_PATTERN = r"^[0-9]{1,9}$"
TIME_CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9]{1,9}$"
MICROSECOND = timedelta(microseconds=1)
# Before (after) every (instant, id) key: the first page of a newest-first
# (oldest-first) list.
NEWEST = (datetime(9999, 12, 31, tzinfo=UTC), MAX_ID)
OLDEST = (datetime(1, 1, 1, tzinfo=UTC), 0)


def encode_cursor(*key: Any) -> str:
    """A cursor for the row with this sort key (an id, or an instant and an id)."""
    return "-".join(
        str((value - EPOCH) // MICROSECOND) if isinstance(value, datetime) else str(value)
        for value in key
    )


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The sort key a cursor carries, checked against the expected types."""
    pattern = TIME_CURSOR_PATTERN if datetime in types else ID_CURSOR_PATTERN
    if not re.fullmatch(pattern.strip("^$"), cursor):
        raise InvalidValue("cursor", "is not a cursor this endpoint returned")
    return tuple(
        EPOCH + int(part) * MICROSECOND if kind is datetime else kind(part)
        for part, kind in zip(cursor.split("-"), types, strict=True)
    )


class PageFilter:
    """The ``WHERE`` clause of one workspace's page: conditions written with ``{}``
    placeholders, and their arguments in the same order."""

    def __init__(self, workspace_id: int) -> None:
        self.conditions = ["workspace_id = {}"]
        self.arguments: list[Any] = [workspace_id]

    def add(self, condition: str, *arguments: Any) -> None:
        """One more condition, with the arguments of its placeholders."""
        self.conditions.append(condition)
        self.arguments.extend(arguments)

    def where(self) -> str:
        """The conditions joined, for after ``WHERE``."""
        return " AND ".join(self.conditions)
