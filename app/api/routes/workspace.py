"""The caller's workspace and its send policy."""

from fastapi import APIRouter

from app import workspaces
from app.api.auth import WorkspaceToAdminister, WorkspaceToRead
from app.api.parameters import ERRORS, fields_of
from app.api.schemas import WorkspaceOut, WorkspacePatch, WorkspacePolicy, WorkspacePolicyOut
from app.policy import workspace_policy

router = APIRouter(responses=ERRORS)


@router.get("/workspace", response_model=WorkspaceOut, tags=["workspace"])
async def read_workspace(workspace_id: WorkspaceToRead) -> dict:
    return await workspaces.get_workspace(workspace_id)


@router.patch("/workspace", response_model=WorkspaceOut, tags=["workspace"])
async def change_workspace(body: WorkspacePatch, workspace_id: WorkspaceToAdminister) -> dict:
    return await workspaces.update_workspace(workspace_id, fields_of(body))


@router.get("/workspace/policy", response_model=WorkspacePolicyOut, tags=["workspace"])
async def read_policy(workspace_id: WorkspaceToRead) -> dict:
    """The send policy: window, days and blocked dates, in the lead's local time."""
    return await workspace_policy.get_policy(workspace_id)


@router.put("/workspace/policy", response_model=WorkspacePolicyOut, tags=["workspace"])
async def replace_policy(body: WorkspacePolicy, workspace_id: WorkspaceToAdminister) -> dict:
    """Replace the send policy; it may narrow 09:00-21:00 Monday-Saturday, never widen it."""
    return await workspace_policy.put_policy(workspace_id, body.model_dump(mode="json"))
