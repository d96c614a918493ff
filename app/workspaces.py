"""Workspace behaviour that spans rows: the default workspace, finding and locking a workspace."""

from dataclasses import dataclass

from app.db.executor import fetch
from app.enums import BudgetTier
from app.errors import InvalidValue, NotFound
from app.tables import Workspace
from app.validation import timezone_name

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
    inserted = await fetch(
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


async def existing_workspace(workspace_id: int) -> int:
    """``workspace_id``, once it is known to exist."""
    if not await Workspace.exists().where(Workspace.id == workspace_id):
        raise NotFound(f"workspace #{workspace_id} does not exist")
    return workspace_id


WORKSPACE_FIELDS = (
    Workspace.id,
    Workspace.name,
    Workspace.timezone,
    Workspace.budget_tier,
    Workspace.created_at,
)


async def get_workspace(workspace_id: int) -> dict:
    row = await Workspace.select(*WORKSPACE_FIELDS).where(Workspace.id == workspace_id).first()
    if row is None:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return row


async def update_workspace(workspace_id: int, fields: dict) -> dict:
    """Change name, timezone or budget tier."""
    checked = dict(fields)
    unknown = set(checked) - {"name", "timezone", "budget_tier"}
    if unknown:
        raise InvalidValue(sorted(unknown)[0], "cannot be changed")
    if "name" in checked and (checked["name"] is None or not checked["name"].strip()):
        raise InvalidValue("name", "must not be blank")
    if "timezone" in checked:
        timezone_name("timezone", checked["timezone"])
    if "budget_tier" in checked:
        if checked["budget_tier"] is None:
            raise InvalidValue("budget_tier", f"must be one of {[t.value for t in BudgetTier]}")
        checked["budget_tier"] = BudgetTier(checked["budget_tier"]).value
    if not checked:
        return await get_workspace(workspace_id)
    rows = (
        await Workspace.update(checked)
        .where(Workspace.id == workspace_id)
        .returning(*WORKSPACE_FIELDS)
    )
    if not rows:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return rows[0]


async def lock_workspace(workspace_id: int) -> None:
    """Lock the workspace row for this transaction; NotFound if it does not exist."""
    rows = await fetch("SELECT id FROM workspace WHERE id = {} FOR UPDATE", workspace_id)
    if not rows:
        raise NotFound(f"workspace {workspace_id} does not exist")
