"""A PgBouncer of the test's own, in transaction mode, in front of the test server."""

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.server import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or parse_qs(parts.query).get("host", ["/tmp"])[0]


def server_address(url: str) -> str:
    """``host=... port=...`` of a server URL, a socket directory included."""
    parts = urlsplit(url)
    return f"host={_host(url)} port={parts.port or 5432} user={parts.username or 'postgres'}"


def system_user(url: str) -> str:
    """Who PgBouncer runs as when started by root (it refuses to run as root): the
    owner of the server's socket directory, which only it may enter, or postgres."""
    host = _host(url)
    if host.startswith("/"):
        return pwd.getpwuid(os.stat(host).st_uid).pw_name
    return "postgres"


def _config(directory: Path, server_url: str, port: int, pool_size: int) -> Path:
    (directory / "users.txt").write_text('"postgres" ""\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
* = {server_address(server_url)}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "users.txt"}
admin_users = postgres
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
server_lifetime = 3600
# Each test drops and clones its database: a server login that meets the gap
# must not hold every client back for the default 15 s.
server_login_retry = 0.1
logfile = {directory / "pgbouncer.log"}
pidfile = {directory / "pgbouncer.pid"}
"""
    )
    return config


@dataclass(frozen=True)
class Pooler:
    """A running PgBouncer: its URL, naming no database (so each client reaches the
    database of its own ``DATABASE_URL``), and its log."""

    url: str
    log: Path


@contextmanager
def pgbouncer(server_url: str, pool_size: int = 20) -> Iterator[Pooler]:
    """A PgBouncer in transaction mode on a free port, stopped afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="masterplan-pgbouncer-"))
    port = free_port()
    config = _config(directory, server_url, port, pool_size)
    command = [PGBOUNCER, str(config)]
    if os.geteuid() == 0:
        user = system_user(server_url)
        entry = pwd.getpwnam(user)
        shutil.chown(directory, entry.pw_uid, entry.pw_gid)
        command = [PGBOUNCER, "-u", user, str(config)]
    # PgBouncer also logs to its standard error: a pipe nobody reads would stall it.
    output = open(directory / "output.txt", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, process, directory)
        yield Pooler(f"postgresql://postgres@127.0.0.1:{port}", directory / "pgbouncer.log")
    finally:
        process.terminate()
        process.wait(timeout=30)
        output.close()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen, directory: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = directory / "pgbouncer.log"
            output = (directory / "output.txt").read_text()
            raise AssertionError(
                f"pgbouncer exited: {output} {log.read_text() if log.exists() else ''}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("pgbouncer did not start listening")


def client_logins(log: str, database_prefix: str) -> int:
    """How many client logins to databases named ``database_prefix...`` a log shows."""
    return sum(1 for line in log.splitlines() if f"login attempt: db={database_prefix}" in line)


def main() -> None:
    """``python -m tests.pooler COMMAND...``: run COMMAND with ``DATABASE_POOL_URL``
    naming a PgBouncer (transaction mode, free port) in front of ``DATABASE_URL``'s
    server; exit with COMMAND's status, or 1 if no test database was reached through
    the pooler."""
    command = sys.argv[1:]
    if not command:
        raise SystemExit("usage: python -m tests.pooler COMMAND [ARGUMENT...]")
    server = os.environ.get("DATABASE_URL", "").strip()
    if not server:
        raise SystemExit("tests.pooler: DATABASE_URL must name the server PgBouncer fronts")
    with pgbouncer(server) as pooler:
        print(f"PgBouncer (transaction mode) at {pooler.url}", flush=True)
        status = subprocess.run(command, env={**os.environ, "DATABASE_POOL_URL": pooler.url})
        log = pooler.log.read_text()
    logins = client_logins(log, "masterplan_test")
    print(f"PgBouncer served {logins} client logins to the test databases", flush=True)
    if status.returncode == 0 and logins == 0:
        raise SystemExit("tests.pooler: no test reached the database through PgBouncer")
    raise SystemExit(status.returncode)


if __name__ == "__main__":
    main()
