"""Benchmark: `piccolo legacy backfill --sessions` on 10,000 agents and 100,000 sessions.

Builds a prototype database on the configured server (DATABASE_URL, else the
embedded one), runs the project's command against it, then runs the same batch
SQL through raw asyncpg on an identical copy, and prints both timings.

    .venv/bin/python bench/legacy_backfill.py [--agents N] [--sessions N] [--batch-size N]
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db.server import run_sync, server_url, with_database  # noqa: E402
from app.legacy.backfill import (  # noqa: E402
    AGENT_BATCH,
    BACKFILL_LOCK,
    CUSTOM_PLANS,
    PLACEHOLDER_PREFIX,
    SESSION_BATCH,
)
from tests.database_setup import admin_execute  # noqa: E402
from tests.prototype import add_prototype_rows  # noqa: E402

FILLED = "masterplan_bench_backfill_filled"
PROJECT_RUN = "masterplan_bench_backfill_project"
RAW_RUN = "masterplan_bench_backfill_raw"


def numbered(sql: str) -> str:
    """Piccolo's {} placeholders as asyncpg's $1, $2, ..."""
    counter = iter(range(1, 100))
    return re.sub(r"\{\}", lambda _: f"${next(counter)}", sql)


def piccolo(url: str, *arguments: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "piccolo.main", *arguments],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )
    return time.monotonic() - started


async def fill(url: str, agents: int, sessions: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "TRUNCATE zairag_chat_messages, zairag_chat_sessions, zairag_agents"
        )
        await add_prototype_rows(connection, agents=agents, sessions=sessions)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def raw_backfill(url: str, batch_size: int) -> float:
    """The same SQL the command runs, batch by batch, through raw asyncpg."""
    connection = await asyncpg.connect(url)
    try:
        started = time.monotonic()
        workspace_id = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ('Default') RETURNING id"
        )
        for sql, arguments in (
            (AGENT_BATCH, lambda after: (after, batch_size, workspace_id, workspace_id)),
            (
                SESSION_BATCH,
                lambda after: (PLACEHOLDER_PREFIX, after, batch_size, workspace_id, workspace_id),
            ),
        ):
            statement = numbered(sql)
            after_id = 0
            while True:
                async with connection.transaction():
                    await connection.execute(CUSTOM_PLANS)
                    await connection.execute(BACKFILL_LOCK)
                    await connection.execute(
                        "SELECT id FROM workspace WHERE id = $1 FOR UPDATE", workspace_id
                    )
                    rows = await connection.fetch(statement, *arguments(after_id))
                if not rows:
                    break
                after_id = max(row["prototype_id"] for row in rows)
        return time.monotonic() - started
    finally:
        await connection.close()


async def count_rows(url: str) -> tuple[int, int, int]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM strategy_version), "
            "(SELECT count(*) FROM conversation_thread), (SELECT count(*) FROM legacy_mapping)"
        )
        return tuple(row)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    options = parser.parse_args()

    server = server_url()
    drop = [
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in (FILLED, PROJECT_RUN, RAW_RUN)
    ]
    admin_execute(server, *drop, f'CREATE DATABASE "{FILLED}"')
    filled = with_database(server, FILLED)
    print(
        f"Migrating and filling {options.agents:,} agents, {options.sessions:,} sessions ...",
        flush=True,
    )
    piccolo(filled, "migrations", "forwards", "all")
    run_sync(lambda: fill(filled, options.agents, options.sessions))
    admin_execute(
        server,
        f'CREATE DATABASE "{PROJECT_RUN}" TEMPLATE "{FILLED}"',
        f'CREATE DATABASE "{RAW_RUN}" TEMPLATE "{FILLED}"',
    )

    project_url = with_database(server, PROJECT_RUN)
    project_seconds = piccolo(
        project_url, "legacy", "backfill", "--sessions", f"--batch_size={options.batch_size}"
    )
    raw_seconds = run_sync(lambda: raw_backfill(with_database(server, RAW_RUN), options.batch_size))
    project_counts = run_sync(lambda: count_rows(project_url))
    raw_counts = run_sync(lambda: count_rows(with_database(server, RAW_RUN)))
    admin_execute(server, *drop)

    assert project_counts == raw_counts, (project_counts, raw_counts)
    print(
        f"backfill of {options.agents:,} agents + {options.sessions:,} sessions "
        f"(batch {options.batch_size}): project command {project_seconds:.1f} s "
        f"(whole process), raw asyncpg same SQL {raw_seconds:.1f} s, "
        f"ratio {project_seconds / raw_seconds:.2f}x; rows {project_counts}"
    )


if __name__ == "__main__":
    main()
