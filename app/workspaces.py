"""Workspace behaviour that spans rows: the default workspace."""

from dataclasses import dataclass

from app.tables import Workspace

# The default workspace is the one named this. A partial unique index
# (workspace_default_key) lets at most one workspace carry the name, which makes
# creating it race-free: concurrent seeds collide on the index, not on luck.
DEFAULT_WORKSPACE_NAME = "Default"


@dataclass(frozen=True)
class SeedResult:
    """Outcome of ensuring the default workspace exists."""

    workspace_id: int
    created: bool


async def ensure_default_workspace() -> SeedResult:
    """Create the default workspace unless it exists; safe to run concurrently."""
    inserted = await Workspace.raw(
        "INSERT INTO workspace (name) VALUES ({}) "
        "ON CONFLICT (name) WHERE name = 'Default' DO NOTHING RETURNING id",
        DEFAULT_WORKSPACE_NAME,
    )
    if inserted:
        return SeedResult(workspace_id=inserted[0]["id"], created=True)
    existing = await default_workspace_id()
    if existing is None:  # pragma: no cover - the index guarantees a row
        raise RuntimeError("the default workspace vanished while seeding")
    return SeedResult(workspace_id=existing, created=False)


async def default_workspace_id() -> int | None:
    """The id of the default workspace, or None before the seed ran."""
    row = (
        await Workspace.select(Workspace.id).where(Workspace.name == DEFAULT_WORKSPACE_NAME).first()
    )
    return None if row is None else row["id"]
