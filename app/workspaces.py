"""Workspace behaviour that spans rows: the default workspace, finding a workspace."""

import re
from dataclasses import dataclass

from app.errors import InvalidValue, NotFound
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


WORKSPACE_REFERENCE = re.compile(
    r"^\s*(?:(?P<name>.*?)\s*\(#(?P<bracketed>\d+)\)|#?(?P<id>\d+))\s*$"
)


async def find_workspace(reference: str) -> int:
    """The workspace an operator names: its id ("3", "#3"), as listed ("Acme (#3)"),
    or its name when no other workspace shares it."""
    match = WORKSPACE_REFERENCE.match(reference)
    if match:
        workspace_id = int(match["bracketed"] or match["id"])
        if not await Workspace.exists().where(Workspace.id == workspace_id):
            raise NotFound(f"workspace {reference.strip()!r} does not exist")
        return workspace_id
    rows = await Workspace.select(Workspace.id).where(Workspace.name == reference.strip())
    if not rows:
        raise NotFound(f"no workspace is named {reference.strip()!r}")
    if len(rows) > 1:
        ids = ", ".join(f"#{row['id']}" for row in rows)
        raise InvalidValue(
            "workspace",
            f"{len(rows)} workspaces are named {reference.strip()!r} ({ids}); give the id",
        )
    return rows[0]["id"]
