"""Benchmark: the API's hot paths over HTTP against a minimal Starlette + asyncpg app
serving the same SQL and JSON (bench/minimal_api_app.py), one uvicorn worker each,
same PostgreSQL, same 1,000,000 leads, in one run. Load from wrk (Debian package),
8 connections, each request picking a random row of the app's own workspace.

    .venv/bin/python bench/api_http.py [--reuse] [--seconds 5] [--rounds 3]
        [--stack standard|pure] [--compare-stack pure|standard]

``--stack`` is the uvicorn stack every server runs on (``standard``: uvloop and
httptools, as app/serve.py serves; ``pure``: asyncio and h11, uvicorn's pure-Python
server). ``--compare-stack`` serves both apps again on the other stack, in the same
rounds, for a before/after of the server itself.

Rounds alternate the apps path by path, in turn forwards and backwards (ABBA), so a
drift of the machine's speed falls on every app alike. The table gives each app's
median requests per second, the ratio this API / minimal app as the median of the
rounds' own ratios (each from runs seconds apart), and each server's CPU time per
request (steadier than throughput when other work shares the machine). On a machine
with two or more cores the servers run on the last core and wrk on the first
(``taskset``), so that the server measured never shares its core with its load.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.api_hot_paths import LEADS_PER_WORKSPACE, prepare  # noqa: E402

CONNECTIONS = 8
SAMPLE = 500  # rows per path written into the wrk script
# One workspace per app, so writes never meet (``before``: the --before checkout's API;
# ``api+`` and ``minimal+``: both apps on the --compare-stack).
WORKSPACE = {"api": 7, "minimal": 507, "before": 257, "api+": 132, "minimal+": 632}
# uvicorn's event loop and HTTP parser: ``standard`` (uvicorn[standard]) or pure Python.
STACKS = {
    "standard": ["--loop", "uvloop", "--http", "httptools"],
    "pure": ["--loop", "asyncio", "--http", "h11"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pinned(core: int) -> list[str]:
    """A command prefix running on one core, when the machine has more than one."""
    cores = os.cpu_count() or 1
    if cores < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(core % cores)]


def serve(
    name: str, url: str, root: Path = ROOT, *, pin: bool = True, stack: str = "standard"
) -> tuple[subprocess.Popen, str]:
    """Serve this API (``api``, from the checkout at ``root``) or the minimal app, one
    uvicorn worker on ``stack``; pinned to the last core unless ``pin`` is false."""
    port = free_port()
    app = "minimal_api_app:app" if name.startswith("minimal") else "app.main:app"
    command = [
        *(pinned(-1) if pin else []),
        str(ROOT / ".venv/bin/uvicorn"),
        app,
        "--app-dir",
        str(ROOT / "bench"),
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        *STACKS[stack],
    ]
    environment = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(root)}
    process = subprocess.Popen(command, env=environment, cwd=root)
    if listening(port):
        return process, f"http://127.0.0.1:{port}"
    raise SystemExit(f"{name} did not start")


@contextlib.contextmanager
def serving(url: str) -> Iterator[str]:
    """This API served (unpinned) for the block, on ``url``'s database; yields its
    base URL."""
    process, base_url = serve("api", url, pin=False)
    try:
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def listening(port: int, seconds: float = 60) -> bool:
    """Whether a server listens on ``port`` within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


async def setup(url: str) -> dict:
    """A token per app's workspace, and sample rows for each path."""
    import asyncpg

    from app.tokens import token_hash

    connection = await asyncpg.connect(url)
    try:
        setup = {}
        for name, workspace_id in WORKSPACE.items():
            token = f"mp_bench_{name}_{random.randrange(10**12)}"
            await connection.execute(
                "INSERT INTO api_token (workspace_id, name, token_hash) VALUES ($1, $2, $3)",
                workspace_id,
                f"bench {name}",
                token_hash(token),
            )
            await connection.execute(
                "UPDATE lead SET timezone = 'Europe/London', stage = 'CONTACTED' "
                "WHERE workspace_id = $1 AND stage IN ('TAKE_OVER', 'SUPPRESSED')",
                workspace_id,
            )
            lead_ids = [
                r["id"]
                for r in await connection.fetch(
                    "SELECT id FROM lead WHERE workspace_id = $1 ORDER BY random() LIMIT $2",
                    workspace_id,
                    SAMPLE,
                )
            ]
            thread_ids = [
                r["id"]
                for r in await connection.fetch(
                    "SELECT id FROM conversation_thread WHERE workspace_id = $1 "
                    "ORDER BY random() LIMIT $2",
                    workspace_id,
                    SAMPLE,
                )
            ]
            external_ids = [
                f"+1{workspace_id:04d}{n:06d}"
                for n in random.sample(range(1, LEADS_PER_WORKSPACE + 1), SAMPLE)
            ]
            setup[name] = {
                "token": token,
                "leads": lead_ids,
                "threads": thread_ids,
                "external_ids": external_ids,
            }
        return setup
    finally:
        await connection.close()


