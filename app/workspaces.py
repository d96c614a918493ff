"""Workspace behaviour that spans rows: the default workspace, finding and locking a workspace."""

from dataclasses import dataclass
from enum import StrEnum

from app.db.executor import fetch
from app.enums import BudgetTier, MessagingTier
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
    Workspace.messaging_tier,
    Workspace.created_at,
)


async def get_workspace(workspace_id: int) -> dict:
    row = await Workspace.select(*WORKSPACE_FIELDS).where(Workspace.id == workspace_id).first()
    if row is None:
        raise NotFound(f"workspace {workspace_id} does not exist")
    return row


# The tiers a workspace may be given, by field: the value must be one of the enum's.
TIER_FIELDS: dict[str, type[StrEnum]] = {
    "budget_tier": BudgetTier,
    "messaging_tier": MessagingTier,
}


def tier(field: str, value: object) -> str:
    """``value`` as one of the field's tiers; InvalidValue naming them otherwise."""
    tiers = TIER_FIELDS[field]
    if value not in tuple(t.value for t in tiers):
        raise InvalidValue(field, f"must be one of {[t.value for t in tiers]}, not {value!r}")
    return tiers(value).value


async def update_workspace(workspace_id: int, fields: dict) -> dict:
    """Change name, timezone, budget tier or messaging tier (WhatsApp's messaging limit
    of the workspace's business portfolio, docs/policy.md)."""
    checked = dict(fields)
    unknown = set(checked) - {"name", "timezone", *TIER_FIELDS}
    if unknown:
        raise InvalidValue(sorted(unknown)[0], "cannot be changed")
    if "name" in checked and (checked["name"] is None or not checked["name"].strip()):
        raise InvalidValue("name", "must not be blank")
    if "timezone" in checked:
        timezone_name("timezone", checked["timezone"])
    for field in TIER_FIELDS.keys() & checked.keys():
        checked[field] = tier(field, checked[field])
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
