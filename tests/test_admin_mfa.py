"""Operators' two-factor sign-in over HTTP (app/admin/two_factor.py): enrolment,
codes, recovery codes, enrolment required of superusers, the reset command."""

import asyncio
import json
import os
import re
import subprocess
import sys
import time

import asyncpg
import httpx
import pyotp
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo_api.mfa.authenticator.tables import AuthenticatorSecret

from app.admin.two_factor import must_enrol
from app.db.executor import fetch
from app.settings import ConfigurationError, OperatorMFASettings, Settings
from tests.admin_client import (
    anonymous_client,
    csrf_token,
    enrol_in_two_factor,
    logged_in_operator,
    messages,
)
from tests.database_setup import PROJECT_ROOT
from tests.locks import held, waiting_for

PASSWORD = "correct horse"
SETUP = "/admin/api/mfa-setup/"


async def operator(username: str, superuser: bool) -> BaseUser:
    return await BaseUser.create_user(
        username=username,
        password=PASSWORD,
        email=f"{username}@example.com",
        admin=True,
        superuser=superuser,
        active=True,
    )


async def log_in(client: httpx.AsyncClient, username: str, code: str | None = None):
    body = {"username": username, "password": PASSWORD}
    if code is not None:
        body["mfa_code"] = code
    token = await csrf_token(client)
    return await client.post("/admin/public/login/", json=body, headers={"X-CSRFToken": token})


def wrong_code(secret: str) -> str:
    """A 6-digit code that no window the server accepts now shows."""
    totp = pyotp.TOTP(secret)
    accepted = {totp.at(time.time() + 30 * step) for step in (-2, -1, 0, 1, 2)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)


async def sessions_of(user: BaseUser) -> int:
    from piccolo_api.session_auth.tables import SessionsBase

    return await SessionsBase.count().where(SessionsBase.user_id == user.id)


async def active_secrets(user: BaseUser) -> list[dict]:
    return await AuthenticatorSecret.select().where(
        AuthenticatorSecret.user_id == user.id, AuthenticatorSecret.revoked_at.is_null()
    )


async def secret_changes() -> list[tuple[str, str, str, str, list[str]]]:
    """The change log of authenticator secrets: operation, who, action, fields changed."""
    rows = await fetch(
        "SELECT operation, actor_kind, actor, action, changes FROM change_log "
        "WHERE table_name = 'authenticator_secret' ORDER BY id"
    )
    return [
        (
            row["operation"],
            row["actor_kind"],
            row["actor"],
            row["action"],
            sorted(json.loads(row["changes"])),
        )
        for row in rows
    ]


async def enrol_through_the_page(client: httpx.AsyncClient, password: str) -> httpx.Response:
    await client.get(SETUP)
    form = {"action": "register", "password": password, "csrftoken": client.cookies["csrftoken"]}
    return await client.post(SETUP, data=form)


async def test_a_superuser_without_an_authenticator_reaches_only_the_enrolment_page():
    root = await operator("root", superuser=True)
    async with anonymous_client() as client:
        login = await log_in(client, "root")
        page = await client.get("/admin/")
        tables = await client.get("/admin/api/tables/")
        overview = await client.get("/admin/overview/")
        overview_page = await client.get("/admin/overview/", headers={"Accept": "text/html"})
        setup = await client.get(SETUP)
    assert login.status_code == 200
    assert page.status_code == 303
    assert page.headers["location"] == "/admin/api/mfa-setup/"
    assert tables.status_code == 403
    assert tables.headers["X-MFA-Enrolment-Required"] == "/admin/api/mfa-setup/"
    assert tables.json()["detail"] == (
        "two-factor sign-in is required for this account: enrol at /admin/api/mfa-setup/"
    )
    assert overview.status_code == 403
    assert (overview_page.status_code, overview_page.headers["location"]) == (303, SETUP)
    assert setup.status_code == 200
    assert "Please enter your password to enable MFA" in setup.text
    assert await active_secrets(root) == []


async def test_enrolment_needs_the_password_and_stores_the_secret_encrypted():
    root = await operator("root", superuser=True)
    async with anonymous_client() as client:
        await log_in(client, "root")
        refused = await enrol_through_the_page(client, "not my password")
        assert refused.status_code == 401
        assert await active_secrets(root) == []

        enrolled = await enrol_through_the_page(client, PASSWORD)
        tables = await client.get("/admin/api/tables/")
    assert enrolled.status_code == 200
    secret = re.search(r'<code id="secret_key">([A-Z2-7]+)</code>', enrolled.text).group(1)
    codes = re.findall(r"<li>([a-z0-9]{6}-[a-z0-9]{6})</li>", enrolled.text)
    assert len(codes) == 8
    [stored] = await active_secrets(root)
    assert stored["secret"].startswith("fernet-")
    assert secret not in stored["secret"]
    assert len(stored["recovery_codes"]) == 8
    assert not any(code in stored["recovery_codes"] for code in codes)  # hashed
    assert tables.status_code == 200
    assert await secret_changes() == [
        (
            "CREATE",
            "OPERATOR",
            "root",
            "enrol in two-factor sign-in",
            ["created_at", "id", "recovery_codes", "recovery_codes_used_at", "secret", "user_id"],
        )
    ]


