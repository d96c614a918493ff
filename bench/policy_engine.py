"""Benchmark: the policy engine on 1,000,000 leads against raw asyncpg.

Uses the database of bench/api_hot_paths.py (filled on first use: 1,000 workspaces,
1,000,000 leads, an ACTIVE strategy and a granted attestation per workspace; or the
one ``--database`` names). Every workspace requires consent, and nine leads in ten
hold a recorded marketing grant (one wording per workspace): the tenth is held by
CONSENT_MISSING, so both sides' claims skip it and the permits read the ledger.
Every workspace has the messaging tier TIER_100K (``--tier``): a limit its 1,000 leads
never reach, so each decision counts the people given a template permit in 24 h
and each transaction takes the workspace's messaging-limit lock, on both sides.

- Permit: ``engine.request_permit`` (lock the lead, load the inputs in one
  statement, decide, record, reschedule: one transaction) against the same SQL
  through a raw asyncpg pool of the same size, interleaved call by call. The raw
  side sends a recorded decision's values, so the difference is what the project
  adds: Piccolo, the pure decision and its trace.
- Dispatch: ``engine.dispatch`` in batches, leads gated and rescheduled per second
  with every decision recorded, against the same statements through asyncpg;
  ``--dispatchers`` callers at once in one process (default 2), as workers run it.
  The dispatched leads hold real mobile numbers (six countries, up to 16 candidate
  zones), so the engine reads their zones; each round measures a "cold" worker (its
  number cache empty) and a "warm" one, and the medians over rounds are reported.

    .venv/bin/python bench/policy_engine.py [--reuse] [--database NAME] [--iterations N]
                                            [--batch N] [--dispatchers N] [--rounds N]
                                            [--tier TIER] [--dispatch-from N]
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_hot_paths
from api_hot_paths import LEADS_PER_WORKSPACE, POOL_SIZE, WORKSPACES, measure

DISPATCH_WORKSPACES = 80  # 40 for the project, 40 for raw asyncpg; ~800 due leads each


async def permit_paths(pool, iterations: int) -> dict:
    from app.db.executor import positional
    from app.enums import SendKind
    from app.policy import engine

    lock, load, record = map(
        positional, (engine.LOCK_LEAD, engine.LOAD_INPUTS, engine.RECORD_DECISIONS)
    )
    sample = await engine.request_permit(1, 1, SendKind.FOLLOWUP)
    trace = json.dumps(sample["rule_trace"], separators=(",", ":"))

    def random_lead(workspace: int) -> int:
        return (workspace - 1) * LEADS_PER_WORKSPACE + random.randint(1, LEADS_PER_WORKSPACE)

    async def project() -> None:
        workspace = random.randint(1, WORKSPACES // 2)
        await engine.request_permit(workspace, random_lead(workspace), SendKind.FOLLOWUP)

    async def raw() -> None:
        workspace = random.randint(WORKSPACES // 2 + 1, WORKSPACES)
        lead = random_lead(workspace)
        async with pool.acquire() as connection, connection.transaction():
            await connection.fetch(lock, "followup", lead, workspace)
            [row] = await connection.fetch(load, None, workspace, [lead])
            at = row["at"]
            await connection.fetch(
                record, workspace, [lead], ["followup"], [True], ["POLICY_PASSED"],
                ["template"], [None], [trace], [sample["summary"]], [at],
                [lead], [True], [at], [at], [True], [None], [False], workspace,
            )  # fmt: skip

    return await measure("send permit (lock, load, decide, record)", project, raw, iterations)


# Dispatch leads get real mobile numbers, so that the engine reads their zones: New
# York, Miami (Florida's 20:00 rule), Malaysia, the UK, Russia (16 candidate zones)
# and Australia (8), one in six each; the raw side's leads get the same mix.
NUMBERS = """
UPDATE lead SET external_id = (ARRAY['+12122', '+13052', '+6012', '+447400', '+7912', '+61412'])
    [1 + id % 6] || lpad((id % 1000000)::text, CASE WHEN id % 6 IN (2, 4) THEN 7 ELSE 6 END, '0')
