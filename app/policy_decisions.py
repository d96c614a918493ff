"""Policy decisions: the append-only record of whether a send was allowed, and why."""

import json
from datetime import UTC, datetime
from typing import Any

from app.errors import InvalidValue, NotFound
from app.tables import PolicyDecision

DECISION_COLUMNS = (
    "id, workspace_id, lead_id, allow_send, reason_code, rule_trace, next_allowed_at, created_at"
)

RECORD_DECISION = f"""
INSERT INTO policy_decision (workspace_id, lead_id, allow_send, reason_code, rule_trace,
                             next_allowed_at)
SELECT workspace_id, id, {{}}, {{}}, {{}}::jsonb, {{}} FROM lead
WHERE id = {{}} AND workspace_id = {{}}
RETURNING {DECISION_COLUMNS}
"""


async def record_decision(
    workspace_id: int,
    lead_id: int,
    allow_send: bool,
    reason_code: str,
    rule_trace: dict[str, Any],
    next_allowed_at: datetime | None = None,
) -> dict[str, Any]:
    """Append a decision about one of the workspace's leads (one statement)."""
    if not reason_code.strip():
        raise InvalidValue("reason_code", "must not be blank")
    rows = await PolicyDecision.raw(
        RECORD_DECISION,
        allow_send,
        reason_code,
        json.dumps(rule_trace),
        next_allowed_at,
        lead_id,
        workspace_id,
    )
    if not rows:
        raise NotFound(f"lead {lead_id} does not exist")
    return rows[0]


async def decision_page(
    workspace_id: int,
    lead_id: int | None = None,
    since: datetime | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Decisions oldest first from ``since``, after the cursor (created_at, id)."""
    conditions, arguments = ["workspace_id = {}"], [workspace_id]
    if lead_id is not None:
        conditions.append("lead_id = {}")
        arguments.append(lead_id)
    if since is not None:
        conditions.append("created_at >= {}")
        arguments.append(since)
    created_at, decision_id = after or (datetime(1, 1, 1, tzinfo=UTC), 0)
    conditions.append("(created_at, id) > ({}, {})")
    arguments += [created_at, decision_id]
    return await PolicyDecision.raw(
        f"SELECT {DECISION_COLUMNS} FROM policy_decision WHERE {' AND '.join(conditions)} "
        "ORDER BY created_at, id LIMIT {}",
        *arguments,
        limit,
    )
