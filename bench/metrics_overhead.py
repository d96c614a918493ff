"""Benchmark: what counting costs a request and a dispatch batch, in process.

The edge's ``ObservedRequests`` (request id, count and latency by route template)
around a trivial ASGI app against the app alone; ``count_decisions`` on a batch of
500 decisions; ``count_pool_acquire``. Run both ways: ``single`` (one process's
registry) and ``multi`` (``PROMETHEUS_MULTIPROC_DIR`` set, as ``app.serve`` runs it:
every increment is a write to a memory-mapped file). Best of ``--rounds``.

    .venv/bin/python bench/metrics_overhead.py [--requests 50000] [--rounds 5]
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = [("followup", "POLICY_PASSED", True)] * 300 + [("followup", "QUIET_HOURS", False)] * 200


class Route:
    """A route as Starlette names it in the scope."""

    path_format = "/leads/{lead_id}/send-permits"


async def bare(scope: dict, receive: object, send) -> None:
    scope["route"] = Route()
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def per_request(app, requests: int) -> float:
    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        pass

    started = time.perf_counter()
    for number in range(requests):
        scope = {
            "type": "http",
            "method": "POST",
            "path": f"/api/v1/leads/{number}/send-permits",
            "root_path": "/api/v1",
            "headers": [(b"x-request-id", b"edge-123")] if number % 2 else [],
        }
        await app(scope, receive, send)
    return (time.perf_counter() - started) / requests


def measure(mode: str, requests: int, rounds: int) -> None:
    """In a process of its own: the value class is chosen when prometheus_client loads."""
    sys.path.insert(0, str(ROOT))
    from app.edge.observed import ObservedRequests
    from app.metrics import count_decisions, count_pool_acquire

    observed = ObservedRequests(bare)
    costs, batches, pools = [], [], []
    for _ in range(rounds):
        alone = asyncio.run(per_request(bare, requests))
        costs.append(asyncio.run(per_request(observed, requests)) - alone)
        started = time.perf_counter()
        for _ in range(1000):
            count_decisions(BATCH)
        batches.append((time.perf_counter() - started) / 1000)
        started = time.perf_counter()
        for _ in range(requests):
            count_pool_acquire(5, 2, 10)
        pools.append((time.perf_counter() - started) / requests)
    print(
        f"| {mode} | {min(costs) * 1e6:.1f} us | {min(batches) * 1e6:.0f} us "
        f"| {min(pools) * 1e6:.1f} us |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=["single", "multi"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.mode:
        measure(arguments.mode, arguments.requests, arguments.rounds)
        return
    print("| registry | per request (edge) | per batch of 500 decisions | per pool acquisition |")
    print("|---|---|---|---|")
    for mode in ("single", "multi"):
        with tempfile.TemporaryDirectory() as directory:
            env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
            if mode == "multi":  # prometheus_client goes by the variable's presence
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            command = [sys.executable, __file__, "--mode", mode]
            command += ["--requests", str(arguments.requests), "--rounds", str(arguments.rounds)]
            subprocess.run(command, env=env, check=True)


if __name__ == "__main__":
    main()
