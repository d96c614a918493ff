"""The suite in parallel (``python3 -m app test``): pytest-xdist workers, each on
databases of its own, every test on a clean copy of the migrated template."""

import os
import subprocess
import sys
from pathlib import Path

from app.__main__ import PARALLEL, parallel_unless_chosen
from tests.database_setup import PROJECT_ROOT
from tests.throwaway_cluster import ThrowawayCluster

# Each test adds a workspace to its database and writes down how many it found there
# and in which database (workers' output is not shown): a test that met another test's
# rows would count more than its own (the template holds none).
ISOLATED = """
import os
from pathlib import Path

import asyncpg
import pytest


@pytest.mark.parametrize("n", range(6))
async def test_a_clean_database(fresh_database, n):
    connection = await asyncpg.connect(fresh_database)
    try:
        await connection.execute(
            "INSERT INTO workspace (name) VALUES ($1)", f"W{n}"
        )
        count = await connection.fetchval("SELECT count(*) FROM workspace")
        database = await connection.fetchval("SELECT current_database()")
    finally:
        await connection.close()
    (Path(os.environ["RAN_DIRECTORY"]) / str(n)).write_text(f"{database} {count}")
"""


def test_two_workers_run_every_test_on_a_clean_database_of_their_own(tmp_path):
    tests, ran = tmp_path / "tests", tmp_path / "ran"
    tests.mkdir()
    ran.mkdir()
    (tests / "test_isolated.py").write_text(ISOLATED)
    # A server of its own: the inner session's databases have this session's names.
    cluster = ThrowawayCluster()
    try:
        result = pytest_in_parallel(tests, cluster.url, ran)
    finally:
        cluster.remove()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = {int(path.name): path.read_text().split() for path in ran.iterdir()}
    assert sorted(found) == list(range(6))
    # Two workers, each on its own test database; every test saw only its own workspace.
    assert {database for database, _ in found.values()} == {
        "masterplan_test_gw0",
        "masterplan_test_gw1",
    }
    assert {count for _, count in found.values()} == {"1"}


def pytest_in_parallel(
    directory: Path, server_url: str, ran: Path
) -> subprocess.CompletedProcess[str]:
    """The suite's harness (tests/conftest.py) on two workers, over ``directory``'s
    tests, against the server at ``server_url``; the tests write to ``ran``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-c",
            str(PROJECT_ROOT / "pyproject.toml"),
            "--rootdir",
            str(directory),
            "-n",
            "2",
            str(directory),
        ],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "DATABASE_URL": server_url,
            "DATABASE_POOL_URL": "",
            "DATABASE_REPLICA_URLS": "",
            "PYTHONPATH": str(PROJECT_ROOT),
            "RAN_DIRECTORY": str(ran),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_test_command_runs_in_parallel_unless_told_otherwise():
    assert parallel_unless_chosen(["-k", "seed"]) == [*PARALLEL, "-k", "seed"]
    for chosen in (["-n", "0"], ["-n4"], ["--numprocesses=3"], ["-p", "no:xdist"]):
        assert parallel_unless_chosen(chosen) == chosen
