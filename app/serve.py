"""Serve app.main:app with uvicorn until Ctrl-C or SIGTERM, then exit 0.

    python -m app.serve [--host HOST] [--port PORT] [--workers N] [--no-access-log]

--host and --port default to the HOST and PORT settings (app/settings.py).

On SIGTERM or Ctrl-C uvicorn stops accepting connections, lets the requests in
flight finish (at most ``GRACEFUL_SHUTDOWN_SECONDS``), runs the lifespan's
shutdown (pool closed, embedded PostgreSQL stopped) and re-raises the signal;
that re-raised signal ends the process with status 0, not as killed.

With ``--workers N`` above 1, this process supervises N uvicorn worker processes
sharing one listening socket (uvicorn restarts a worker that dies). The embedded
PostgreSQL, when no ``DATABASE_URL`` is set, is started here once and handed to
the workers as their ``DATABASE_URL``; SIGTERM or Ctrl-C stops every worker
(each finishing its requests in flight), then the embedded server, then exits 0.

Metrics (app/metrics.py): every run gets a fresh ``PROMETHEUS_MULTIPROC_DIR`` (a
new temporary directory, removed at the end; or the one the environment names,
emptied at the start), so that ``GET /metrics`` on any worker adds up all of them
and a run never counts a previous run's requests. A worker that dies is marked
dead there: its gauges leave the sums, its counters stay. Log lines follow
``LOG_FORMAT`` (app/logs.py).
"""

import argparse
import contextlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

from app.__main__ import worker_count
from app.db.server import configured_url, database_url, stop_embedded_server
from app.logs import logging_config
from app.settings import settings

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client at import

GRACEFUL_SHUTDOWN_SECONDS = 30


def _stopped(signum: int, _frame: object) -> None:
    """The signal uvicorn re-raises after its graceful shutdown."""
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__)
    parser.add_argument("--host", default=settings().server.host)
    parser.add_argument("--port", type=int, default=settings().server.port)
    parser.add_argument("--workers", type=worker_count, default=1)
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    config = uvicorn.Config(
        "app.main:app",
        host=arguments.host,
        port=arguments.port,
        workers=arguments.workers,
        access_log=arguments.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        forwarded_allow_ips=settings().server.forwarded_allow_ips,
        log_config=logging_config(settings().observability.log_format),
    )
    with fresh_metrics_directory():
        try:
            if arguments.workers > 1:
                _share_the_database()
                sockets = [listening_socket(config.host, config.port)]
                MetricsKeepingWorkers(config, sockets=sockets).run()
            else:
                uvicorn.Server(config).run()
        finally:
            stop_embedded_server()


@contextlib.contextmanager
def fresh_metrics_directory() -> Iterator[Path]:
    """A ``PROMETHEUS_MULTIPROC_DIR`` holding only this run's metrics, named to the
    workers through the environment: the one configured, emptied now, else a new
    temporary one, removed at the end."""
    configured = os.environ.get(MULTIPROCESS_DIR, "").strip()
    if configured:
        directory = Path(configured)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for stale in directory.glob("*.db"):
                stale.unlink()
        except OSError as error:
            raise SystemExit(
                f"masterplan: {MULTIPROCESS_DIR} {configured}: {error.strerror}"
            ) from None
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="masterplan-metrics-"))
    os.environ[MULTIPROCESS_DIR] = str(directory)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class MetricsKeepingWorkers(Multiprocess):
    """uvicorn's worker supervisor, which also marks each worker that ends dead in
    the metrics directory (``prometheus_client.multiprocess.mark_process_dead``)."""

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        from prometheus_client import multiprocess  # after the directory is named

        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                multiprocess.mark_process_dead(pid)


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket the workers share, made as TCP explicitly.

    A socket with protocol 0 passes it to the connections it accepts, and asyncio
    leaves Nagle's algorithm on for them (it sets TCP_NODELAY only on sockets that say
    IPPROTO_TCP): every keep-alive request after the first would wait about 40 ms for
    the client's delayed ACK. uvicorn's own listener did so before 0.55 (uvicorn#3149).
    A port in use is one readable line.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SystemExit(f"masterplan: cannot listen on {host}:{port}: {error.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _share_the_database() -> None:
    """Without ``DATABASE_URL``, start the embedded PostgreSQL in the supervising
    process and name it to the workers, so it starts once and outlives any worker."""
    if not configured_url():
        os.environ["DATABASE_URL"] = database_url()  # or one readable line and exit
        settings.cache_clear()


if __name__ == "__main__":
    main()