async def vacuum(url: str) -> None:
    """Clear the dead rows the previous path's writes left, so that every path starts
    from the same state for every app (each app writes only its own workspace's rows,
    and an app that wrote more would read through more dead row versions)."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM (ANALYZE) lead, conversation_thread, chat_message")
    finally:
        await connection.close()


# (name, method, path with %s for the sampled value, sample key, body)
PATHS = [
    ("GET a lead by id", "GET", "/api/v1/leads/%s", "leads", None),
    ("GET a lead by external id", "GET", "/api/v1/leads/by-external-id/%s", "external_ids", None),
    (
        "PUT upsert by external id",
        "PUT",
        "/api/v1/leads/by-external-id/%s",
        "external_ids",
        {"name": "Ana"},
    ),
    ("GET list 50 leads of a stage", "GET", "/api/v1/leads?stage=CONTACTED&limit=50%s", None, None),
    (
        "POST due claim (10, lease 1 s)",
        "POST",
        "/api/v1/followups/claim%s",
        None,
        {"limit": 10, "lease_seconds": 1},
    ),
    (
        "POST message append",
        "POST",
        "/api/v1/threads/%s/messages",
        "threads",
        {"role": "user", "content": "hello"},
    ),
    ("GET history page (50)", "GET", "/api/v1/threads/%s/messages?limit=50", "threads", None),
    ("POST send permit", "POST", "/api/v1/leads/%s/send-permits", "leads", {"kind": "followup"}),
]


def wrk_script(token: str, method: str, path: str, values: list | None, body: dict | None) -> str:
    items = ", ".join(json.dumps(str(v).replace("+", "%2B")) for v in values or [""])
    return f"""
