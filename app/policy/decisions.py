"""Policy decisions: the append-only record of whether a send was allowed, and why.

Only the policy engine (app/policy/engine.py) records them."""

from datetime import datetime
from typing import Any

from app.db.executor import fetch
from app.pagination import OLDEST, PageFilter

DECISION_COLUMNS = (
    "id, workspace_id, lead_id, kind, allow_send, reason_code, message_format, "
    "next_allowed_at, summary, rule_trace, created_at"
)


async def decision_page(
    workspace_id: int,
    lead_id: int | None = None,
    since: datetime | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Decisions oldest first from ``since``, after the cursor (created_at, id)."""
    sql, arguments = decision_page_query(workspace_id, lead_id, since, after, limit)
    return await fetch(sql, *arguments)


def decision_page_query(
    workspace_id: int,
    lead_id: int | None,
    since: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The statement of a decision page and its arguments."""
    page = PageFilter(workspace_id)
    if lead_id is not None:
        page.add("lead_id = {}", lead_id)
    if since is not None:
        page.add("created_at >= {}", since)
    page.add("(created_at, id) > ({}, {})", *(after or OLDEST))
    sql = (
        f"SELECT {DECISION_COLUMNS} FROM policy_decision WHERE {page.where()} "
        "ORDER BY created_at, id LIMIT {}"
    )
    return sql, [*page.arguments, limit]
