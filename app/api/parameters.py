"""What the routes share: path and query parameters, the documented error
responses, and the fields a body actually sent."""

from typing import Annotated, Any

from fastapi import Path, Query

from app.api.schemas import ErrorBody
from app.pagination import ID_CURSOR_PATTERN, MAX_PAGE_SIZE, TIME_CURSOR_PATTERN
from app.tables import MAX_ID

RowId = Annotated[int, Path(gt=0, le=MAX_ID)]
ExternalId = Annotated[str, Path(min_length=1, max_length=255)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
IdCursor = Annotated[
    str | None, Query(pattern=ID_CURSOR_PATTERN, description="next_cursor of the previous page")
]
TimeCursor = Annotated[
    str | None, Query(pattern=TIME_CURSOR_PATTERN, description="next_cursor of the previous page")
]
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 404, 409, 413, 422, 503)
}


def fields_of(body: Any) -> dict[str, Any]:
    """The fields a request actually sent (absent ones stay as they are)."""
    return body.model_dump(exclude_unset=True)
