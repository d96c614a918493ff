"""Serve app.main:app with uvicorn until Ctrl-C or SIGTERM, then exit 0.

    python -m app.serve [--host HOST] [--port PORT] [--workers N] [--no-access-log]

On SIGTERM or Ctrl-C uvicorn stops accepting connections, lets the requests in
flight finish (at most ``GRACEFUL_SHUTDOWN_SECONDS``), runs the lifespan's
shutdown (pool closed, embedded PostgreSQL stopped) and re-raises the signal;
that re-raised signal ends the process with status 0, not as killed.

With ``--workers N`` above 1, this process supervises N uvicorn worker processes
sharing one listening socket (uvicorn restarts a worker that dies). The embedded
PostgreSQL, when no ``DATABASE_URL`` is set, is started here once and handed to
the workers as their ``DATABASE_URL``; SIGTERM or Ctrl-C stops every worker
(each finishing its requests in flight), then the embedded server, then exits 0.
"""

import argparse
import os
import signal

import uvicorn

from app.__main__ import worker_count
from app.database import database_url, stop_embedded_server

GRACEFUL_SHUTDOWN_SECONDS = 30


def _stopped(signum: int, _frame: object) -> None:
    """The signal uvicorn re-raises after its graceful shutdown."""
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=worker_count, default=1)
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    if arguments.workers > 1:
        _share_the_database()
    try:
        uvicorn.run(
            "app.main:app",
            host=arguments.host,
            port=arguments.port,
            workers=arguments.workers,
            access_log=arguments.access_log,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    finally:
        stop_embedded_server()


def _share_the_database() -> None:
    """Without ``DATABASE_URL``, start the embedded PostgreSQL in the supervising
    process and name it to the workers, so it starts once and outlives any worker."""
    if not os.environ.get("DATABASE_URL", "").strip():
        os.environ["DATABASE_URL"] = database_url()  # or one readable line and exit


if __name__ == "__main__":
    main()
