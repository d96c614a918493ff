"""The served application: /healthz, lifespan and the set-up commands' input checks."""

import json
import os
import signal
import subprocess
import sys

import asyncpg
import httpx
import pytest

from app.db.server import database_name
from app.main import app
from tests.database_setup import PROJECT_ROOT, admin_execute, python_in_checkout
from tests.server import get, served_app
from tests.test_database import embedded_env, postmaster_running, wait_until


def test_healthz_is_200_with_the_database_and_503_without(
    database_server, migrated_scratch_database
):
    with served_app({"DATABASE_URL": migrated_scratch_database}) as (base_url, _):
        status, body = get(f"{base_url}/healthz")
        assert (status, json.loads(body)["database"]) == (200, "ok")

        name = database_name(migrated_scratch_database)
        admin_execute(database_server.url, f'DROP DATABASE "{name}" WITH (FORCE)')

        status, body = get(f"{base_url}/healthz")
        assert status == 503
        assert json.loads(body)["status"] == "unavailable"


def test_serving_on_the_embedded_server_stops_it_on_sigterm(embedded_data_dir):
    env = {**embedded_env(embedded_data_dir), "DATABASE_URL": ""}
    with served_app(env) as (base_url, process):
        assert get(f"{base_url}/healthz")[0] == 200
        assert postmaster_running(embedded_data_dir)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert wait_until(lambda: not postmaster_running(embedded_data_dir))


def bootstrap(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_refuses_a_bad_port_with_one_readable_line():
    result = bootstrap("run", "--port", "eighty")
    assert result.returncode == 2
    assert "argument --port: must be a port number from 1 to 65535, not 'eighty'" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_refuses_a_bad_port_environment_variable():
    result = bootstrap("run", PORT="99999")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "masterplan: PORT must be a port number from 1 to 65535, not '99999'"
    )
    assert result.stdout == ""  # checked before anything is installed


def test_run_refuses_half_the_whatsapp_settings_with_one_readable_line():
    result = bootstrap("run", WHATSAPP_APP_SECRET="secret", WHATSAPP_VERIFY_TOKEN="")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "masterplan: WHATSAPP_VERIFY_TOKEN must be set as well to turn WhatsApp on"
    )


def test_an_unknown_command_is_refused_with_usage():
    result = bootstrap("serve")
    assert result.returncode == 2
    assert "invalid choice: 'serve'" in result.stderr


@pytest.mark.long_running
async def test_run_migrates_seeds_and_serves_an_empty_database(scratch_database):
    env = {"DATABASE_URL": scratch_database, "WHATSAPP_APP_SECRET": "", "WHATSAPP_VERIFY_TOKEN": ""}
    with served_app(env, command=["-m", "app", "run"]) as (base_url, process):
        assert get(f"{base_url}/healthz")[0] == 200
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert "Applying migrations ..." in output and "Seeding ..." in output
    assert "Created the admin account 'admin'." in output
    assert "shown only this once" in output
    assert "WhatsApp is off (set WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN" in output
    connection = await asyncpg.connect(scratch_database)
    try:
        names = await connection.fetch("SELECT name FROM workspace")
    finally:
        await connection.close()
    assert [row["name"] for row in names] == ["Default"]


async def test_admin_pages_forbid_framing_and_sniffing_and_the_api_forbids_sniffing():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        admin_page = await http.get("/admin/")
        api_answer = await http.get("/api/v1/leads")  # 401: errors carry it too
    assert admin_page.status_code == 200
    assert admin_page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in admin_page.headers["content-security-policy"]
    assert admin_page.headers["x-content-type-options"] == "nosniff"
    assert admin_page.headers["referrer-policy"] == "same-origin"
    assert api_answer.status_code == 401
    assert api_answer.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in api_answer.headers


async def test_an_api_path_no_route_matches_is_a_404_in_the_error_shape():
    import httpx

    from app.main import app

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        api = await client.get("/api/v1/leads/by-external-id/a%0Ab")
        elsewhere = await client.get("/nowhere")
    assert (api.status_code, api.json()["error"]["code"]) == (404, "not_found")
    assert (elsewhere.status_code, elsewhere.text) == (404, "Not Found")


def test_the_command_line_loads_neither_the_admin_nor_the_api(database_server):
    """Every ``piccolo`` command (and every migration run) imports piccolo_conf's app
    registry; the admin and FastAPI would add a second to each, so commands that need
    them import them when they run."""
    probe = (
        "import sys, piccolo_conf; "
        "print(sorted(m for m in ('piccolo_admin', 'fastapi', 'app.admin', 'app.api') "
        "if m in sys.modules))"
    )
    result = python_in_checkout(database_server.url, "-c", probe)
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


def test_serving_with_a_bad_admin_setting_stops_with_one_line(database_server):
    """The admin is built by its first request, but its settings are checked before
    the server serves."""
    serve = ["-m", "uvicorn", "app.main:app", "--port", "0"]
    result = python_in_checkout(database_server.url, *serve, ADMIN_MFA="sometimes")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "masterplan: ADMIN_MFA must be one of required-for-superusers, required-for-all, "
        "off, not 'sometimes'"
    )
    assert "Traceback" not in result.stderr
