"""Two-factor sign-in in a real headless Chromium: a superuser is made to enrol, then
signs in with password and code, or with a recovery code once."""

import os
import re
import subprocess
import sys

import asyncpg
import pyotp

from tests.browser import BROWSER_TEST, chromium_page
from tests.database_setup import PROJECT_ROOT
from tests.server import served_app
from tests.test_admin_mfa import wrong_code

USERNAME, PASSWORD = "ana", "a long operator password"

pytestmark = BROWSER_TEST


def create_superuser(database_url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "piccolo.main", "masterplan", "create_first_admin"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "ADMIN_USERNAME": USERNAME,
            "ADMIN_PASSWORD": PASSWORD,
        },
        check=True,
        capture_output=True,
    )


async def recovery_codes_left(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(
            "SELECT cardinality(recovery_codes) FROM authenticator_secret WHERE revoked_at IS NULL"
        )
    finally:
        await connection.close()


async def sign_in(page, admin: str, code: str | None) -> None:
    """Password first; the admin then asks for the code, which is typed in."""
    await page.goto(admin)
    await page.fill("input[name=username]", USERNAME)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("[data-uitest=login_button]")
    if code is not None:
        await page.locator("input[placeholder='123456']").fill(code)
        await page.click("[data-uitest=login_button]")


async def sign_out(page) -> None:
    await page.click("#user")
    await page.get_by_text("MFA Setup").wait_for()  # offered while two-factor sign-in is on
    await page.click("[data-uitest=logout_button]")
    await page.locator("[data-uitest=login_button]").wait_for()


async def test_a_superuser_enrols_then_signs_in_with_a_code_or_a_recovery_code_once(
    migrated_scratch_database, tmp_path
):
    from playwright.async_api import expect

    create_superuser(migrated_scratch_database)
    server_errors: list[str] = []

    with served_app({"DATABASE_URL": migrated_scratch_database}) as (base_url, _):
        admin = f"{base_url}/admin/"
        async with chromium_page() as page:
            page.on("dialog", lambda dialog: dialog.accept())  # "Are you sure you want to logout?"
            page.on(
                "response",
                lambda response: (
                    response.status >= 500
                    and server_errors.append(f"{response.status} {response.url}")
                ),
            )

            # Not enrolled: the password alone leads only to the enrolment page.
            enrolment_page = re.compile(re.escape(f"{admin}api/mfa-setup/") + "(#.*)?$")
            await sign_in(page, admin, code=None)
            await expect(page).to_have_url(enrolment_page)
            await page.goto(f"{admin}#/lead")
            await expect(page).to_have_url(enrolment_page)

            # Enrol: the password again, then the key and the recovery codes.
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button")
            secret = (await page.locator("#secret_key").inner_text()).strip()
            recovery_codes = [
                code.strip() for code in await page.locator("#recovery_codes li").all_inner_texts()
            ]
            assert len(recovery_codes) == 8
            await page.screenshot(path=str(tmp_path / "mfa-enrolled.png"), full_page=True)
            await page.click("#back_to_admin")
            await expect(page.locator("#user")).to_contain_text(USERNAME)
            await sign_out(page)

            # A wrong code is refused; the right one signs in.
            await sign_in(page, admin, wrong_code(secret))
            await expect(page.locator("#app").first).to_contain_text("Problem logging in")
            await expect(page.locator("#user")).to_have_count(0)
            await sign_in(page, admin, pyotp.TOTP(secret).now())
            await expect(page.locator("#user")).to_contain_text(USERNAME)
            await page.goto(f"{admin}#/lead")
            await expect(page.locator("#app").first).to_contain_text("Lead")
            await sign_out(page)

            # Device lost: a recovery code signs in once, and only once.
            await sign_in(page, admin, recovery_codes[0])
            await expect(page.locator("#user")).to_contain_text(USERNAME)
            await sign_out(page)
            await sign_in(page, admin, recovery_codes[0])
            await expect(page.locator("#app").first).to_contain_text("Problem logging in")
            await expect(page.locator("#user")).to_have_count(0)

    assert await recovery_codes_left(migrated_scratch_database) == 7
    assert server_errors == []
