"""Set-up commands for a fresh checkout; standard library only.

    python3 -m app run     create .venv, install, migrate, seed, serve
    python3 -m app test    create .venv, install with test extras, run pytest

Extra arguments after ``test`` go to pytest; unless they choose otherwise (``-n``,
``-p no:xdist``), the suite runs in parallel on every core (pytest-xdist, one worker
per core, each on databases of its own). ``run`` takes ``--host``,
``--port`` (defaults: $HOST or 127.0.0.1, $PORT or 8000) and ``--workers``
(server processes, default 1).
"""

import argparse
import hashlib
import os
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
MAX_WORKERS = 64


def fail(message: str) -> None:
    """Exit non-zero with one readable line."""
    raise SystemExit(f"masterplan: {message}")


def install(extra: str | None) -> None:
    """Create .venv and install the project into it, unless already current."""
    spec = f".[{extra}]" if extra else "."
    stamp = VENV / f".installed-{extra or 'main'}"
    fingerprint = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    # An install with extras includes the main dependencies.
    sufficient = [stamp] if extra else list(VENV.glob(".installed-*"))
    if any(path.read_text() == fingerprint for path in sufficient if path.exists()):
        return
    if not (BIN / "python").exists():
        print("Creating the virtualenv in .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print(f"Installing {spec} into .venv ...", flush=True)
    command = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "-e", spec]
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        fail("installing the dependencies failed (see pip's message above)")
    stamp.write_text(fingerprint)


def step(description: str, *command: str) -> None:
    """Run one set-up step inside .venv; stop at the first failure."""
    print(f"{description} ...", flush=True)
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT)
    if result.returncode != 0:
        # The step has already said what went wrong, in one line.
        raise SystemExit(result.returncode)


def port_number(text: str) -> int:
    """A TCP port from the command line."""
    from app.settings import ConfigurationError, port_number  # standard library only

    try:
        return port_number(text, "--port")
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(
            str(error.code).removeprefix("masterplan: --port ")
        ) from None


def worker_count(text: str) -> int:
    """A number of server processes from the command line."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"not a number of workers from 1 to {MAX_WORKERS}: {text!r}"
        )
    return int(text)


def run(host: str, port: int, workers: int) -> None:
    """Install, migrate, seed, then serve app.main:app until stopped."""
    install(extra=None)
    step("Applying migrations", "piccolo", "migrations", "forwards", "all")
    step("Seeding", "piccolo", "masterplan", "seed")
    step("Checking operator accounts", "piccolo", "masterplan", "create_first_admin")
    processes = f" with {workers} worker processes" if workers > 1 else ""
    print(f"Serving on http://{host}:{port}/{processes} (Ctrl-C stops)", flush=True)
    python = str(BIN / "python")
    os.chdir(ROOT)
    serve = ["-m", "app.serve", "--host", host, "--port", str(port), "--workers", str(workers)]
    os.execv(python, [python, *serve])


# One worker per core; tests that share a costly fixture of their module stay on one
# worker (``xdist_group``); the others go to whichever worker is free.
PARALLEL = ["--numprocesses", "auto", "--dist", "loadgroup"]


def test(pytest_args: list[str]) -> None:
    """Install with the test extras, then run the whole test suite, in parallel unless
    the arguments choose the workers themselves."""
    install(extra="test")
    python = str(BIN / "python")
    os.chdir(ROOT)
    os.execv(python, [python, "-m", "pytest", *parallel_unless_chosen(pytest_args)])


def parallel_unless_chosen(pytest_args: list[str]) -> list[str]:
    """``PARALLEL`` before the arguments, unless they name a worker count or turn
    pytest-xdist off."""
    chosen = any(
        argument in ("-n", "--numprocesses", "no:xdist")
        or argument.startswith(("-n", "--numprocesses="))
        for argument in pytest_args
    )
    return pytest_args if chosen else [*PARALLEL, *pytest_args]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="install, migrate, seed, serve")
    run_parser.add_argument("--host", default=None)
    run_parser.add_argument("--port", type=port_number, default=None)
    run_parser.add_argument("--workers", type=worker_count, default=1)
    commands.add_parser("test", help="install and run the test suite (pytest args follow)")
    arguments, rest = parser.parse_known_args()
    if arguments.command == "run":
        if rest:
            parser.error(f"unrecognised arguments: {' '.join(rest)}")
        from app.settings import settings  # standard library only

        server = settings().server  # every setting checked: one readable line if bad
        run(arguments.host or server.host, arguments.port or server.port, arguments.workers)
    else:
        test(rest)


if __name__ == "__main__":
    main()