async def test_an_enrolled_operator_signs_in_with_password_and_code_only(
    connection: asyncpg.Connection,
):
    root = await operator("root", superuser=True)
    secret, _ = await enrol_in_two_factor(root.id)
    async with anonymous_client() as client:
        without = await log_in(client, "root")
        wrong = await log_in(client, "root", wrong_code(secret))
        assert await sessions_of(root) == 0
        right = await log_in(client, "root", pyotp.TOTP(secret).now())
        tables = await client.get("/admin/api/tables/")
    assert (without.status_code, without.json()["detail"]) == (401, "MFA code required")
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "MFA failed")
    assert right.status_code == 200
    assert tables.status_code == 200
    assert await sessions_of(root) == 1
    # The login limit counts the wrong code, not the right password asked for a code.
    assert await connection.fetchval("SELECT array_agg(failures) FROM login_throttle") == [1]


async def test_a_code_signs_in_once():
    root = await operator("root", superuser=True)
    secret, _ = await enrol_in_two_factor(root.id)
    code = pyotp.TOTP(secret).now()
    async with anonymous_client() as first, anonymous_client() as second:
        used = await log_in(first, "root", code)
        replayed = await log_in(second, "root", code)
    assert used.status_code == 200
    assert (replayed.status_code, replayed.json()["detail"]) == (401, "MFA failed")
    assert await sessions_of(root) == 1


async def test_a_recovery_code_signs_in_once():
    root = await operator("root", superuser=True)
    _, recovery_codes = await enrol_in_two_factor(root.id)
    async with anonymous_client() as first, anonymous_client() as second:
        used = await log_in(first, "root", recovery_codes[3])
        again = await log_in(second, "root", recovery_codes[3])
    assert used.status_code == 200
    assert (again.status_code, again.json()["detail"]) == (401, "MFA failed")
    [stored] = await active_secrets(root)
    assert len(stored["recovery_codes"]) == 7
    assert len(stored["recovery_codes_used_at"]) == 1
    assert await sessions_of(root) == 1
    assert (await secret_changes())[1:] == [
        (
            "EDIT",
            "OPERATOR",
            "root",
            "two-factor sign-in",
            ["recovery_codes", "recovery_codes_used_at"],
        )
    ]


async def test_other_operators_choose_whether_to_enrol():
    rita = await operator("rita", superuser=False)
    async with anonymous_client() as client:
        login = await log_in(client, "rita")
        tables = await client.get("/admin/api/tables/")
        page = await client.get("/admin/")
    assert login.status_code == 200
    assert tables.status_code == 200
    assert page.status_code == 200
    secret, _ = await enrol_in_two_factor(rita.id)
    async with anonymous_client() as client:
        assert (await log_in(client, "rita")).status_code == 401
        assert (await log_in(client, "rita", pyotp.TOTP(secret).now())).status_code == 200


async def test_required_for_all_asks_every_operator_to_enrol():
    rita = await operator("rita", superuser=False)
    async with anonymous_client() as client:
        await log_in(client, "rita")
        token = client.cookies["id"]
    assert await must_enrol(token, required_for_all=False) is False
    assert await must_enrol(token, required_for_all=True) is True
    await enrol_in_two_factor(rita.id)
    assert await must_enrol(token, required_for_all=True) is False
    assert await must_enrol("no such session", required_for_all=True) is False


async def test_the_database_keeps_one_authenticator_per_operator_and_only_encrypted(
    connection: asyncpg.Connection,
):
    root = await operator("root", superuser=True)
    await enrol_in_two_factor(root.id)
    with pytest.raises(asyncpg.UniqueViolationError):
        await enrol_in_two_factor(root.id)
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute(
            "UPDATE authenticator_secret SET secret = 'JBSWY3DPEHPK3PXP' WHERE user_id = $1",
            root.id,
        )
    assert len(await active_secrets(root)) == 1
    [logged] = await connection.fetch(
        "SELECT operation, changes FROM change_log WHERE table_name = 'authenticator_secret'"
    )
    assert logged["operation"] == "CREATE"
    assert '"secret": "(not shown)"' in logged["changes"]


def reset_mfa(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "piccolo.main", "masterplan", "reset-mfa", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
    )


