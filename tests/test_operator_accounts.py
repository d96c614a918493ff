"""Operator accounts: the first admin, session settings."""

import asyncio
import os
import subprocess
import sys

import asyncpg
import httpx
import pytest

from app.admin.site import create_operator_admin
from app.commands.create_first_admin import FIRST_ADMIN_LOCK
from app.settings import AdminSettings
from tests.database_setup import PROJECT_ROOT, fetch_rows, finished, started_piccolo
from tests.locks import held, waiting_for


def create_first_admin(database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ADMIN_")}
    return subprocess.run(
        [sys.executable, "-m", "piccolo.main", "masterplan", "create_first_admin"],
        cwd=PROJECT_ROOT,
        env={**environment, "DATABASE_URL": database_url, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def admins(url: str) -> list[asyncpg.Record]:
    return await fetch_rows(
        url, "SELECT username, password, admin, superuser, active FROM piccolo_user"
    )


async def test_without_settings_a_generated_password_is_printed_once(migrated_scratch_database):
    first = create_first_admin(migrated_scratch_database)
    second = create_first_admin(migrated_scratch_database)
    assert first.returncode == 0, first.stderr
    password = first.stdout.split("shown only this once: ")[1].split()[0]
    assert len(password) >= 12
    assert "change_password admin" in first.stdout
    assert second.stdout.strip() == "An admin account exists; nothing changed."
    assert password not in second.stdout
    [user] = await admins(migrated_scratch_database)
    assert (user["username"], user["admin"], user["superuser"], user["active"]) == (
        "admin",
        True,
        True,
        True,
    )
    assert password not in user["password"]  # stored hashed


async def test_the_account_comes_from_the_environment_when_set(migrated_scratch_database):
    result = create_first_admin(
        migrated_scratch_database, ADMIN_USERNAME="rita", ADMIN_PASSWORD="s3cret-enough"
    )
    assert result.returncode == 0, result.stderr
    assert "Created the admin account 'rita'." in result.stdout
    assert "s3cret-enough" not in result.stdout
    assert [row["username"] for row in await admins(migrated_scratch_database)] == ["rita"]


async def test_a_too_short_password_exits_with_one_line(migrated_scratch_database):
    result = create_first_admin(migrated_scratch_database, ADMIN_PASSWORD="123")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "masterplan: ADMIN_PASSWORD: The password is too short. (min 6)"
    ]
    assert await admins(migrated_scratch_database) == []


@pytest.mark.long_running
async def test_concurrent_runs_create_one_admin(migrated_scratch_database):
    url = migrated_scratch_database
    async with held(url, FIRST_ADMIN_LOCK) as holder:
        processes = started_piccolo(url, 4, "masterplan", "create_first_admin")
        await waiting_for(holder, 4)  # all four queue behind the test's lock
    results = await asyncio.to_thread(finished, processes)
    assert [result.returncode for result in results] == [0, 0, 0, 0], results
    outputs = [result.stdout for result in results]
    assert sum("Created the admin account" in output for output in outputs) == 1
    assert sum("An admin account exists; nothing changed." in output for output in outputs) == 3
    assert len(await admins(url)) == 1


@pytest.mark.parametrize("production", [False, True])
async def test_session_cookies_are_secure_in_production(production):
    from piccolo.apps.user.tables import BaseUser

    await BaseUser.create_user(
        username="ops", password="correct horse", admin=True, active=True, email="ops@x.io"
    )
    admin = create_operator_admin(AdminSettings(production=production, allowed_hosts=()))
    transport = httpx.ASGITransport(app=admin, client=(f"10.9.9.{int(production) + 1}", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token = await csrf_token_at_root(client)
        response = await client.post(
            "/public/login/",
            json={"username": "ops", "password": "correct horse"},
            headers={"X-CSRFToken": token},
        )
    assert response.status_code == 200
    session_cookie = next(
        header for header in response.headers.get_list("set-cookie") if header.startswith("id=")
    )
    assert ("Secure" in session_cookie) is production
    assert "HttpOnly" in session_cookie


async def csrf_token_at_root(client: httpx.AsyncClient) -> str:
    await client.get("/")
    return client.cookies["csrftoken"]


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_bad_production_flag_exits_with_one_line(value):
    result = subprocess.run(
        [sys.executable, "-c", "from app.settings import AdminSettings as S; S.from_environment()"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MASTERPLAN_PRODUCTION": value},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "masterplan: MASTERPLAN_PRODUCTION must be one of 1/0, true/false, yes/no, on/off"
    )
