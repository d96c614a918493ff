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
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.api_hot_paths import prepare  # noqa: E402
from bench.api_http import serving  # noqa: E402

OPERATOR, PASSWORD = "bench-operator", "bench-operator-password"

# (name, path under /admin, query) as the admin UI sends them: lists with the
# table's default order and readable foreign keys, counts with the same filters.
LIST = {"__page_size": 15, "__readable": "true"}
LEAD_LIST = {**LIST, "__order": "-created_at"}
REQUESTS = [
    ("lead list, first page", "/api/tables/lead/", LEAD_LIST),
    (
        "lead search by external id (contains)",
        "/api/tables/lead/",
        {**LEAD_LIST, "external_id": "0500012", "external_id__match": "contains"},
    ),
    (
        "lead search by external id (starts)",
        "/api/tables/lead/",
        {**LEAD_LIST, "external_id": "+105000", "external_id__match": "starts"},
    ),
    (
        "lead search by name (contains)",
        "/api/tables/lead/",
        {**LEAD_LIST, "name": "ana 77-", "name__match": "contains"},
    ),
    ("lead count, unfiltered", "/api/tables/lead/count/", {}),
    ("lead count, stage filter", "/api/tables/lead/count/", {"stage": "CONTACTED"}),
    (
        "lead count, rare stage filter",
        "/api/tables/lead/count/",
        {"stage": "OUTCOME_PURCHASE", "stage__match": "contains"},
    ),
    (
        "lead count, external id contains",
        "/api/tables/lead/count/",
        {"external_id": "0500012", "external_id__match": "contains"},
    ),
    (
        "lead count, name contains (many)",
        "/api/tables/lead/count/",
        {"name": "ana", "name__match": "contains"},
    ),
    ("lead list, page 5,000", "/api/tables/lead/", {**LEAD_LIST, "__page": 5000}),
    ("lead picker search", "/api/tables/lead/ids/", {"search": "0500012", "limit": 20}),
    (
        "thread list, one workspace",
        "/api/tables/conversation_thread/",
        {**LIST, "__order": "-created_at", "workspace_id": 500},
    ),
    ("thread count, status", "/api/tables/conversation_thread/count/", {"status": "closed"}),
    (
        "message list, role model",
        "/api/tables/chat_message/",
        {**LIST, "__order": "-created_at", "role": "model"},
    ),
    ("message count, role model", "/api/tables/chat_message/count/", {"role": "model"}),
    (
        "decision list, denied",
        "/api/tables/policy_decision/",
        {**LIST, "__order": "-created_at", "allow_send": "false"},
    ),
    (
        "decision count, reason contains",
        "/api/tables/policy_decision/count/",
        {"reason_code": "QUIET", "reason_code__match": "contains"},
    ),
    (
        "change log, one lead's history",
        "/api/tables/change_log/",
        {**LIST, "__order": "-created_at", "lead_id": 500_000},
    ),
    ("overview page, one workspace", "/overview/", {"workspace": 500}),
]

# Leads filled before they had names get them (triggers off: a bulk fill, not changes).
NAME_LEADS = """
SET session_replication_role = replica;
UPDATE lead SET name = (ARRAY['Ana','Rui','Maria','Joao','Ines','Tiago','Sofia','Pedro'])
    [1 + id % 8] || ' ' || workspace_id || '-' || id WHERE name IS NULL;
RESET session_replication_role;
VACUUM ANALYZE lead;
"""


async def ensure_names(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        if await connection.fetchval("SELECT EXISTS (SELECT 1 FROM lead WHERE name IS NULL)"):
            print("Naming the leads ...", flush=True)
            started = time.monotonic()
            for statement in NAME_LEADS.split(";"):
                if statement.strip():
                    await connection.execute(statement)
            print(f"  named in {time.monotonic() - started:.1f} s", flush=True)
    finally:
        await connection.close()


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
                response = await http.get(f"/admin{path}", params=params)
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
    asyncio.run(ensure_names(url))
    with serving(url) as base_url:
        rows = asyncio.run(measure(base_url, arguments.repeat))
    print("\n| admin request | p50 | max |\n|---|---|---|")
    for name, p50, worst, _ in rows:
        print(f"| {name} | {p50:.1f} ms | {worst:.1f} ms |")
    print(f"\n{len(rows)} admin requests, {arguments.repeat} runs each, one uvicorn worker")


if __name__ == "__main__":
    main()
