"""``piccolo masterplan seed``."""

from app.workspaces import DEFAULT_WORKSPACE_NAME, ensure_default_workspace


async def seed() -> None:
    """
    Create the default workspace that prototype agents use.

    Safe to repeat and to run concurrently: a second run changes nothing and
    says so.
    """
    result = await ensure_default_workspace()
    if result.created:
        print(
            f"Created the default workspace '{DEFAULT_WORKSPACE_NAME}' (id {result.workspace_id})."
        )
    else:
        print(
            f"The default workspace '{DEFAULT_WORKSPACE_NAME}' already exists "
            f"(id {result.workspace_id}); nothing changed."
        )