async def test_reset_mfa_lets_an_operator_who_lost_the_device_enrol_again(fresh_database):
    root = await operator("root", superuser=True)
    await enrol_in_two_factor(root.id)

    reset = reset_mfa(fresh_database, "root")
    again = reset_mfa(fresh_database, "root")
    unknown = reset_mfa(fresh_database, "nobody")

    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.strip().endswith(
        "Two-factor sign-in of 'root' reset; they enrol again at their next login."
    )
    assert again.stdout.strip().endswith("'root' had no authenticator enrolled; nothing changed.")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "masterplan: no operator account is named 'nobody'"
    assert await active_secrets(root) == []
    assert (await secret_changes())[1:] == [
        (
            "EDIT",
            "DATABASE",
            "piccolo masterplan reset-mfa",
            "reset two-factor sign-in of root",
            ["revoked_at"],
        )
    ]
    async with anonymous_client() as client:
        login = await log_in(client, "root")
        forced = await client.get("/admin/")
    assert login.status_code == 200
    assert forced.headers["location"] == "/admin/api/mfa-setup/"


def test_production_without_a_two_factor_key_is_one_readable_line():
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"MASTERPLAN_PRODUCTION": "1"})
    assert (
        refused.value.code == "masterplan: ADMIN_MFA_KEY must be set when MASTERPLAN_PRODUCTION=1"
    )
    off = Settings.from_environment({"MASTERPLAN_PRODUCTION": "1", "ADMIN_MFA": "off"})
    assert off.admin.mfa.enabled is False


def test_without_a_key_development_generates_one_once_into_the_key_file(tmp_path):
    from app.admin.two_factor import encryption_key

    key_file = tmp_path / "data" / "admin-mfa.key"
    mfa = OperatorMFASettings.from_environment({"ADMIN_MFA_KEY_FILE": str(key_file)})
    first = encryption_key(mfa)
    assert encryption_key(mfa) == first
    assert key_file.read_bytes().strip() == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert list(key_file.parent.iterdir()) == [key_file]
    given = OperatorMFASettings.from_environment({"ADMIN_MFA_KEY": first.decode()})
    assert encryption_key(given) == first


async def test_two_logins_at_once_spend_a_recovery_code_once(fresh_database):
    root = await operator("root", superuser=True)
    _, recovery_codes = await enrol_in_two_factor(root.id)
    lock = "SELECT id FROM authenticator_secret WHERE user_id = $1 FOR UPDATE"
    async with anonymous_client() as first, anonymous_client() as second:
        async with held(fresh_database, lock, root.id) as holder:
            logins = [
                asyncio.create_task(log_in(client, "root", recovery_codes[0]))
                for client in (first, second)
            ]
            await waiting_for(holder, 2)
        statuses = sorted(response.status_code for response in await asyncio.gather(*logins))
    assert statuses == [200, 401]
    [stored] = await active_secrets(root)
    assert len(stored["recovery_codes"]) == 7
    assert await sessions_of(root) == 1


async def test_a_superuser_resets_an_operators_two_factor_in_the_admin():
    rita = await operator("rita", superuser=False)
    await enrol_in_two_factor(rita.id)
    form = "/forms/reset-two-factor-sign-in/"
    ana = await logged_in_operator("ana", superuser=False)
    root = await logged_in_operator("root", superuser=True)
    try:
        refused = await ana.post(form, {"username": "rita"})
        assert len(await active_secrets(rita)) == 1
        unknown = await root.post(form, {"username": "nobody"})
        reset = await root.post(form, {"username": "rita"})
    finally:
        await ana.http.aclose()
        await root.http.aclose()
    assert refused.status_code == 403
    assert messages(refused) == "only a superuser may reset an operator's two-factor sign-in"
    assert (unknown.status_code, messages(unknown)) == (
        422,
        "no operator account is named 'nobody'",
    )
    assert reset.status_code == 200
    assert reset.json()["custom_form_success"] == (
        "Two-factor sign-in of 'rita' reset; they enrol again at their next login."
    )
    assert await active_secrets(rita) == []
    assert (await secret_changes())[-1][1:4] == (
        "OPERATOR",
        "root",
        "reset two-factor sign-in of rita",
    )


def test_a_damaged_key_file_is_one_readable_line(tmp_path):
    from app.admin.two_factor import encryption_key

    key_file = tmp_path / "admin-mfa.key"
    key_file.write_text("not a key\n")
    mfa = OperatorMFASettings.from_environment({"ADMIN_MFA_KEY_FILE": str(key_file)})
    with pytest.raises(ConfigurationError) as refused:
        encryption_key(mfa)
    assert refused.value.code == (
        f"masterplan: ADMIN_MFA_KEY_FILE {key_file} does not hold a readable Fernet key"
    )
    assert key_file.read_text() == "not a key\n"


def test_run_refuses_a_bad_two_factor_setting_with_one_readable_line():
    from tests.test_main import bootstrap

    result = bootstrap("run", ADMIN_MFA="sometimes")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "masterplan: ADMIN_MFA must be one of required-for-superusers, required-for-all, off, "
        "not 'sometimes'"
    )
    assert result.stdout == ""  # checked before anything is installed