WHERE workspace_id = ANY($1::int[])
"""
# Back to the ids bench/api_hot_paths.py looks up.
SYNTHETIC_IDS = """
UPDATE lead SET external_id = '+1' || lpad(workspace_id::text, 4, '0')
    || lpad((id - (workspace_id - 1) * 1000)::text, 6, '0')
WHERE workspace_id = ANY($1::int[])
"""


async def phone_number_cost(pool, workspaces: range) -> dict:
    """libphonenumber's cost per lead: parsed for the first time, then from the cache."""
    from app.phone_numbers import lead_number

    rows = await pool.fetch(
        "SELECT external_id FROM lead WHERE workspace_id = ANY($1::int[]) LIMIT 6000",
        list(workspaces),
    )
    ids = [row["external_id"] for row in rows]
    lead_number.cache_clear()
    started = time.perf_counter()
    zoned = sum(bool(number and number.zones) for number in map(lead_number, ids))
    first = (time.perf_counter() - started) / len(ids) * 1e6
    started = time.perf_counter()
    for external_id in ids:
        lead_number(external_id)
    cached = (time.perf_counter() - started) / len(ids) * 1e6
    lead_number.cache_clear()
    print(f"  phone numbers: {zoned:,} of {len(ids):,} with zones; parse {first:.0f} us "
          f"per new id, {cached:.1f} us from the cache", flush=True)  # fmt: skip
    return {"ids": len(ids), "zoned": zoned, "first_us": first, "cached_us": cached}


# Consent: every workspace requires it, one wording each, a grant for 9 leads in 10
# (captured a day ago, imported). Run once per database; the event triggers stamp
# and log each row as they would any other.
CONSENT_STEPS = (
    "UPDATE workspace SET consent_required = true",
    "INSERT INTO consent_wording (workspace_id, business_name, text) "
    "SELECT id, name, 'Yes, ' || name || ' may send me offers on WhatsApp.' FROM workspace",
    "INSERT INTO consent_event (workspace_id, lead_id, action, purpose, channel, wording_id, "
    "method, evidence, captured_at) "
    "SELECT l.workspace_id, l.id, 'grant', 'marketing', 'whatsapp', w.id, 'import', "
    "'{\"source\": \"bench\"}'::jsonb, now() - interval '1 day' "
    "FROM lead l JOIN consent_wording w ON w.workspace_id = l.workspace_id "
    "WHERE l.id % 10 <> 0",
    "VACUUM ANALYZE consent_event",
)


async def consent_ready(pool) -> None:
    """The consent ledger filled (CONSENT_STEPS), unless it already is."""
    if await pool.fetchval("SELECT count(*) FROM consent_wording"):
        return
    for step in CONSENT_STEPS:
        started = time.monotonic()
        await pool.execute(step)
        print(f"  consent: {step[:40]}... {time.monotonic() - started:.1f} s", flush=True)


async def tier_ready(pool, tier: str) -> None:
    """Every workspace at the messaging tier ``tier``, unless it already is."""
    changed = await pool.execute(
        "UPDATE workspace SET messaging_tier = $1 WHERE messaging_tier <> $1", tier
    )
    print(f"  messaging tier {tier}: {changed.split()[-1]} workspaces changed", flush=True)


async def reset_due(pool, workspaces: range) -> int:
    """Make every lead of these workspaces due now, without a lease."""
    status = await pool.execute(
        "UPDATE lead SET next_followup_at = now() - interval '1 hour', "
        "followup_lease_until = NULL WHERE workspace_id = ANY($1::int[])",
        list(workspaces),
    )
    return int(status.split()[-1])


