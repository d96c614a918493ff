"""Benchmark: what a test's fresh database costs the server, by clone strategy.

Against the tests' own embedded server (or ``DATABASE_URL``'s): migrates a template,
then times ``--clones`` clone-and-drop cycles with WAL_LOG and with FILE_COPY, and the
harness's own cycle (``DatabaseServer.fresh_test_database``: rename the spare in,
clone the next). Server CPU is the postmaster's reaped children (its backends), read
from /proc, so only for a server on this machine.

    .venv/bin/python bench/test_databases.py [--clones 40]
"""

import argparse
import glob
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.database_setup import (  # noqa: E402
    DatabaseServer,
    admin_execute,
    piccolo,
    use_own_embedded_server,
)

TEMPLATE = "bench_clone_template"
CLONE = "bench_clone"


def postmaster_pid() -> int | None:
    """The server's postmaster, when its data directory is on this machine."""
    data = os.environ.get("MASTERPLAN_PGDATA")
    found = glob.glob(f"{data}/**/postmaster.pid", recursive=True) if data else []
    return int(Path(found[0]).read_text().split()[0]) if found else None


def server_cpu(pid: int | None) -> float:
    """Seconds of CPU the postmaster and its reaped backends have used."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(map(int, fields[11:15])) / os.sysconf("SC_CLK_TCK")


def timed(label: str, count: int, pid: int | None, cycle) -> None:
    cpu, started = server_cpu(pid), time.monotonic()
    for _ in range(count):
        cycle()
    wall = (time.monotonic() - started) / count * 1000
    per_clone = (server_cpu(pid) - cpu) / count * 1000
    print(f"{label:<28} {wall:6.1f} ms wall {per_clone:6.1f} ms server CPU", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clones", type=int, default=40)
    count = parser.parse_args().clones
    use_own_embedded_server()
    server = DatabaseServer()
    server.build_template()
    admin_execute(
        server.url, f'DROP DATABASE IF EXISTS "{TEMPLATE}"', f'CREATE DATABASE "{TEMPLATE}"'
    )
    piccolo(server.url_of(TEMPLATE), "migrations", "forwards", "all")
    pid = postmaster_pid()
    for strategy in ("WAL_LOG", "FILE_COPY") * 2:
        statements = (
            f'DROP DATABASE IF EXISTS "{CLONE}" WITH (FORCE)',
            f'CREATE DATABASE "{CLONE}" TEMPLATE "{TEMPLATE}" STRATEGY {strategy}',
        )
        timed(
            f"clone and drop, {strategy}",
            count,
            pid,
            lambda statements=statements: admin_execute(server.url, *statements),
        )
    server.fresh_test_database()
    timed(f"harness cycle ({server.clone_strategy()})", count, pid, server.fresh_test_database)
    admin_execute(server.url, f'DROP DATABASE "{CLONE}"', f'DROP DATABASE "{TEMPLATE}"')
    server.close()
    print(
        f"{count} cycles each; fsync is {'off' if server.clone_strategy() == 'FILE_COPY' else 'on'}"
    )


if __name__ == "__main__":
    main()
