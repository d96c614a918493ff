"""Where the database is: DATABASE_URL, or the embedded server, and bad settings."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.db import server as database
from app.db.executor import (
    execute_on,
    fetch,
    fetch_on,
    fetchval_on,
    positional,
    settings_for_statements,
    transaction,
)
from app.db.server import database_name, redacted, with_database
from app.settings import ConfigurationError
from tests.database_setup import PROJECT_ROOT
from tests.server import free_port


def test_with_database_swaps_only_the_database_name():
    url = "postgresql://user:secret@db.example:5433/app?sslmode=require"
    assert with_database(url, "other") == (
        "postgresql://user:secret@db.example:5433/other?sslmode=require"
    )
    assert database_name(with_database(url, "other")) == "other"


def test_socket_urls_keep_their_host_parameter():
    url = "postgresql://postgres:@/postgres?host=/tmp/pg"
    assert with_database(url, "masterplan") == "postgresql://postgres:@/masterplan?host=/tmp/pg"


def test_redacted_hides_the_password():
    assert redacted("postgresql://u:hunter2@h/db") == "postgresql://u:***@h/db"
    assert "hunter2" not in redacted("postgresql://u:hunter2@h:5432/db")


def piccolo_with_env(**environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "piccolo.main", "migrations", "forwards", "all"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/app", "DATABASE_URL must be a PostgreSQL URL"),
        ("not a url", "DATABASE_URL must be a PostgreSQL URL"),
        ("postgresql://u@localhost:notaport/app", "DATABASE_URL has an invalid port"),
    ],
)
def test_a_malformed_database_url_exits_with_one_readable_line(url, message):
    result = piccolo_with_env(DATABASE_URL=url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"masterplan: {message}")


async def test_a_server_older_than_the_minimum_is_refused_in_one_line(
    fresh_database, connection, monkeypatch
):
    """This server is new enough; raising the minimum past it shows the refusal."""
    version = int(await connection.fetchval("SHOW server_version_num"))
    database.check_reachable(fresh_database)  # the real minimum: accepted
    next_major = version // 10000 + 1
    monkeypatch.setattr(database, "MINIMUM_SERVER_VERSION", next_major * 10000)
    with pytest.raises(ConfigurationError) as refused:
        database.check_reachable(fresh_database)
    assert str(refused.value) == (
        f"masterplan: PostgreSQL {next_major} or newer is required; "
        f"{redacted(fresh_database)} runs {version // 10000}.{version % 10000}"
    )


def test_an_unreachable_database_exits_with_one_readable_line():
    url = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/masterplan"
    result = piccolo_with_env(DATABASE_URL=url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("masterplan: cannot connect to the database at ")
    assert "secret" not in lines[0]


# --- the embedded server ---------------------------------------------------------

# Ctrl-C raises KeyboardInterrupt as in a terminal, even when the test run itself was
# started in the background (which starts its children with SIGINT ignored).
HOLD_EMBEDDED = (
    "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "import piccolo_conf; print('ready', flush=True); [time.sleep(0.1) for _ in range(600)]"
)


def postmaster_running(data_dir: Path) -> bool:
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["MASTERPLAN_PGDATA"] = str(data_dir)
    return env


def test_without_database_url_an_embedded_server_runs_and_stops_on_exit(embedded_data_dir):
    env = embedded_env(embedded_data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "piccolo.main", "migrations", "forwards", "all"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "[forwards]... ok" in result.stdout
    assert (embedded_data_dir / "PG_VERSION").exists()
    assert wait_until(lambda: not postmaster_running(embedded_data_dir))


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def hold_embedded(data_dir: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_EMBEDDED],
        cwd=PROJECT_ROOT,
        env=embedded_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "ready":
        holder.kill()
        _, stderr = holder.communicate(timeout=30)
        raise AssertionError(f"the holder never joined the embedded server:\n{stderr}")
    return holder


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_embedded_server_stops_on_sigterm_and_ctrl_c(embedded_data_dir, stop_signal):
    holder = hold_embedded(embedded_data_dir)
    try:
        assert postmaster_running(embedded_data_dir)
        holder.send_signal(stop_signal)
        holder.wait(timeout=60)
    finally:
        holder.kill()
    assert wait_until(lambda: not postmaster_running(embedded_data_dir))


def test_two_processes_share_the_embedded_server_until_the_last_exits(embedded_data_dir):
    first = hold_embedded(embedded_data_dir)
    try:
        server = postmaster_pid(embedded_data_dir)
        second = hold_embedded(embedded_data_dir)
        try:
            assert postmaster_pid(embedded_data_dir) == server  # joined, not started again
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=60) == 128 + signal.SIGTERM
            time.sleep(1)
            assert postmaster_running(embedded_data_dir)
            assert postmaster_pid(embedded_data_dir) == server
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 128 + signal.SIGTERM
        finally:
            second.kill()
    finally:
        first.kill()
    assert wait_until(lambda: not postmaster_running(embedded_data_dir))


class Refused(Exception):
    pass


async def test_a_transaction_inside_another_joins_it(connection):
    workspace_id = await connection.fetchval(
        "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
    )
    with pytest.raises(Refused):
        async with transaction() as outer:
            await fetch("UPDATE workspace SET name = 'Outer' WHERE id = {}", workspace_id)
            async with transaction() as inner:
                assert inner is outer
                await fetch("UPDATE workspace SET budget_tier = 'RED' WHERE id = {}", workspace_id)
            [seen] = await fetch(
                "SELECT name, budget_tier FROM workspace WHERE id = {}", workspace_id
            )
            assert (seen["name"], seen["budget_tier"]) == ("Outer", "RED")
            raise Refused
    row = await connection.fetchrow(
        "SELECT name, budget_tier FROM workspace WHERE id = $1", workspace_id
    )
    assert (row["name"], row["budget_tier"]) == ("Acme", "GREEN")


async def test_statement_settings_travel_with_each_statement_and_end_with_it(connection):
    read = (
        "SELECT current_setting('masterplan.actor', true) AS actor, g FROM generate_series(1, 3) g"
    )
    with settings_for_statements({"masterplan.actor": "ana"}):
        rows = await fetch_on(connection, read)
        through_fetch = await fetch(read)
    assert [(r["actor"], r["g"]) for r in rows] == [("ana", 1), ("ana", 2), ("ana", 3)]
    assert [(r["actor"], r["g"]) for r in through_fetch] == [("ana", 1), ("ana", 2), ("ana", 3)]
    # Transaction-local: the same connection's next statement does not see it.
    assert await connection.fetchval("SELECT current_setting('masterplan.actor', true)") in (
        "",
        None,
    )
    assert [r["actor"] for r in await fetch_on(connection, read)] in ([""] * 3, [None] * 3)


async def test_statement_settings_reach_the_triggers_of_a_write_that_changes_no_row_first(
    connection,
):
    """The settings are set before the statement's rows are read, so an UPDATE that
    returns nothing still leaves them for its transaction."""
    async with connection.transaction():
        with settings_for_statements({"masterplan.actor": "rui"}):
            rows = await fetch_on(
                connection, "UPDATE workspace SET name = 'x' WHERE false RETURNING id"
            )
        assert rows == []
        assert (
            await connection.fetchval("SELECT current_setting('masterplan.actor', true)") == "rui"
        )


async def test_statement_settings_travel_with_a_data_modifying_with_of_its_own(connection):
    """A statement whose ``WITH`` list writes (kept at the top level) carries the
    settings too: every write of the list sees them, its triggers included."""
    workspace_id = await connection.fetchval(
        "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
    )
    statement = (
        "WITH renamed AS (UPDATE workspace SET name = {} WHERE id = {} RETURNING id), "
        "lead AS MATERIALIZED (INSERT INTO lead (workspace_id, external_id) "
        "SELECT id, '+15550001' FROM renamed RETURNING id) "
        "SELECT current_setting('masterplan.actor', true) AS actor, (SELECT count(*) FROM "
        "lead) AS leads FROM renamed"
    )
    with settings_for_statements({"masterplan.actor": "ana"}):
        rows = await fetch(statement, "Acme (renamed)", workspace_id)
    assert rows == [{"actor": "ana", "leads": 1}]
    logged = await connection.fetch(
        "SELECT table_name, operation, actor FROM change_log ORDER BY id"
    )
    assert [tuple(row) for row in logged][-2:] == [
        ("workspace", "EDIT", "ana"),
        ("lead", "CREATE", "ana"),
    ]


async def test_statement_settings_travel_with_a_with_that_names_its_columns(connection):
    """A ``WITH`` member with a column list (``input (a, b) AS (...)``, as the lead
    import writes) is kept whole: its column list is not taken for its body."""
    statement = (
        "WITH input (n, word) AS (SELECT * FROM unnest({}::int[], {}::text[])), "
        "doubled (n) AS MATERIALIZED (SELECT n * 2 FROM input) "
        "SELECT current_setting('masterplan.actor', true) AS actor, "
        "(SELECT sum(n) FROM doubled) AS total, (SELECT string_agg(word, '') FROM input) AS w"
    )
    with settings_for_statements({"masterplan.actor": "ana"}):
        rows = await fetch(statement, [1, 2], ["a", "b"])
    assert rows == [{"actor": "ana", "total": 6, "w": "ab"}]


def test_placeholders_are_read_as_piccolo_reads_them():
    """``{}`` is a placeholder, ``{{``/``}}`` a literal brace; an unescaped brace pair
    with something inside is refused rather than sent as a placeholder."""
    assert positional("SELECT {} + {}") == "SELECT $1 + $2"
    assert positional("SELECT '{{}}'::jsonb, {}") == "SELECT '{}'::jsonb, $1"
    assert positional("SELECT 1") == "SELECT 1"
    with pytest.raises(ValueError, match=re.escape("not {1,2}")):
        positional("SELECT '{1,2}'::int[]")


async def test_a_statement_reads_the_same_in_and_out_of_a_transaction(connection):
    sql = "SELECT {}::int + 1 AS n, '{{\"a\": 1}}'::jsonb ->> 'a' AS a"
    outside = await fetch(sql, 41)
    async with transaction():
        inside = await fetch(sql, 41)
    assert outside == inside == [{"n": 42, "a": "1"}]


async def test_a_transaction_carries_the_statement_settings_from_its_first_statement(connection):
    """Later statements of the transaction are sent as written: one with a
    data-modifying WITH of its own, which could not be wrapped, runs too."""
    workspace_id = await connection.fetchval(
        "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
    )
    actor = "SELECT current_setting('masterplan.actor', true) AS actor"
    with settings_for_statements({"masterplan.actor": "ana"}):
        async with transaction() as held:
            assert await fetchval_on(held, actor) == "ana"
            renamed = await fetch(
                "WITH renamed AS (UPDATE workspace SET name = {} WHERE id = {} RETURNING id) "
                "SELECT current_setting('masterplan.actor', true) AS actor FROM renamed",
                "Acme 2",
                workspace_id,
            )
            assert renamed == [{"actor": "ana"}]
            status = await execute_on(
                held, "UPDATE workspace SET name = {} WHERE id = {}", "Acme 3", workspace_id
            )
            assert status == "UPDATE 1"
    assert (
        await connection.fetchval("SELECT name FROM workspace WHERE id = $1", workspace_id)
        == "Acme 3"
    )