def raw_decisions(rows: list, sample) -> list[list]:
    """The raw side's decision and effect arrays for loaded rows, shaped as the project's
    mostly are: a template permit, or, for a lead permitted in the last 24 h, a
    deferral to 24 h after that permit (so that neither side's count of people grows
    by more than its leads in a day)."""
    at = rows[0]["at"]
    day = timedelta(hours=24)
    last = [max(row["recent_permits"], default=None) for row in rows]
    capped = [p is not None and p > at - day for p in last]
    n, ids = len(rows), [row["lead_id"] for row in rows]
    due = [p + day if c else at + 2 * day for p, c in zip(last, capped, strict=True)]
    lease_until = at + timedelta(seconds=300)
    allowed = [not c for c in capped]
    return [
        ids, ["followup"] * n, allowed,
        ["OUTBOUND_CAP_24H" if c else "POLICY_PASSED" for c in capped],
        [None if c else "template" for c in capped],
        [d if c else None for d, c in zip(due, capped, strict=True)],
        [sample["trace"]] * n, [sample["summary"]] * n, [at] * n,
        ids, allowed, [at] * n, due, [False] * n,
        [None if c else lease_until for c in capped], [False] * n,
    ]  # fmt: skip


async def dispatch_paths(pool, batch: int, dispatchers: int, rounds: int, first: int) -> list[dict]:
    """Each side empties the due follow-ups of its workspaces, ``dispatchers`` callers
    at once taking workspaces from a shared queue (rows are claimed SKIP LOCKED)."""
    from app.db.executor import positional
    from app.policy import engine

    ours = range(first, first + DISPATCH_WORKSPACES // 2)
    theirs = range(ours.stop, first + DISPATCH_WORKSPACES)
    await pool.execute(NUMBERS, list(range(ours.start, theirs.stop)))
    numbers = await phone_number_cost(pool, ours)
    due = {"project": await reset_due(pool, ours), "raw": await reset_due(pool, theirs)}
    limit_lock, due_sql, load, record = map(
        positional,
        (
            engine.LOCK_LIMITED_WORKSPACE,
            engine.DUE_LEADS,
            engine.LOAD_INPUTS,
            engine.RECORD_DECISIONS,
        ),
    )
    sample = await pool.fetchrow(
        "SELECT rule_trace::text AS trace, summary FROM policy_decision "
        "WHERE kind = 'followup' ORDER BY id DESC LIMIT 1"
    )

    async def project_batch(workspace: int) -> int:
        result = await engine.dispatch(workspace, batch, 300)
        return len(result.permits) + result.deferred + result.stopped

    async def raw_batch(workspace: int) -> int:
        async with pool.acquire() as connection, connection.transaction():
            await connection.fetch(limit_lock, workspace)
            claimed = [r["id"] for r in await connection.fetch(due_sql, None, workspace, batch)]
            if not claimed:
                return 0
            rows = await connection.fetch(load, None, workspace, claimed)
            await connection.fetch(record, workspace, *raw_decisions(rows, sample), workspace)
            return len(rows)

    async def drain(one_batch, workspaces: range) -> int:
        queue = list(workspaces)

        async def caller() -> int:
            gated = 0
            while queue:
                workspace = queue.pop()
                while count := await one_batch(workspace):
                    gated += count
            return gated

        return sum(await asyncio.gather(*(caller() for _ in range(dispatchers))))

    # "cold": a worker that has never seen these leads (every number is parsed);
    # "warm": the steady state of a worker that dispatches them again (numbers from
    # its cache). Each round runs both sides, in alternating order, after a
    # checkpoint, so that neither inherits the other's writes to flush; the ratios
    # reported are the medians over the rounds.
    from app.phone_numbers import lead_number

    results = []
    sides = [("project", project_batch, ours), ("raw", raw_batch, theirs)]
    for number in range(rounds):
        for warmth in ("cold", "warm"):
            if warmth == "cold":
                lead_number.cache_clear()
            due = {"project": await reset_due(pool, ours), "raw": await reset_due(pool, theirs)}
            rates = {}
            for side, one_batch, workspaces in sides if number % 2 == 0 else sides[::-1]:
                await pool.execute("CHECKPOINT")
                started = time.perf_counter()
                gated = await drain(one_batch, workspaces)
                seconds = time.perf_counter() - started
                rate = rates[side] = gated / seconds
                row = {"side": side, "warmth": warmth, "due": due[side], "gated": gated}
                results.append({**row, "seconds": seconds, "per_second": rate})
            print(f"  dispatch round {number + 1} {warmth}: project {rates['project']:,.0f}, "
                  f"raw {rates['raw']:,.0f} leads/s: {rates['project'] / rates['raw']:.2f}x "
                  f"({dispatchers} at once)", flush=True)  # fmt: skip
    await pool.execute(SYNTHETIC_IDS, list(range(ours.start, theirs.stop)))
    results.append({"side": "phone numbers", **numbers})
    return results


async def benchmark(
    url: str,
    iterations: int,
    batch: int,
    dispatchers: int,
    rounds: int,
    tier: str,
    first: int,
) -> tuple[dict, list[dict]]:
    import asyncpg
    from piccolo.engine import engine_finder

    engine = engine_finder()
    await engine.start_connection_pool(min_size=POOL_SIZE, max_size=POOL_SIZE)
    pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
    try:
        await consent_ready(pool)
        await tier_ready(pool, tier)
        permit = await permit_paths(pool, iterations)
        print(
            f"  {permit['path']}: project p50 {permit['project_p50']:.0f} us, "
            f"raw p50 {permit['raw_p50']:.0f} us, ratio {permit['ratio']:.2f}",
            flush=True,
        )
        dispatch = await dispatch_paths(pool, batch, dispatchers, rounds, first)
    finally:
        await pool.close()
        await engine.close_connection_pool()
    return permit, dispatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep an already filled database")
    parser.add_argument(
        "--database", default=api_hot_paths.DATABASE, help="the filled database's name"
    )
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500, help="leads per dispatch call")
    parser.add_argument("--dispatchers", type=int, default=2, help="dispatch callers at once")
    parser.add_argument("--rounds", type=int, default=3, help="dispatch rounds (cold and warm)")
    parser.add_argument(
        "--dispatch-from",
        type=int,
        default=WORKSPACES - DISPATCH_WORKSPACES + 1,
        help="the first of the dispatch workspaces (a run's permits count for 24 h)",
    )
    parser.add_argument(
        "--tier",
        default="TIER_100K",
        help="every workspace's messaging tier (UNLIMITED: unchecked)",
    )
    options = parser.parse_args()

    from app.db.server import run_sync
    from app.settings import settings

    started = time.monotonic()
    url = run_sync(lambda: api_hot_paths.prepare(options.reuse, options.database))
    os.environ["DATABASE_URL"] = url
    settings.cache_clear()  # the project's engine (piccolo_conf) reads it afresh
    permit, dispatch = asyncio.run(
        benchmark(
            url,
            options.iterations,
            options.batch,
            options.dispatchers,
            options.rounds,
            options.tier,
            options.dispatch_from,
        )
    )
    print("| path | project p50 | project p95 | raw asyncpg p50 | raw asyncpg p95 | p50 ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| {permit['path']} | {permit['project_p50']:.0f} us | {permit['project_p95']:.0f} us | "
        f"{permit['raw_p50']:.0f} us | {permit['raw_p95']:.0f} us | {permit['ratio']:.2f}x |"
    )
    print("| dispatch | leads gated | seconds | leads per second |")
    print("| --- | --- | --- | --- |")
    rounds = [row for row in dispatch if "warmth" in row]
    for row in rounds:
        gated, seconds, rate = row["gated"], row["seconds"], row["per_second"]
        print(f"| {row['side']} {row['warmth']} | {gated:,} | {seconds:.2f} | {rate:,.0f} |")
    ratios = {warmth: median_ratio(rounds, warmth) for warmth in ("cold", "warm")}
    print(
        f"permit p50 ratio {permit['ratio']:.2f}x over {options.iterations} calls; dispatch "
        f"median {ratios['cold']:.2f}x raw cold, {ratios['warm']:.2f}x warm over "
        f"{options.rounds} rounds, batches of {options.batch}, {options.dispatchers} callers "
        f"at once, messaging tier {options.tier}; {time.monotonic() - started:.0f} s in all"
    )


def median_ratio(rounds: list[dict], warmth: str) -> float:
    """The median over rounds of project / raw leads per second."""
    project = [
        row["per_second"] for row in rounds if row["warmth"] == warmth and row["side"] == "project"
    ]
    raw = [row["per_second"] for row in rounds if row["warmth"] == warmth and row["side"] == "raw"]
    return statistics.median(p / r for p, r in zip(project, raw, strict=True))


if __name__ == "__main__":
    main()
