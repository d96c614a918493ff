"""Throwaway databases for tests: a migrated template cloned per test.

The server is ``DATABASE_URL``'s (only used to create and drop databases whose
names start with ``masterplan_test``; the database it names is never touched),
or the embedded one.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

from app.db.server import run_sync, server_url, with_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
TEMPLATE_DATABASE = f"masterplan_test_template_{_worker}"
TEST_DATABASE = f"masterplan_test_{_worker}"


def admin_execute(server: str, *statements: str) -> None:
    """Run statements on the server's maintenance database, outside transactions."""

    async def execute() -> None:
        connection = await asyncpg.connect(server)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    run_sync(execute)


def piccolo(
    database_url: str, *arguments: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the piccolo CLI against ``database_url``, as an operator would."""
    environment = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "piccolo.main", *arguments],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"piccolo {' '.join(arguments)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


class DatabaseServer:
    """Creates, clones and drops the test databases on one server."""

    def __init__(self) -> None:
        self.url = server_url()

    def url_of(self, database: str) -> str:
        return with_database(self.url, database)

    def create_empty(self, name: str) -> str:
        admin_execute(
            self.url,
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}"',
        )
        return self.url_of(name)

    def create_from_template(self, name: str) -> str:
        admin_execute(
            self.url,
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}"',
        )
        return self.url_of(name)

    def drop(self, name: str) -> None:
        admin_execute(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def build_template(self) -> None:
        """An empty database with every migration applied, to clone from."""
        template_url = self.create_empty(TEMPLATE_DATABASE)
        piccolo(template_url, "migrations", "forwards", "all")

    @staticmethod
    def scratch_name() -> str:
        return f"masterplan_test_scratch_{uuid.uuid4().hex[:12]}"


def piccolo_at_once(
    database_url: str, copies: int, *arguments: str
) -> list[subprocess.CompletedProcess[str]]:
    """Start ``copies`` identical piccolo commands together; wait for all of them."""
    return finished(started_piccolo(database_url, copies, *arguments))


def started_piccolo(database_url: str, copies: int, *arguments: str) -> list[subprocess.Popen]:
    """``copies`` identical piccolo commands, started and left running."""
    environment = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "piccolo.main", *arguments]
    return [
        subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(copies)
    ]


def finished(processes: list[subprocess.Popen]) -> list[subprocess.CompletedProcess[str]]:
    """Wait for every process; what each printed and how it exited."""
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        results.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
    return results


async def fetch_rows(url: str, query: str, *arguments: object) -> list[asyncpg.Record]:
    """Rows of one query on a database of the test's own."""
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query, *arguments)
    finally:
        await connection.close()


async def public_tables(url: str) -> set[str]:
    """The tables in a database's public schema."""
    rows = await fetch_rows(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def until_waiting_for_locks(connection: asyncpg.Connection, count: int) -> None:
    """Return once ``count`` sessions of this database wait for a lock (a race test's
    proof that its contenders overlap); fail after ten seconds."""
    waiting = 0
    for _ in range(500):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {waiting} of {count} contenders reached the lock")
