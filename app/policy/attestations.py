"""Outreach attestations: an operator's record that outreach is (or is not) allowed."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.db.executor import fetch
from app.errors import InvalidValue, NotFound
from app.pagination import NEWEST
from app.tables import Workspace


@dataclass(frozen=True)
class Attestation:
    """One recorded attestation."""

    id: int
    workspace_id: int
    operator_id: str
    granted: bool
    timestamp: datetime

    @property
    def message(self) -> str:
        verdict = "granted" if self.granted else "withdrawn"
        return f"Outreach {verdict} for workspace {self.workspace_id} by {self.operator_id}."


async def record_attestation(
    workspace_id: int, operator_id: str, granted: bool = True
) -> Attestation:
    """Append an attestation for the workspace; history is never rewritten."""
    if not operator_id.strip():
        raise InvalidValue("operator_id", "must name the operator")
    if not await Workspace.exists().where(Workspace.id == workspace_id):
        raise NotFound(f"workspace {workspace_id} does not exist")
    rows = await fetch(
        "INSERT INTO outreach_attestation (workspace_id, operator_id, granted) "
        'VALUES ({}, {}, {}) RETURNING id, workspace_id, operator_id, granted, "timestamp"',
        workspace_id,
        operator_id,
        granted,
    )
    return Attestation(**rows[0])


ATTESTATION_COLUMNS = 'id, workspace_id, operator_id, "timestamp", granted'
ATTESTATION_PAGE = (
    f"SELECT {ATTESTATION_COLUMNS} FROM outreach_attestation "
    'WHERE workspace_id = {} AND ("timestamp", id) < ({}, {}) '
    'ORDER BY "timestamp" DESC, id DESC LIMIT {}'
)


async def attestation_page(
    workspace_id: int, before: tuple[datetime, int] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Attestations newest first, older than the cursor (timestamp, id)."""
    stamp, attestation_id = before or NEWEST
    return await fetch(ATTESTATION_PAGE, workspace_id, stamp, attestation_id, limit)


async def current_attestation(workspace_id: int) -> dict[str, Any] | None:
    """The latest attestation: it decides whether outreach is granted."""
    rows = await attestation_page(workspace_id, limit=1)
    return rows[0] if rows else None
