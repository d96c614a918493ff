"""Strategy versions: drafts, activation and rollback, one workspace at a time.

Every change locks the workspace row first, so two operators (or workers)
acting on one workspace at once are serialised: the second sees the first's
result instead of racing it. The partial unique index strategy_version_one_active
backs this up in the database.
"""

import json
from dataclasses import dataclass
from typing import Any

from piccolo.query import Select

from app.db.executor import fetch, transaction
from app.enums import FollowUpPreset, StrategyStatus
from app.errors import Conflict, InvalidValue, NotFound
from app.tables import StrategyVersion
from app.validation import interval_overrides
from app.workspaces import lock_workspace

# Every column of a version, as the API reads it (from the table).
STRATEGY_COLUMNS = ", ".join(
    column._meta.db_column_name for column in StrategyVersion._meta.columns
)
CONTENT_FIELDS = (
    "tone",
    "objectives",
    "objection_handling",
    "cta_rules",
    "followup_preset",
    "interval_overrides",
)


@dataclass(frozen=True)
class StrategyChange:
    """The version now ACTIVE (the whole row) and the number of the one rolled back."""

    active: dict[str, Any]
    rolled_back_version: int | None

    @property
    def workspace_id(self) -> int:
        return self.active["workspace_id"]

    @property
    def activated_version(self) -> int:
        return self.active["version_number"]

    @property
    def message(self) -> str:
        replaced = (
            f"; v{self.rolled_back_version} is now ROLLED_BACK"
            if self.rolled_back_version is not None
            else ""
        )
        return f"v{self.activated_version} is now ACTIVE{replaced}."


def _of_workspace(workspace_id: int) -> Select:
    """The workspace's versions, every column."""
    return StrategyVersion.select().where(StrategyVersion.workspace_id == workspace_id)


async def _version(workspace_id: int, version_id: int) -> dict[str, Any]:
    row = await _of_workspace(workspace_id).where(StrategyVersion.id == version_id).first()
    if row is None:
        raise NotFound(f"strategy version {version_id} does not exist in workspace {workspace_id}")
    return row


async def workspace_of_version(version_id: int) -> int:
    """The workspace a strategy version belongs to."""
    row = (
        await StrategyVersion.select(StrategyVersion.workspace_id)
        .where(StrategyVersion.id == version_id)
        .first()
    )
    if row is None:
        raise NotFound(f"strategy version #{version_id} does not exist")
    return row["workspace_id"]


async def _active_version(workspace_id: int) -> dict[str, Any] | None:
    return (
        await _of_workspace(workspace_id)
        .where(StrategyVersion.status == StrategyStatus.ACTIVE)
        .first()
    )


async def _set_status(
    version_id: int, status: StrategyStatus, previous_active_id: int | None = None
) -> dict[str, Any]:
    """The version with its new status (ACTIVE: activated now, after ``previous_active_id``)."""
    if status is StrategyStatus.ACTIVE:
        sql = (
            "UPDATE strategy_version SET status = {}, activated_at = now(), "
            f"previous_active_version_id = {{}} WHERE id = {{}} RETURNING {STRATEGY_COLUMNS}"
        )
        rows = await fetch(sql, status.value, previous_active_id, version_id)
    else:
        sql = (
            "UPDATE strategy_version SET status = {} "
            f"WHERE id = {{}} RETURNING {STRATEGY_COLUMNS}"
        )
        rows = await fetch(sql, status.value, version_id)
    return rows[0]


async def activate_strategy_version(workspace_id: int, version_id: int) -> StrategyChange:
    """Make a version ACTIVE now; the workspace's ACTIVE version becomes ROLLED_BACK."""
    async with transaction():
        await lock_workspace(workspace_id)
        target = await _version(workspace_id, version_id)
        if target["status"] == StrategyStatus.ACTIVE:
            raise Conflict(f"v{target['version_number']} is already ACTIVE")
        current = await _active_version(workspace_id)
        if current is not None:
            await _set_status(current["id"], StrategyStatus.ROLLED_BACK)
        previous_id = None if current is None else current["id"]
        active = await _set_status(version_id, StrategyStatus.ACTIVE, previous_id)
    return StrategyChange(
        active=active, rolled_back_version=None if current is None else current["version_number"]
    )


