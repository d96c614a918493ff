"""Benchmark: the admin's lead page (app/admin/lead_page.py) for a lead with 10,000
policy decisions, 1,000 messages and consent events, in a workspace of 1,000 leads
with 100 decisions each, through a served app with a logged-in session.

    .venv/bin/python bench/lead_page.py [--reuse] [--repeat 15]

Creates (or reuses) its own database on the server of DATABASE_URL (else the embedded
one), serves app.main:app with one uvicorn worker and times, as the client sees it:
the lead's first page, the page 100 pages older (reached by following "Older"
links), and a lead with no history, for comparison. The page also asks the policy
engine for its answer now (simulate and a schedule of 5), as an operator sees it.
"""

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.admin_at_scale import OPERATOR, PASSWORD  # noqa: E402
from bench.api_hot_paths import run_piccolo  # noqa: E402
from bench.api_http import serving  # noqa: E402

DATABASE = "masterplan_bench_lead_page"
LEADS, DECISIONS_PER_LEAD = 1_000, 100
BUSY_DECISIONS, BUSY_MESSAGES = 10_000, 1_000
DEEP_PAGE = 100

# Written as history (triggers off: a bulk fill, not changes), then analysed. The busy
# lead is lead 1: its decisions a minute apart, the others' spread over the same days.
FILL = """
SET session_replication_role = replica;
INSERT INTO workspace (name, timezone) VALUES ('Bench', 'Europe/Lisbon');
INSERT INTO outreach_attestation (workspace_id, operator_id, granted) VALUES (1, 'bench', true);
INSERT INTO strategy_version (workspace_id, version_number, followup_preset, status, activated_at)
VALUES (1, 1, 'BALANCED', 'ACTIVE', now());
INSERT INTO lead (workspace_id, external_id, name)
SELECT 1, '+3519100' || lpad(n::text, 5, '0'), 'Lead ' || n FROM generate_series(1, {leads}) n;
INSERT INTO policy_decision (workspace_id, lead_id, kind, allow_send, reason_code, summary,
                             next_allowed_at, created_at)
SELECT 1, 1, 'followup', false, 'QUIET_HOURS', 'outside the send window',
       now() - n * interval '1 minute' + interval '12 hours', now() - n * interval '1 minute'
  FROM generate_series(1, {busy}) n;
INSERT INTO policy_decision (workspace_id, lead_id, kind, allow_send, reason_code, summary,
                             next_allowed_at, created_at)
SELECT 1, lead.id, 'followup', false, 'QUIET_HOURS', 'outside the send window',
       now() + interval '12 hours', now() - (n * 97 % {busy}) * interval '1 minute'
  FROM lead, generate_series(1, {per_lead}) n WHERE lead.id > 1;
INSERT INTO conversation_thread (workspace_id, lead_id) VALUES (1, 1);
INSERT INTO chat_message (thread_id, role, content, created_at)
SELECT 1, 'user', 'message ' || n, now() - n * interval '7 minutes'
  FROM generate_series(1, {messages}) n;
INSERT INTO consent_wording (workspace_id, version, business_name, text, sha256)
VALUES (1, 1, 'Bench', 'Yes, Bench may write to me.', repeat('0', 64));
INSERT INTO consent_event (workspace_id, lead_id, action, purpose, wording_id, method,
                           captured_at, recorded_at)
VALUES (1, 1, 'grant', 'marketing', 1, 'web_form', now() - interval '3 days', now()),
       (1, 1, 'revoke', 'marketing', NULL, NULL, now() - interval '2 days', now()),
       (1, 1, 'grant', 'marketing', 1, 'verbal', now() - interval '1 day', now());
RESET session_replication_role;
VACUUM ANALYZE
"""


async def prepare(reuse: bool) -> str:
    import asyncpg

    from app.db.server import server_url, with_database

    server = server_url()
    url = with_database(server, DATABASE)
    admin = await asyncpg.connect(server)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if exists and reuse:
            return url
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    await asyncio.to_thread(run_piccolo, url, "migrations", "forwards", "all")
    connection = await asyncpg.connect(url)
    try:
        started = time.monotonic()
        fill = FILL.format(
            leads=LEADS, busy=BUSY_DECISIONS, per_lead=DECISIONS_PER_LEAD, messages=BUSY_MESSAGES
        )
        for statement in fill.split(";\n"):
            await connection.execute(statement)
        print(f"Filled in {time.monotonic() - started:.1f} s", flush=True)
    finally:
        await connection.close()
    return url


async def ensure_operator(url: str) -> None:
    """The benchmark's operator, written straight into the benchmark's database."""
    import asyncpg
    from piccolo.apps.user.tables import BaseUser

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO piccolo_user (username, password, email, active, admin, superuser) "
            "VALUES ($1, $2, 'bench@example.com', true, true, true) "
            "ON CONFLICT (username) DO NOTHING",
            OPERATOR,
            BaseUser.hash_password(PASSWORD),
        )
    finally:
        await connection.close()


async def timed(http, path: str, repeat: int) -> tuple[float, float, str]:
    timings, body = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        response = await http.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        body = response.text
    return statistics.median(timings), max(timings), body


def older_link(html: str) -> str:
    match = re.search(r'href="([^"]+)" rel="next">Older', html)
    assert match, "no older page"
    return unescape(match.group(1))


async def measure(base_url: str, repeat: int) -> list[tuple[str, float, float]]:
    import httpx

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        await http.get("/admin/")
        login = await http.post(
            "/admin/public/login/",
            json={"username": OPERATOR, "password": PASSWORD},
            headers={"X-CSRFToken": http.cookies["csrftoken"]},
        )
        assert login.status_code in (200, 303), login.text
        rows = []
        p50, worst, html = await timed(http, "/admin/lead-page/1/", repeat)
        rows.append(("busy lead, first page", p50, worst))
        path = "/admin/lead-page/1/"
        for _ in range(DEEP_PAGE):
            html = (await http.get(path)).text
            path = older_link(html)
        p50, worst, _ = await timed(http, path, repeat)
        rows.append((f"busy lead, page {DEEP_PAGE + 1} (by 'Older' links)", p50, worst))
        p50, worst, _ = await timed(http, f"/admin/lead-page/{LEADS}/", repeat)
        rows.append(("a lead with 100 decisions, first page", p50, worst))
        for name, p50, worst in rows:
            print(f"  {name:<45} p50 {p50:7.1f} ms  max {worst:7.1f} ms", flush=True)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", action="store_true", help="reuse the filled database")
    parser.add_argument("--repeat", type=int, default=15)
    arguments = parser.parse_args()
    url = asyncio.run(prepare(arguments.reuse))
    asyncio.run(ensure_operator(url))
    with serving(url) as base_url:
        rows = asyncio.run(measure(base_url, arguments.repeat))
    print("\n| lead page request | p50 | max |\n|---|---|---|")
    for name, p50, worst in rows:
        print(f"| {name} | {p50:.1f} ms | {worst:.1f} ms |")
    print(f"\n{arguments.repeat} runs each, one uvicorn worker, client on the same machine")


if __name__ == "__main__":
    main()
