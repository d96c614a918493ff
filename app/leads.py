"""Lead actions an operator or the outreach engine takes: suppress, take over, release.

Each is one conditional UPDATE scoped to the workspace, so concurrent callers
cannot interleave: the row's state decides, not the caller's earlier read.
"""

from dataclasses import dataclass

from app.enums import LeadStage
from app.errors import Conflict, NotFound
from app.tables import Lead


@dataclass(frozen=True)
class LeadStageChange:
    """A lead's stage before and after an action."""

    lead_id: int
    external_id: str
    stage_before: LeadStage
    stage_after: LeadStage

    @property
    def changed(self) -> bool:
        return self.stage_before != self.stage_after

    @property
    def message(self) -> str:
        if not self.changed:
            return f"Lead {self.external_id} was already {self.stage_after}; nothing changed."
        return f"Lead {self.external_id}: {self.stage_before} -> {self.stage_after}."


async def find_lead(workspace_id: int, external_id: str) -> int:
    """The id of the workspace's lead with this external id."""
    rows = await Lead.raw(
        "SELECT id FROM lead WHERE workspace_id = {} AND external_id = {}",
        workspace_id,
        external_id.strip(),
    )
    if not rows:
        raise NotFound(f"workspace {workspace_id} has no lead {external_id.strip()!r}")
    return rows[0]["id"]


async def _current(workspace_id: int, lead_id: int) -> dict:
    rows = await Lead.raw(
        "SELECT id, external_id, stage FROM lead WHERE id = {} AND workspace_id = {}",
        lead_id,
        workspace_id,
    )
    if not rows:
        raise NotFound(f"lead {lead_id} does not exist in workspace {workspace_id}")
    return rows[0]


def _change(row: dict, stage_before: str) -> LeadStageChange:
    return LeadStageChange(
        lead_id=row["id"],
        external_id=row["external_id"],
        stage_before=LeadStage(stage_before),
        stage_after=LeadStage(row["stage"]),
    )


async def suppress_lead(workspace_id: int, lead_id: int) -> LeadStageChange:
    """Stop all outreach to the lead (stage SUPPRESSED); repeating it changes nothing."""
    rows = await Lead.raw(
        "UPDATE lead SET stage = 'SUPPRESSED', stage_before_takeover = NULL "
        "FROM lead AS before WHERE lead.id = before.id "
        "AND lead.id = {} AND lead.workspace_id = {} AND lead.stage <> 'SUPPRESSED' "
        "RETURNING lead.id, lead.external_id, lead.stage, before.stage AS stage_before",
        lead_id,
        workspace_id,
    )
    if rows:
        return _change(rows[0], rows[0]["stage_before"])
    current = await _current(workspace_id, lead_id)
    return _change(current, current["stage"])


async def take_over_lead(workspace_id: int, lead_id: int) -> LeadStageChange:
    """A human takes the conversation over (stage TAKE_OVER); the stage is remembered."""
    rows = await Lead.raw(
        "UPDATE lead SET stage = 'TAKE_OVER', stage_before_takeover = stage "
        "WHERE id = {} AND workspace_id = {} AND stage <> 'TAKE_OVER' "
        "RETURNING id, external_id, stage, stage_before_takeover",
        lead_id,
        workspace_id,
    )
    if rows:
        return _change(rows[0], rows[0]["stage_before_takeover"])
    current = await _current(workspace_id, lead_id)
    raise Conflict(f"lead {current['external_id']} is already taken over")


async def release_lead(workspace_id: int, lead_id: int) -> LeadStageChange:
    """End a takeover: the lead returns to the stage it had before it."""
    rows = await Lead.raw(
        "UPDATE lead SET stage = stage_before_takeover, stage_before_takeover = NULL "
        "WHERE id = {} AND workspace_id = {} AND stage = 'TAKE_OVER' "
        "RETURNING id, external_id, stage",
        lead_id,
        workspace_id,
    )
    if rows:
        return _change(rows[0], LeadStage.TAKE_OVER)
    current = await _current(workspace_id, lead_id)
    raise Conflict(f"lead {current['external_id']} is {current['stage']}, not taken over")
