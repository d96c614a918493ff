"""``piccolo legacy backfill``."""

import time

from app.legacy.backfill import agent_batches, pending, session_batches
from app.progress import ProgressBar
from app.settings import ConfigurationError
from app.workspaces import DEFAULT_WORKSPACE_NAME, default_workspace_id, ensure_default_workspace


async def backfill(sessions: bool = False, dry_run: bool = False, batch_size: int = 1000) -> None:
    """
    Map prototype agents (and chat sessions) into the default workspace.

    Every agent becomes a DRAFT strategy version (version numbers in agent-id
    order, followup_preset BALANCED); the mapping table records it, so a re-run
    creates nothing twice and an interrupted run resumes.

    :param sessions:
        Also map every chat session to a conversation thread with a placeholder
        lead 'prototype-session:<id>'.
    :param dry_run:
        Report what would be done; write nothing.
    :param batch_size:
        Rows per transaction (1 to 50000).
    """
    if not 1 <= batch_size <= 50_000:
        raise ConfigurationError("--batch_size must be between 1 and 50000")
    started = time.monotonic()
    todo = await pending()
    if dry_run:
        print(_dry_run_report(await default_workspace_id(), todo.agents, todo.sessions, sessions))
        return

    workspace_id = (await ensure_default_workspace()).workspace_id
    agents_done = await _run("agents  ", todo.agents, agent_batches(workspace_id, batch_size))
    sessions_done = 0
    if sessions:
        sessions_done = await _run(
            "sessions", todo.sessions, session_batches(workspace_id, batch_size)
        )
    skipped = "" if sessions else f"; {todo.sessions} sessions left (use --sessions)"
    print(
        f"Backfill finished in {time.monotonic() - started:.1f} s: {agents_done} agents -> "
        f"strategy versions, {sessions_done} sessions -> threads in workspace "
        f"'{DEFAULT_WORKSPACE_NAME}' (id {workspace_id}){skipped}."
    )


async def _run(label: str, total: int, batches) -> int:
    bar = ProgressBar(label, total)
    done = 0
    async for created in batches:
        done += created
        bar.advance(created)
    bar.close()
    return done


def _dry_run_report(
    workspace_id: int | None, agents: int, sessions: int, with_sessions: bool
) -> str:
    workspace = (
        f"workspace '{DEFAULT_WORKSPACE_NAME}' (id {workspace_id})"
        if workspace_id is not None
        else f"a new workspace '{DEFAULT_WORKSPACE_NAME}'"
    )
    session_part = (
        f"{sessions} conversation threads with placeholder leads"
        if with_sessions
        else f"no threads ({sessions} sessions need --sessions)"
    )
    return (
        f"Dry run, nothing written: would create {agents} DRAFT strategy versions and "
        f"{session_part} in {workspace}."
    )
