"""Benchmark: signed WhatsApp webhook payloads posted to a running server.

Starts the project (`uvicorn app.main:app`) and a minimal Starlette + asyncpg app
running the same SQL (bench/minimal_webhook_app.py), one uvicorn worker each, on
free ports against one migrated database; each gets its own workspace and number.
Then, for each server in turn:

- latency: single-message payloads posted one after another (p50, p95);
- throughput: payloads of 50 messages posted by 4 clients at once (messages/s).

Every message comes from a new sender (a new lead and thread), like a campaign's
first replies. The response comes after the transaction commits. Senders are
known by their phone number (``--senders phone``, the default), by WhatsApp's
business-scoped user id alone (``username``: a username user whose number is
withheld) or by both (``both``: the lead is found by either key and linked).

    .venv/bin/python bench/whatsapp_webhook.py [--singles N] [--batches N] [--senders S]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

DATABASE = "masterplan_bench_webhook"
SECRET = "bench-app-secret"
BATCH = 50
CLIENTS = 4


SENDERS = "phone"  # set from --senders


def message(sender: int, wamid: str) -> dict:
    found = {
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": "Is the offer still on?"},
    }
    if SENDERS in ("phone", "both"):
        found["from"] = f"60{sender:09d}"
    if SENDERS in ("username", "both"):
        found["from_user_id"] = f"MY.{sender:020d}"
    return found


def contact(m: dict) -> dict:
    keys = {"wa_id": m.get("from"), "user_id": m.get("from_user_id")}
    return {"profile": {"name": "Lead"}, **{k: v for k, v in keys.items() if v}}


def payload(phone_number_id: str, messages: list[dict]) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [contact(m) for m in messages],
        "messages": messages,
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(document).encode()


async def prepare() -> str:
    import asyncpg

    from app.db.server import server_url, with_database
    from tests.database_setup import piccolo

    server = server_url()
    admin = await asyncpg.connect(server)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    await admin.close()
    url = with_database(server, DATABASE)
    print("Migrating ...", flush=True)
    await asyncio.to_thread(piccolo, url, "migrations", "forwards", "all")
    connection = await asyncpg.connect(url)
    for side in ("project", "minimal"):
        workspace_id = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ($1) RETURNING id", side
        )
        await connection.execute(
            "INSERT INTO whatsapp_number (workspace_id, phone_number_id) VALUES ($1, $2)",
            workspace_id,
            f"number-{side}",
        )
    await connection.close()
    return url


async def post(client, base_url: str, body: bytes) -> float:
    from app.whatsapp.signature import signature_of

    started = time.perf_counter()
    response = await client.post(
        f"{base_url}/api/v1/integrations/whatsapp/webhook",
        content=body,
        headers={"X-Hub-Signature-256": signature_of(body, SECRET)},
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"webhook answered {response.status_code}: {response.text[:200]}")
    return elapsed


async def measure(side: str, base_url: str, singles: int, batches: int, offset: int) -> dict:
    import httpx

    number = f"number-{side}"
    async with httpx.AsyncClient(timeout=60) as client:
        for n in range(20):  # warm up
            await post(client, base_url, payload(number, [message(offset + n, f"w-{side}-{n}")]))
        latencies = []
        for n in range(singles):
            sender = offset + 100 + n
            body = payload(number, [message(sender, f"s-{side}-{n}")])
            latencies.append(await post(client, base_url, body) * 1000)
        queue = list(range(batches))

        async def worker() -> None:
            while queue:
                b = queue.pop()
                first = offset + 1_000_000 + b * BATCH
                messages = [message(first + i, f"b-{side}-{b}-{i}") for i in range(BATCH)]
                await post(client, base_url, payload(number, messages))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    result = {
        "side": side,
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[int(len(ordered) * 0.95)],
        "messages_per_second": batches * BATCH / seconds,
    }
    print(
        f"  {side:<8} single p50 {result['p50_ms']:.1f} ms p95 {result['p95_ms']:.1f} ms; "
        f"batches of {BATCH}: {result['messages_per_second']:,.0f} messages/s",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--senders", choices=("phone", "username", "both"), default="phone")
    options = parser.parse_args()
    global SENDERS
    SENDERS = options.senders

    from app.db.server import run_sync
    from tests.server import served_app

    started = time.monotonic()
    url = run_sync(prepare)
    env = {"DATABASE_URL": url, "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": "bench"}
    # No access log: nothing reads the servers' output while they run.
    quiet = ["--no-access-log", "--log-level", "warning"]
    project = ["-m", "uvicorn", "app.main:app", *quiet]
    minimal = ["-m", "uvicorn", "--app-dir", "bench", "minimal_webhook_app:app", *quiet]
    results = []
    with served_app(env, project) as (project_url, _), served_app(env, minimal) as (minimal_url, _):
        for offset, (side, base_url) in enumerate(
            (("project", project_url), ("minimal", minimal_url))
        ):
            results.append(
                asyncio.run(
                    measure(side, base_url, options.singles, options.batches, offset * 10**8)
                )
            )
    print("| server | single p50 | single p95 | messages/s (batches of 50, 4 clients) |")
    print("| --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['side']} | {r['p50_ms']:.1f} ms | {r['p95_ms']:.1f} ms | "
            f"{r['messages_per_second']:,.0f} |"
        )
    ours, yardstick = results
    print(
        f"project {ours['messages_per_second']:,.0f} messages/s, single p95 "
        f"{ours['p95_ms']:.1f} ms; minimal app {yardstick['messages_per_second']:,.0f} "
        f"messages/s, p95 {yardstick['p95_ms']:.1f} ms; senders by {SENDERS}; "
        f"{time.monotonic() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
