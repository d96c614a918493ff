"""Benchmark: the API's hot paths through the project's code against raw asyncpg.

Fills a database (1,000 workspaces, 1,000,000 leads, threads for 30% of them
with 4 messages each, one policy decision per thread, an ACTIVE strategy and a
granted attestation per workspace) on the configured server
(DATABASE_URL, else the embedded one), then times each hot path: the domain
function the API endpoint calls (Piccolo engine with a pool) and the same SQL
through a raw asyncpg pool of the same size, interleaved call by call.
The project's calls use workspaces 1-500, the raw ones 501-1000.

    .venv/bin/python bench/api_hot_paths.py [--reuse] [--iterations N]
"""

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

DATABASE = "masterplan_bench_api"
WORKSPACES = 1_000
LEADS_PER_WORKSPACE = 1_000
THREAD_SHARE = 0.3
MESSAGES_PER_THREAD = 4
POOL_SIZE = 4

FILL_STEPS = [
    (
        "workspaces",
        "INSERT INTO workspace (name) "
        "SELECT 'Workspace ' || n FROM generate_series(1, {workspaces}) n",
    ),
    (
        "leads",
        """INSERT INTO lead (workspace_id, external_id, name, stage, tags, next_followup_at)
        SELECT w, '+1' || lpad(w::text, 4, '0') || lpad(n::text, 6, '0'),
               (ARRAY['Ana','Rui','Maria','Joao','Ines','Tiago','Sofia','Pedro'])[1 + n % 8]
                   || ' ' || w || '-' || n,
               (ARRAY['NEW','CONTACTED','ENGAGED','QUALIFIED','CLOSED_LOST'])[1 + (n % 5)],
               CASE WHEN n % 4 = 0 THEN '["POSITIVE"]'::jsonb ELSE '[]'::jsonb END,
               now() + ((n % 200) - 100) * interval '1 hour'
        FROM generate_series({first}, {last}) w, generate_series(1, {per_workspace}) n""",
    ),
    (
        "threads",
        """INSERT INTO conversation_thread (workspace_id, lead_id)
        SELECT workspace_id, id FROM lead WHERE id % 10 < {thread_tenths}""",
    ),
    (
        "messages",
        """INSERT INTO chat_message (thread_id, role, content, created_at)
        SELECT t.id, (ARRAY['system','user','system','user'])[m], 'message ' || m,
               now() - (5 - m) * interval '1 minute'
        FROM conversation_thread t, generate_series(1, {messages}) m""",
    ),
    (
        "decisions",
        """INSERT INTO policy_decision (workspace_id, lead_id, allow_send, reason_code, rule_trace)
        SELECT workspace_id, lead_id, true, 'WITHIN_WINDOW', '{{"rule": "window"}}'::jsonb
        FROM conversation_thread""",
    ),
    (
        "strategies",
        """INSERT INTO strategy_version (workspace_id, version_number, status, followup_preset,
                                      activated_at)
        SELECT id, 1, 'ACTIVE', 'BALANCED', now() FROM workspace""",
    ),
    (
        "attestations",
        """INSERT INTO outreach_attestation (workspace_id, operator_id, granted, "timestamp")
        SELECT id, 'bench', true, now() - interval '1 day' FROM workspace""",
    ),
]


def numbered(sql: str) -> str:
    """Piccolo's {} placeholders as asyncpg's $1, $2, ..."""
    from app.db.executor import positional

    return positional(sql)


def run_piccolo(url: str, *arguments: str) -> None:
    import subprocess

    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "piccolo.main", *arguments], env=env, check=True)