async def roll_back_strategy(workspace_id: int) -> StrategyChange:
    """The ACTIVE version becomes ROLLED_BACK; the one it replaced is ACTIVE again."""
    async with transaction():
        await lock_workspace(workspace_id)
        current = await _active_version(workspace_id)
        if current is None:
            raise Conflict(f"workspace {workspace_id} has no ACTIVE strategy version to roll back")
        previous_id = current["previous_active_version_id"]
        if previous_id is None:
            raise Conflict(
                f"v{current['version_number']} replaced no earlier version: "
                "there is nothing to roll back to"
            )
        previous = await _version(workspace_id, previous_id)
        await _set_status(current["id"], StrategyStatus.ROLLED_BACK)
        active = await _set_status(
            previous_id, StrategyStatus.ACTIVE, previous["previous_active_version_id"]
        )
    return StrategyChange(active=active, rolled_back_version=current["version_number"])


async def ensure_editable(workspace_id: int, version_id: int) -> dict[str, Any]:
    """The version, or Conflict unless it is a DRAFT: ACTIVE and ROLLED_BACK content is
    frozen."""
    version = await _version(workspace_id, version_id)
    if version["status"] != StrategyStatus.DRAFT:
        raise Conflict(
            f"v{version['version_number']} is {version['status']}: only DRAFT versions "
            "can be edited; create a new version instead"
        )
    return version


async def create_draft(
    workspace_id: int,
    followup_preset: FollowUpPreset,
    tone: str = "",
    objectives: str = "",
    objection_handling: str = "",
    cta_rules: str = "",
    overrides: Any = None,
) -> dict[str, Any]:
    """A new DRAFT; the database assigns the workspace's next version number."""
    checked_overrides = interval_overrides("interval_overrides", overrides)
    rows = await fetch(
        "INSERT INTO strategy_version (workspace_id, followup_preset, tone, objectives, "
        "objection_handling, cta_rules, interval_overrides) "
        f"VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}}::jsonb) RETURNING {STRATEGY_COLUMNS}",
        workspace_id,
        FollowUpPreset(followup_preset).value,
        tone,
        objectives,
        objection_handling,
        cta_rules,
        None if checked_overrides is None else json.dumps(checked_overrides),
    )
    return rows[0]


# --- reading and editing for the API -------------------------------------------------


async def list_versions(workspace_id: int) -> list[dict[str, Any]]:
    """The workspace's versions, newest number first."""
    return await _of_workspace(workspace_id).order_by(
        StrategyVersion.version_number, ascending=False
    )


async def active_version(workspace_id: int) -> dict[str, Any]:
    row = await _active_version(workspace_id)
    if row is None:
        raise NotFound("the workspace has no ACTIVE strategy version")
    return row


async def update_draft(workspace_id: int, version_id: int, fields: dict[str, Any]) -> dict:
    """Change a DRAFT's content; Conflict for ACTIVE and ROLLED_BACK versions."""
    unknown = set(fields) - set(CONTENT_FIELDS)
    if unknown:
        raise InvalidValue(sorted(unknown)[0], "cannot be changed here")
    checked = dict(fields)
    nulls = [key for key, value in checked.items() if value is None]
    if nulls and nulls != ["interval_overrides"]:
        raise InvalidValue(
            next(key for key in nulls if key != "interval_overrides"), "must not be null"
        )
    if "followup_preset" in checked:
        checked["followup_preset"] = FollowUpPreset(checked["followup_preset"]).value
    if "interval_overrides" in checked:
        overrides = interval_overrides("interval_overrides", checked["interval_overrides"])
        checked["interval_overrides"] = None if overrides is None else json.dumps(overrides)
    async with transaction():
        version = await ensure_editable(workspace_id, version_id)
        if not checked:
            return version
        rows = (
            await StrategyVersion.update(checked)
            .where(
                (StrategyVersion.id == version_id) & (StrategyVersion.workspace_id == workspace_id)
            )
            .returning(*StrategyVersion._meta.columns)
        )
    return rows[0]
