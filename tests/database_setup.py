"""Throwaway databases for tests: a migrated template cloned per test.

The server is ``DATABASE_URL``'s (only used to create and drop databases whose
names start with ``masterplan_test``; the database it names is never touched),
or the embedded one.
"""

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import asyncpg

from app.db.server import configured_url, run_sync, server_url, with_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Memory-backed storage, where the machine has it: creating a database there takes
# about 10 ms instead of 200 ms on this machine's disk, and each test creates one.
IN_MEMORY = Path("/dev/shm")


def in_memory() -> Path | None:
    """The machine's memory-backed directory, if it has one this process may write."""
    return IN_MEMORY if IN_MEMORY.is_dir() and os.access(IN_MEMORY, os.W_OK) else None


def own_server_data_dir() -> Path:
    """Where the tests' own embedded PostgreSQL keeps its data, apart from the one
    ``python3 -m app run`` keeps in .pgdata/: in memory where the machine has it (one
    directory per checkout), else .pgdata-tests/ in the checkout."""
    memory = in_memory()
    if memory is None:
        return PROJECT_ROOT / ".pgdata-tests"
    checkout = hashlib.sha256(str(PROJECT_ROOT).encode()).hexdigest()[:12]
    return memory / f"masterplan-tests-{checkout}"


# PostgreSQL's non-durable settings (its manual, "Non-Durable Settings"): nothing the
# tests check depends on surviving a power cut, and every clone and commit would
# otherwise wait for the disk. Only ever set on the tests' own embedded server.
NON_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Under pytest-xdist the controller builds the one template and names it to its workers
# through the environment they inherit (tests/conftest.py); they all clone from it.
SHARED_TEMPLATE_VARIABLE = "MASTERPLAN_TEST_SHARED_TEMPLATE"
TEMPLATE_DATABASE = (
    os.environ.get(SHARED_TEMPLATE_VARIABLE) or f"masterplan_test_template_{_worker}"
)
TEST_DATABASE = f"masterplan_test_{_worker}"
# The next test's database, cloned from the template while the current test runs.
SPARE_DATABASE = f"masterplan_test_spare_{_worker}"


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


def python_in_checkout(
    database_url: str, *arguments: str, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run this checkout's Python with ``arguments`` against ``database_url``; what it
    printed and how it exited."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def piccolo(
    database_url: str, *arguments: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the piccolo CLI against ``database_url``, as an operator would."""
    result = python_in_checkout(database_url, "-m", "piccolo.main", *arguments, timeout=300)
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
        self._cloning = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spare-database")
        self._spare: Future[str] | None = None
        self._clone_strategy: str | None = None

    def clone_strategy(self) -> str:
        """How this server copies the template: FILE_COPY where fsync is off (the
        checkpoint it needs costs nothing there; about 20 ms per clone against 36 ms on
        the tests' own server), else WAL_LOG, PostgreSQL's default, which is the faster
        of the two on a durable disk."""
        if self._clone_strategy is None:
            rows = run_sync(lambda: fetch_rows(self.url, "SHOW fsync"))
            self._clone_strategy = "FILE_COPY" if rows[0]["fsync"] == "off" else "WAL_LOG"
        return self._clone_strategy

    def url_of(self, database: str) -> str:
        return with_database(self.url, database)

    def create_empty(self, name: str) -> str:
        admin_execute(
            self.url,
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}"',
        )
        return self.url_of(name)

    def create_from_template(self, name: str, template: str = TEMPLATE_DATABASE) -> str:
        """``name``, a copy of ``template`` (the migrated one unless a module filled its
        own)."""
        admin_execute(
            self.url,
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY {self.clone_strategy()}',
        )
        return self.url_of(name)

    def drop(self, name: str) -> None:
        admin_execute(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def fresh_test_database(self) -> str:
        """A clean, migrated ``TEST_DATABASE``: the spare cloned during the previous test,
        renamed into place (a rename is instant; a clone takes a fraction of a second,
        which would otherwise fall on every test). The next spare starts cloning at once.
        """
        if self._spare is None:
            self._spare = self._cloning.submit(self.create_from_template, SPARE_DATABASE)
        self._spare.result()
        admin_execute(
            self.url,
            f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)',
            f'ALTER DATABASE "{SPARE_DATABASE}" RENAME TO "{TEST_DATABASE}"',
        )
        self._spare = self._cloning.submit(self.create_from_template, SPARE_DATABASE)
        return self.url_of(TEST_DATABASE)

    def close(self) -> None:
        """Wait for the spare being cloned, then drop it and the test database."""
        if self._spare is not None:
            self._spare.exception()
        self._cloning.shutdown()
        self.drop(SPARE_DATABASE)
        self.drop(TEST_DATABASE)

    def build_template(self) -> None:
        """An empty database with every migration applied, to clone from."""
        if not configured_url():
            admin_execute(
                self.url,
                *(f"ALTER SYSTEM SET {name} = {value}" for name, value in NON_DURABLE.items()),
                "SELECT pg_reload_conf()",
            )
        template_url = self.create_empty(TEMPLATE_DATABASE)
        piccolo(template_url, "migrations", "forwards", "all")

    @staticmethod
    def scratch_name() -> str:
        return f"masterplan_test_scratch_{uuid.uuid4().hex[:12]}"


def use_own_embedded_server() -> None:
    """Point this process and its children at the tests' own embedded server, unless
    ``DATABASE_URL`` or ``MASTERPLAN_PGDATA`` names one."""
    if not os.environ.get("DATABASE_URL", "").strip():
        os.environ.setdefault("MASTERPLAN_PGDATA", str(own_server_data_dir()))


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
