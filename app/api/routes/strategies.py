"""Strategy versions: drafts, activation and rollback."""

from fastapi import APIRouter

from app.api.auth import WorkspaceToRead, WorkspaceToWrite
from app.api.parameters import ERRORS, RowId, fields_of
from app.api.schemas import StrategyChangeOut, StrategyContent, StrategyCreate, StrategyOut
from app.errors import InvalidValue
from app.policy import strategies

router = APIRouter(responses=ERRORS)


@router.get("/strategies", response_model=list[StrategyOut], tags=["strategies"])
async def list_strategies(workspace_id: WorkspaceToRead) -> list[dict]:
    return await strategies.list_versions(workspace_id)


@router.get("/strategies/active", response_model=StrategyOut, tags=["strategies"])
async def active_strategy(workspace_id: WorkspaceToRead) -> dict:
    return await strategies.active_version(workspace_id)


@router.post("/strategies", status_code=201, response_model=StrategyOut, tags=["strategies"])
async def create_strategy(body: StrategyCreate, workspace_id: WorkspaceToWrite) -> dict:
    fields = fields_of(body)
    overrides = fields.pop("interval_overrides", None)
    nulls = [key for key, value in fields.items() if value is None]
    if nulls:
        raise InvalidValue(nulls[0], "must not be null")
    content = fields
    return await strategies.create_draft(workspace_id, overrides=overrides, **content)


@router.patch("/strategies/{version_id:int}", response_model=StrategyOut, tags=["strategies"])
async def change_strategy(
    version_id: RowId, body: StrategyContent, workspace_id: WorkspaceToWrite
) -> dict:
    return await strategies.update_draft(workspace_id, version_id, fields_of(body))


def _strategy_change(change: strategies.StrategyChange) -> StrategyChangeOut:
    return StrategyChangeOut(active=change.active, rolled_back_version=change.rolled_back_version)


@router.post(
    "/strategies/{version_id:int}/activate", response_model=StrategyChangeOut, tags=["strategies"]
)
async def activate_strategy(version_id: RowId, workspace_id: WorkspaceToWrite) -> StrategyChangeOut:
    return _strategy_change(await strategies.activate_strategy_version(workspace_id, version_id))


@router.post("/strategies/rollback", response_model=StrategyChangeOut, tags=["strategies"])
async def roll_back_strategy(workspace_id: WorkspaceToWrite) -> StrategyChangeOut:
    return _strategy_change(await strategies.roll_back_strategy(workspace_id))
