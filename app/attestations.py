"""Outreach attestations: an operator's record that outreach is (or is not) allowed."""

from dataclasses import dataclass

from app.errors import InvalidValue, NotFound
from app.tables import OutreachAttestation, Workspace


@dataclass(frozen=True)
class Attestation:
    """One recorded attestation."""

    id: int
    workspace_id: int
    operator_id: str
    granted: bool

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
    rows = await OutreachAttestation.raw(
        "INSERT INTO outreach_attestation (workspace_id, operator_id, granted) "
        "VALUES ({}, {}, {}) RETURNING id",
        workspace_id,
        operator_id,
        granted,
    )
    return Attestation(
        id=rows[0]["id"], workspace_id=workspace_id, operator_id=operator_id, granted=granted
    )
