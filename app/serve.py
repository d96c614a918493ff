"""Serve app.main:app with uvicorn until Ctrl-C or SIGTERM, then exit 0.

    python -m app.serve [--host HOST] [--port PORT] [--no-access-log]

On SIGTERM or Ctrl-C uvicorn stops accepting connections, lets the requests in
flight finish (at most ``GRACEFUL_SHUTDOWN_SECONDS``), runs the lifespan's
shutdown (pool closed, embedded PostgreSQL stopped) and re-raises the signal;
that re-raised signal ends the process with status 0, not as killed.
"""

import argparse
import signal

import uvicorn

GRACEFUL_SHUTDOWN_SECONDS = 30


def _stopped(signum: int, _frame: object) -> None:
    """The signal uvicorn re-raises after its graceful shutdown."""
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    uvicorn.run(
        "app.main:app",
        host=arguments.host,
        port=arguments.port,
        access_log=arguments.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


if __name__ == "__main__":
    main()
