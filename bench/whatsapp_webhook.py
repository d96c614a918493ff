"""Benchmark: signed WhatsApp webhook payloads posted to a running server.

Starts the project (`uvicorn app.main:app`) and a minimal Starlette + asyncpg app
running the same SQL (bench/minimal_webhook_app.py), one uvicorn worker each, on
free ports against one migrated database; each gets its own workspace and number.
Then, for each server in turn:

- latency: single-message payloads posted one after another (p50, p95);
- throughput: payloads of 50 messages posted by 4 clients at once (messages/s);
- status updates: then a message we sent is recorded in each of those threads, and
  payloads of 50 status reports on them are posted by 4 clients at once (statuses/s):
  of every 10, 4 delivered, 3 read and 3 failed with an error, the codes in turn
  131026, 131049, 131047, 130429, 131056 (undeliverable and the marketing limit mark
  the lead: app/whatsapp/failures.py).

Every message comes from a new sender (a new lead and thread), like a campaign's
first replies. The response comes after the transaction commits. Senders are
known by their phone number (``--senders phone``, the default), by WhatsApp's
business-scoped user id alone (``username``: a username user whose number is
withheld) or by both (``both``: the lead is found by either key and linked).

    .venv/bin/python bench/whatsapp_webhook.py [--singles N] [--batches N] [--senders S]
        [--database NAME]
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

SECRET = "bench-app-secret"
BATCH = 50
CLIENTS = 4


SENDERS = "phone"  # set from --senders
DATABASE = ""  # set from --database
# Of every 10 status reports: 4 delivered, 3 read, 3 failed with these codes in turn.
STATES = ("delivered",) * 4 + ("read",) * 3 + ("failed",) * 3
FAILURES = {
    131026: "Message undeliverable",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131047: "Re-engagement message",
    130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
}


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


def status(n: int, wamid: str) -> dict:
    """The ``n``th status report of the mix, on the message ``wamid``."""
    state = STATES[n % len(STATES)]
    report = {"id": wamid, "status": state, "timestamp": str(int(time.time()))}
    if state == "failed":
        code = list(FAILURES)[n // len(STATES) % len(FAILURES)]
        title = FAILURES[code]
        details = {"details": "The message could not be delivered."}
        report["errors"] = [{"code": code, "title": title, "message": title, "error_data": details}]
    return report


def payload(
    phone_number_id: str, messages: list[dict] = (), statuses: list[dict] | None = None
) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [contact(m) for m in messages],
        "messages": list(messages),
    }
    if statuses:
        value = {"messaging_product": value["messaging_product"], "metadata": value["metadata"]}
        value["statuses"] = statuses
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


async def sent_messages(url: str, side: str, count: int) -> list[str]:
    """A message we sent, under a send permit, in each of ``count`` of the side's
    threads (its first ones); their platform ids."""
    import asyncpg

    connection = await asyncpg.connect(url)
    workspace_id = await connection.fetchval("SELECT id FROM workspace WHERE name = $1", side)
    threads = await connection.fetch(
        "SELECT id, lead_id FROM conversation_thread WHERE workspace_id = $1 ORDER BY id LIMIT $2",
        workspace_id,
        count,
    )
    permits = await connection.fetch(
        "INSERT INTO policy_decision (workspace_id, lead_id, allow_send, reason_code, kind, "
        "message_format) SELECT $1, lead, true, 'POLICY_PASSED', 'followup', 'template' "
        "FROM unnest($2::bigint[]) AS lead RETURNING id, lead_id",
        workspace_id,
        [t["lead_id"] for t in threads],
    )
    permit_of = {p["lead_id"]: p["id"] for p in permits}
    wamids = [f"out-{side}-{n}" for n in range(len(threads))]
    await connection.execute(
        "INSERT INTO chat_message (thread_id, role, content, permit_id, platform_message_id) "
        "SELECT thread, 'model', 'Is the offer still of interest?', permit, wamid "
        "FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS sent (thread, permit, wamid)",
        [t["id"] for t in threads],
        [permit_of[t["lead_id"]] for t in threads],
        wamids,
    )
    # Sent a while before their reports arrive: the bulk insert's tables are vacuumed
    # and analysed first, as autovacuum would have done by then.
    await connection.execute("VACUUM (ANALYZE) chat_message, policy_decision, change_log, lead")
    await connection.close()
    return wamids


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


async def throughput(client, base_url: str, bodies: list[bytes]) -> float:
    """Seconds to post ``bodies`` from CLIENTS clients at once."""
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            await post(client, base_url, queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return time.perf_counter() - started


async def measure(
    side: str, base_url: str, url: str, singles: int, batches: int, offset: int
) -> dict:
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
        bodies = []
        for b in range(batches):
            first = offset + 1_000_000 + b * BATCH
            messages = [message(first + i, f"b-{side}-{b}-{i}") for i in range(BATCH)]
            bodies.append(payload(number, messages))
        seconds = await throughput(client, base_url, bodies)
        wamids = await sent_messages(url, side, batches * BATCH)
        reports = [status(n, wamid) for n, wamid in enumerate(wamids)]
        batched = [reports[n : n + BATCH] for n in range(0, len(reports), BATCH)]
        status_seconds = await throughput(
            client, base_url, [payload(number, statuses=b) for b in batched]
        )
    ordered = sorted(latencies)
    result = {
        "side": side,
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[int(len(ordered) * 0.95)],
        "messages_per_second": batches * BATCH / seconds,
        "statuses_per_second": len(reports) / status_seconds,
    }
    print(
        f"  {side:<8} single p50 {result['p50_ms']:.1f} ms p95 {result['p95_ms']:.1f} ms; "
        f"batches of {BATCH}: {result['messages_per_second']:,.0f} messages/s, "
        f"{result['statuses_per_second']:,.0f} statuses/s",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--senders", choices=("phone", "username", "both"), default="phone")
    parser.add_argument(
        "--database",
        default="masterplan_bench_webhook",
        help="the database to create (dropped first)",
    )
    options = parser.parse_args()
    global SENDERS, DATABASE
    SENDERS, DATABASE = options.senders, options.database

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
                    measure(side, base_url, url, options.singles, options.batches, offset * 10**8)
                )
            )
    print(
        "| server | single p50 | single p95 | messages/s (batches of 50, 4 clients) "
        "| statuses/s (batches of 50, 3 in 10 failed) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['side']} | {r['p50_ms']:.1f} ms | {r['p95_ms']:.1f} ms | "
            f"{r['messages_per_second']:,.0f} | {r['statuses_per_second']:,.0f} |"
        )
    ours, yardstick = results
    print(
        f"project {ours['messages_per_second']:,.0f} messages/s, "
        f"{ours['statuses_per_second']:,.0f} statuses/s, single p95 {ours['p95_ms']:.1f} ms; "
        f"minimal app {yardstick['messages_per_second']:,.0f} messages/s, "
        f"{yardstick['statuses_per_second']:,.0f} statuses/s, p95 {yardstick['p95_ms']:.1f} ms; "
        f"senders by {SENDERS}; {time.monotonic() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
