"""Recording outreach attestations."""

import pytest

from app.errors import InvalidValue, NotFound
from app.policy.attestations import record_attestation
from tests import factories


async def test_record_attestation_appends_a_row(connection):
    workspace_id = await factories.workspace(connection)
    granted = await record_attestation(workspace_id, "ops@example.com")
    withdrawn = await record_attestation(workspace_id, "ops@example.com", granted=False)
    rows = await connection.fetch(
        "SELECT operator_id, granted FROM outreach_attestation ORDER BY id"
    )
    assert [tuple(row) for row in rows] == [("ops@example.com", True), ("ops@example.com", False)]
    assert granted.id != withdrawn.id
    assert (
        withdrawn.message == f"Outreach withdrawn for workspace {workspace_id} by ops@example.com."
    )


async def test_an_unknown_workspace_is_not_found(connection):
    with pytest.raises(NotFound, match="workspace 404 does not exist"):
        await record_attestation(404, "ops@example.com")
    assert await connection.fetchval("SELECT count(*) FROM outreach_attestation") == 0


async def test_the_operator_must_be_named(connection):
    workspace_id = await factories.workspace(connection)
    with pytest.raises(InvalidValue, match="operator_id"):
        await record_attestation(workspace_id, "  ")
    assert await factories.table_snapshot(connection, "outreach_attestation") == []