local values = {{{items}}}
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
{f"wrk.body = {json.dumps(json.dumps(body))}" if body else ""}
request = function()
  local value = values[math.random(#values)]
  return wrk.format(nil, string.format("{path}", value))
end
local statuses = {{}}
response = function(status, headers, body)
  if status >= 400 then statuses[status] = (statuses[status] or 0) + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %f %d %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(95), summary.requests))
  io.write(string.format("ERRORS %d\\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    server: subprocess.Popen, base_url: str, script: str, seconds: float
) -> tuple[float, int, int, int, float]:
    """Requests per second, p50 and p95 latency (us), errors, and the server's CPU time
    per request (us): the last is what the app itself costs, and varies less than
    throughput when other work shares the machine."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    cpu_before = cpu_seconds(server.pid)
    try:
        output = subprocess.run(
            [
                *pinned(0),
                "wrk",
                "-t1",
                f"-c{CONNECTIONS}",
                f"-d{int(seconds)}s",
                "-s",
                handle.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    cpu = cpu_seconds(server.pid) - cpu_before
    result = next(line for line in output.splitlines() if line.startswith("RESULT"))
    errors = next(line for line in output.splitlines() if line.startswith("ERRORS"))
    rate, p50, p95, requests = result.split()[1:]
    cpu_per_request = cpu / max(int(requests), 1) * 1e6
    return float(rate), int(p50), int(p95), int(errors.split()[1]), cpu_per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", action="store_true", help="reuse a filled database")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="paths whose name contains this text")
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout of this project (git worktree add DIR REV): its API is "
        "served too, in the same rounds and the same workspace, for a before/after",
    )
    parser.add_argument("--stack", choices=STACKS, default="standard")
    parser.add_argument(
        "--compare-stack",
        choices=STACKS,
        help="serve both apps on this stack too (api+, minimal+), in the same rounds",
    )
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is required: apt-get install -y wrk")
    url = asyncio.run(prepare(arguments.reuse))
    samples = asyncio.run(setup(url))
    servers = {name: serve(name, url, stack=arguments.stack) for name in ("api", "minimal")}
    if arguments.before:
        servers["before"] = serve("api", url, arguments.before.resolve(), stack=arguments.stack)
    if arguments.compare_stack:
        for name in ("api+", "minimal+"):
            servers[name] = serve(name, url, stack=arguments.compare_stack)
    rows: list[tuple] = []
    stack_rows: list[tuple] = []
    try:
        for name, method, path, key, body in PATHS:
            if arguments.only and arguments.only not in name:
                continue
            measured: dict[str, list[tuple]] = {app: [] for app in servers}
            asyncio.run(vacuum(url))
            for round_number in range(arguments.rounds):
                order = list(servers.items())
                for app, (server, base_url) in order[:: -1 if round_number % 2 else 1]:
                    sample = samples[app]
                    script = wrk_script(
                        sample["token"], method, path, sample[key] if key else None, body
                    )
                    measured[app].append(run_wrk(server, base_url, script, arguments.seconds))
            rates = {app: statistics.median(m[0] for m in runs) for app, runs in measured.items()}
            p50 = {app: statistics.median(m[1] for m in runs) for app, runs in measured.items()}
            errors = {app: sum(m[3] for m in runs) for app, runs in measured.items()}
            cpu = {app: statistics.median(m[4] for m in runs) for app, runs in measured.items()}
            ratio = paired_ratio(measured, "api")
            rows.append((name, rates, p50, errors, ratio, cpu, paired_ratio(measured, "before")))
            if arguments.compare_stack:
                stack_rows.append((name, rates, cpu, stack_ratios(measured)))
            before = (
                f"  before {rates['before']:7.0f} req/s ({paired_ratio(measured, 'before'):.2f})"
                f" CPU {cpu['before']:.0f} us"
                if "before" in rates
                else ""
            )
            print(
                f"  {name:<32} api {rates['api']:7.0f} req/s  minimal {rates['minimal']:7.0f} "
                f"req/s  ratio {ratio:.2f}  server CPU {cpu['api']:.0f}/{cpu['minimal']:.0f} us"
                f"  errors {errors['api']}/{errors['minimal']}{before}",
                flush=True,
            )
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    print()
    print_table(rows, before=arguments.before is not None)
    if arguments.compare_stack:
        print()
        print_stack_table(stack_rows, arguments.stack, arguments.compare_stack)
    failed = [name for name, _, _, errors, *_ in rows if any(errors.values())]
    if failed:
        raise SystemExit(f"non-2xx answers or socket errors on: {', '.join(failed)}")
    print(
        f"\n{len(rows)} paths, {arguments.rounds} rounds of {arguments.seconds:g} s each, "
        f"{CONNECTIONS} connections, one uvicorn worker per app"
    )


def paired_ratio(measured: dict[str, list[tuple]], app: str, against: str = "minimal") -> float:
    """The median over rounds of ``app``'s rate / ``against``'s in the same round."""
    if app not in measured:
        return float("nan")
    pairs = zip(measured[app], measured[against], strict=True)
    return statistics.median(mine[0] / other[0] for mine, other in pairs)


def stack_ratios(measured: dict[str, list[tuple]]) -> dict[str, float]:
    """The compared stack against the run's: each app's rate on it / on the run's
    stack, and this API against the minimal app on each."""
    return {
        "api": paired_ratio(measured, "api+", "api"),
        "minimal": paired_ratio(measured, "minimal+", "minimal"),
        "floor": paired_ratio(measured, "api"),
        "floor+": paired_ratio(measured, "api+", "minimal+"),
    }


def print_stack_table(rows: list[tuple], stack: str, other: str) -> None:
    """Both apps on both uvicorn stacks: rates, the change of each app, the ratios."""
    print(
        f"| hot path | this API {stack} / {other} | {other} vs {stack} "
        f"| minimal {stack} / {other} | {other} vs {stack} "
        f"| ratio to minimal {stack} / {other} | server CPU API {stack} / {other} |"
    )
    print("|---" * 7 + "|")
    for name, rates, cpu, ratios in rows:
        print(
            f"| {name} | {rates['api']:,.0f} / {rates['api+']:,.0f} req/s | "
            f"{ratios['api'] - 1:+.0%} | {rates['minimal']:,.0f} / {rates['minimal+']:,.0f} "
            f"req/s | {ratios['minimal'] - 1:+.0%} | {ratios['floor']:.2f}x / "
            f"{ratios['floor+']:.2f}x | {cpu['api']:.0f} / {cpu['api+']:.0f} us |"
        )


def print_table(rows: list[tuple], before: bool) -> None:
    """The results as a Markdown table; with ``--before``, that API's columns too."""
    extra = " | before | ratio before | CPU before" if before else ""
    print(
        "| hot path | this API | minimal Starlette + asyncpg | ratio "
        f"| p50 latency (API / minimal) | server CPU per request (API / minimal){extra} |"
    )
    print("|---" * (9 if before else 6) + "|")
    for name, rates, p50, _, ratio, cpu, ratio_before in rows:
        cells = (
            f" | {rates['before']:,.0f} req/s | {ratio_before:.2f}x | {cpu['before']:.0f} us"
            if before
            else ""
        )
        print(
            f"| {name} | {rates['api']:,.0f} req/s | {rates['minimal']:,.0f} req/s | "
            f"{ratio:.2f}x | {p50['api'] / 1000:.1f} / {p50['minimal'] / 1000:.1f} ms | "
            f"{cpu['api']:.0f} / {cpu['minimal']:.0f} us{cells} |"
        )


if __name__ == "__main__":
    main()