async def fill(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for name, sql in FILL_STEPS:
            chunks = 10 if name == "leads" else 1
            per_chunk = WORKSPACES // chunks
            for chunk in range(chunks):
                started = time.monotonic()
                await connection.execute(
                    sql.format(
                        workspaces=WORKSPACES,
                        first=chunk * per_chunk + 1,
                        last=(chunk + 1) * per_chunk,
                        per_workspace=LEADS_PER_WORKSPACE,
                        thread_tenths=int(THREAD_SHARE * 10),
                        messages=MESSAGES_PER_THREAD,
                    )
                )
                print(
                    f"  filled {name} {chunk + 1}/{chunks} in {time.monotonic() - started:.1f} s",
                    flush=True,
                )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def prepare(reuse: bool, database: str = DATABASE) -> str:
    """The URL of the filled ``database`` on the configured server: filled afresh
    (dropped first if it exists) unless ``reuse`` and it exists."""
    import asyncpg

    from app.db.server import server_url, with_database

    server = server_url()
    url = with_database(server, database)
    admin = await asyncpg.connect(server)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists and reuse:
            print(f"Reusing the filled database {database} (migrated forwards)", flush=True)
            await asyncio.to_thread(run_piccolo, url, "migrations", "forwards", "all")
            return url
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    print("Migrating ...", flush=True)
    await asyncio.to_thread(run_piccolo, url, "migrations", "forwards", "all")
    print(f"Filling {WORKSPACES:,} workspaces, {WORKSPACES * LEADS_PER_WORKSPACE:,} leads ...")
    await fill(url)
    return url


Call = Callable[[], Awaitable[object]]


async def measure(name: str, project: Call, raw: Call, iterations: int) -> dict:
    timings: dict[str, list[float]] = {"project": [], "raw": []}
    for _ in range(20):  # warm up both pools and statement caches
        await project()
        await raw()
    for _ in range(iterations):
        pair = [("project", project), ("raw", raw)]
        random.shuffle(pair)
        for side, call in pair:
            started = time.perf_counter()
            await call()
            timings[side].append((time.perf_counter() - started) * 1e6)
    result = {"path": name}
    for side, values in timings.items():
        ordered = sorted(values)
        result[f"{side}_p50"] = statistics.median(ordered)
        result[f"{side}_p95"] = ordered[int(len(ordered) * 0.95)]
    result["ratio"] = result["project_p50"] / result["raw_p50"]
    return result


async def benchmark(url: str, iterations: int) -> list[dict]:
    import asyncpg
    from piccolo.engine import engine_finder

    from app import conversations, leads

    engine = engine_finder()
    await engine.start_connection_pool(min_size=POOL_SIZE, max_size=POOL_SIZE)
    pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
    ours = range(1, WORKSPACES // 2 + 1)
    theirs = range(WORKSPACES // 2 + 1, WORKSPACES + 1)

    def external_id(workspace: int) -> str:
        return f"+1{workspace:04d}{random.randint(1, LEADS_PER_WORKSPACE):06d}"

    threads = {
        row["workspace_id"]: []
        for row in await pool.fetch("SELECT id AS workspace_id FROM workspace")
    }
    for row in await pool.fetch("SELECT id, workspace_id FROM conversation_thread"):
        threads[row["workspace_id"]].append(row["id"])
    lead_ids = {}
    for row in await pool.fetch("SELECT workspace_id, min(id), max(id) FROM lead GROUP BY 1"):
        lead_ids[row["workspace_id"]] = (row["min"], row["max"])

    def random_lead(workspace: int) -> int:
        low, high = lead_ids[workspace]
        return random.randint(low, high)

    def random_thread(workspace: int) -> int:
        return random.choice(threads[workspace])

    by_external = numbered(leads.LEAD_BY_EXTERNAL_ID)
    upsert = numbered(leads.upsert_statement(("name",)))
    claim = numbered(leads.CLAIM_DUE)
    append = numbered(conversations.APPEND_MESSAGE)
    history = numbered(conversations.MESSAGE_PAGE)
    newest = conversations.NEWEST

    def pick(workspaces: range) -> int:
        return random.choice(workspaces)

    paths: list[tuple[str, Call, Call]] = [
        (
            "lead by external id",
            lambda: leads.lead_by_external_id((w := pick(ours)), external_id(w)),
            lambda: pool.fetch(by_external, (w := pick(theirs)), external_id(w)),
        ),
        (
            "upsert by external id",
            lambda: leads.upsert_lead((w := pick(ours)), external_id(w), {"name": "Ana"}),
            lambda: pool.fetch(upsert, (w := pick(theirs)), external_id(w), "Ana"),
        ),
        (
            "due claim (10, lease 300 s)",
            lambda: leads.claim_due_followups(pick(ours), 10, 300),
            lambda: pool.fetch(claim, None, pick(theirs), 10, 300),
        ),
        (
            "message append",
            lambda: conversations.append_message(
                (w := pick(ours)), random_thread(w), "user", "hello"
            ),
            lambda: pool.fetch(
                append, "user", "hello", None, None, random_thread(w := pick(theirs)), w
            ),
        ),
        (
            "message history page (50)",
            lambda: conversations.message_page((w := pick(ours)), random_thread(w), None, 50),
            lambda: pool.fetch(
                history, random_thread(w := pick(theirs)), w, newest[0], newest[1], 50
            ),
        ),
    ]
    results = []
    for name, project, raw in paths:
        result = await measure(name, project, raw, iterations)
        print(
            f"  {name:<30} project p50 {result['project_p50']:7.0f} us  "
            f"raw p50 {result['raw_p50']:7.0f} us  ratio {result['ratio']:.2f}",
            flush=True,
        )
        results.append(result)
    await pool.close()
    await engine.close_connection_pool()
    return results


def table(results: list[dict]) -> str:
    lines = [
        "| hot path | project p50 | project p95 | raw asyncpg p50 | raw asyncpg p95 | p50 ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['path']} | {r['project_p50']:.0f} us | {r['project_p95']:.0f} us | "
            f"{r['raw_p50']:.0f} us | {r['raw_p95']:.0f} us | {r['ratio']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep an already filled database")
    parser.add_argument("--iterations", type=int, default=2000)
    options = parser.parse_args()

    from app.db.server import run_sync

    started = time.monotonic()
    url = run_sync(lambda: prepare(options.reuse))
    os.environ["DATABASE_URL"] = url  # the project's engine (piccolo_conf) uses this database
    results = asyncio.run(benchmark(url, options.iterations))
    print(table(results))
    worst = max(results, key=lambda r: r["ratio"])
    print(
        f"{len(results)} hot paths x {options.iterations} calls in "
        f"{time.monotonic() - started:.0f} s; "
        f"worst p50 ratio {worst['ratio']:.2f}x ({worst['path']})"
    )


if __name__ == "__main__":
    main()
