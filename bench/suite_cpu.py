"""Benchmark: where a command's CPU goes, by kind of process (for the test suite).

Runs the command, samples /proc every 0.3 s, and adds up each process's CPU by kind:
PostgreSQL (backends alive when sampled, plus what each postmaster reaped), pytest
workers, Schemathesis, piccolo commands, served processes, Chromium. Short-lived
processes between two samples are missed, so the kinds add up to a little less than
the machine's busy time, printed beside them.

    .venv/bin/python bench/suite_cpu.py -- python3 -m app test -p no:cacheprovider -q
"""

import collections
import os
import subprocess
import sys
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
KINDS = [
    ("postgres", ("postgres:", "/bin/postgres")),
    ("chromium", ("chrom", "headless_shell")),
    ("schemathesis", ("/bin/st ",)),
    ("served", ("uvicorn", "app.serve", "app/serve.py")),
    ("piccolo command", ("piccolo",)),
    ("pytest worker", ("execnet", "-u -c")),
    ("pytest", ("pytest",)),
]


def kind_of(pid: str) -> str | None:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    if not command:
        return None
    for kind, marks in KINDS:
        if any(mark in command for mark in marks):
            return kind
    return "other"


def busy_and_total() -> tuple[int, int]:
    values = list(map(int, Path("/proc/stat").read_text().split("\n")[0].split()[1:]))
    return sum(values) - values[3] - values[4], sum(values)


def sample(seen: dict[int, list], baseline: bool = False) -> None:
    """Each process's CPU so far (own, and reaped children for PostgreSQL); with
    ``baseline``, what processes already running had used, to be subtracted."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
        entry = seen.get(int(pid))
        if entry is None:
            kind = kind_of(pid)
            if kind is None:
                continue
            start = (own, reaped) if baseline else (0, 0)
            entry = seen[int(pid)] = [kind, own, reaped, *start]
        entry[1] = max(entry[1], own)
        entry[2] = max(entry[2], reaped)


def main() -> None:
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    if not command:
        raise SystemExit("usage: bench/suite_cpu.py -- COMMAND ...")
    seen: dict[int, list] = {}
    sample(seen, baseline=True)
    busy, total = busy_and_total()
    started = time.monotonic()
    process = subprocess.Popen(command)
    while process.poll() is None:
        sample(seen)
        time.sleep(0.3)
    busy_after, total_after = busy_and_total()
    by_kind: collections.Counter[str] = collections.Counter()
    for kind, own, reaped, own_before, reaped_before in seen.values():
        by_kind[kind] += (own - own_before) / TICKS
        if kind == "postgres":
            by_kind["postgres (reaped backends)"] += (reaped - reaped_before) / TICKS
    for kind, seconds in by_kind.most_common():
        if seconds < 0.05:
            continue
        print(f"{seconds:8.1f} s CPU  {kind}")
    print(
        f"exit {process.returncode} after {time.monotonic() - started:.0f} s; machine busy "
        f"{(busy_after - busy) / TICKS:.0f} of {(total_after - total) / TICKS:.0f} core-seconds"
    )


if __name__ == "__main__":
    main()
