"""Benchmark: the operator admin on 1,000 workspaces and 1,000,000 leads, through the
real admin endpoints of a served app with a logged-in session.

    .venv/bin/python bench/admin_at_scale.py [--reuse] [--repeat 7]

Fills (or reuses) the database of bench/api_hot_paths.py, creates an operator,
serves app.main:app with one uvicorn worker, logs in as the browser does and times
each request (p50 and max of ``--repeat`` runs, wall time seen by the client on
the same machine).
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.api_hot_paths import prepare  # noqa: E402

OPERATOR, PASSWORD = "bench-operator", "bench-operator-password"

REQUESTS = [
    ("lead list, first page", "/tables/lead/", {"__page_size": 15}),
    (
        "lead search by external id (contains)",
        "/tables/lead/",
        {"external_id": "0500012", "external_id__match": "contains", "__page_size": 15},
    ),
    (
        "lead search by external id (starts)",
        "/tables/lead/",
        {"external_id": "+105000", "external_id__match": "starts", "__page_size": 15},
    ),
    (
        "lead search by name (contains)",
        "/tables/lead/",
        {"name": "ana", "name__match": "contains", "__page_size": 15},
    ),
    ("lead count, unfiltered", "/tables/lead/count/", {}),
    ("lead count, stage filter", "/tables/lead/count/", {"stage": "CONTACTED"}),
    (
        "lead count, external id contains",
        "/tables/lead/count/",
        {"external_id": "0500012", "external_id__match": "contains"},
    ),
    ("lead list, page 5,000", "/tables/lead/", {"__page": 5000, "__page_size": 15}),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def ensure_operator(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    from piccolo.apps.user.tables import BaseUser

    if not await BaseUser.exists().where(BaseUser.username == OPERATOR):
        await BaseUser.create_user(
            username=OPERATOR,
            password=PASSWORD,
            email="bench@example.com",
            admin=True,
            superuser=True,
            active=True,
        )


async def measure(base_url: str, repeat: int) -> list[tuple[str, float, float, int]]:
    import httpx

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        await http.get("/admin/")
        csrf = http.cookies["csrftoken"]
        login = await http.post(
            "/admin/public/login/",
            json={"username": OPERATOR, "password": PASSWORD},
            headers={"X-CSRFToken": csrf},
        )
        assert login.status_code in (200, 303), login.text
        rows = []
        for name, path, params in REQUESTS:
            timings = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = await http.get(f"/admin/api{path}", params=params)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (name, response.status_code, response.text)
            rows.append((name, statistics.median(timings), max(timings), response.status_code))
            print(f"  {name:<40} p50 {rows[-1][1]:7.1f} ms  max {rows[-1][2]:7.1f} ms", flush=True)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", action="store_true", help="reuse a filled database")
    parser.add_argument("--repeat", type=int, default=7)
    arguments = parser.parse_args()
    url = asyncio.run(prepare(arguments.reuse))
    asyncio.run(ensure_operator(url))
    port = free_port()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/uvicorn"),
            "app.main:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "DATABASE_URL": url},
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        rows = asyncio.run(measure(f"http://127.0.0.1:{port}", arguments.repeat))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("\n| admin request | p50 | max |\n|---|---|---|")
    for name, p50, worst, _ in rows:
        print(f"| {name} | {p50:.1f} ms | {worst:.1f} ms |")
    print(f"\n{len(rows)} admin requests, {arguments.repeat} runs each, one uvicorn worker")


if __name__ == "__main__":
    main()
