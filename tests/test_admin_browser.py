"""An operator in a real headless Chromium: log in, add leads, run actions."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.database_setup import PROJECT_ROOT
from tests.server import served_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
USERNAME, PASSWORD = "ana", "a long operator password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)"
    ),
]


async def prepare(database_url: str) -> tuple[int, int]:
    """A workspace with two draft strategy versions, and an operator account."""
    connection = await asyncpg.connect(database_url)
    try:
        workspace_id = await connection.fetchval(
            "INSERT INTO workspace (name) VALUES ('Acme') RETURNING id"
        )
        version_id = await connection.fetchval(
            "INSERT INTO strategy_version (workspace_id, followup_preset) "
            "VALUES ($1, 'GENTLE'), ($1, 'BALANCED') RETURNING id",
            workspace_id,
        )
    finally:
        await connection.close()
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
    return workspace_id, version_id


async def test_an_operator_manages_leads_and_activates_a_strategy(migrated_scratch_database):
    from playwright.async_api import async_playwright, expect

    workspace_id, version_id = await prepare(migrated_scratch_database)
    server_errors: list[str] = []

    with served_app({"DATABASE_URL": migrated_scratch_database}) as (base_url, _):
        admin = f"{base_url}/admin/"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=120_000
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(20_000)
            page.on(
                "response",
                lambda response: (
                    response.status >= 500
                    and server_errors.append(f"{response.status} {response.url}")
                ),
            )

            # Log in and open the leads list.
            await page.goto(admin)
            await page.fill("input[name=username]", USERNAME)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("[data-uitest=login_button]")
            await expect(page.locator("#user")).to_contain_text(USERNAME)
            await page.goto(f"{admin}#/lead")
            await expect(page.locator("#app").first).to_contain_text("Lead")

            # A lead with an invalid timezone is refused with the reason.
            await page.goto(f"{admin}#/lead/add")
            await page.click("input[placeholder=None]")
            await page.click(f".results_list >> text=Acme (#{workspace_id})")
            await page.fill("input[name=external_id]", "+351910000777")
            await page.fill("input[name=timezone]", "Mars/Base")
            await page.click("[data-uitest=create_button]")
            await expect(page.locator("#app").first).to_contain_text(
                "'Mars/Base' is not an IANA timezone name"
            )

            # Corrected, it is created and listed.
            await page.fill("input[name=timezone]", "Europe/Lisbon")
            await page.click("[data-uitest=create_button]")
            await page.wait_for_function(
                "() => !document.querySelector('#app').innerText.includes('Mars/Base')"
            )
            await page.goto(f"{admin}#/lead")
            await expect(page.locator("#app").first).to_contain_text("+351910000777")
            await expect(page.locator("#app").first).to_contain_text(f"Acme (#{workspace_id})")
            ARTIFACTS.mkdir(exist_ok=True)
            screenshot: Path = ARTIFACTS / "admin-leads-list.png"
            await page.screenshot(path=str(screenshot), full_page=True)

            # The "Activate strategy version" action changes the status.
            await page.goto(f"{admin}#/forms/activate-strategy-version")
            await page.fill("input[name=workspace]", f"Acme (#{workspace_id})")
            await page.fill("input[name=version_number]", "1")
            await page.click("[data-uitest=submit_custom_form_button]")
            await expect(page.locator("#app").first).to_contain_text("v1 is now ACTIVE.")
            await page.goto(f"{admin}#/strategy_version")
            # The list shows statuses by their display names.
            await expect(page.locator("#app").first).to_contain_text("Active")

            # "Why not, when next" explains, rule by rule, why the lead gets no follow-up.
            await page.goto(f"{admin}#/forms/why-not,-when-next")
            await page.fill("input[name=workspace]", "Acme")
            await page.fill("input[name=external_id]", "+351910000777")
            await page.click("[data-uitest=submit_custom_form_button]")
            await expect(page.locator("#app").first).to_contain_text(
                "followup refused, ATTESTATION_MISSING"
            )
            await expect(page.locator("#app").first).to_contain_text("[ok] LEAD_SUPPRESSED")
            why_not: Path = ARTIFACTS / "admin-why-not.png"
            await page.screenshot(path=str(why_not), full_page=True)
            await browser.close()

    connection = await asyncpg.connect(migrated_scratch_database)
    try:
        lead = await connection.fetchrow("SELECT external_id, timezone FROM lead")
        status = await connection.fetchval(
            "SELECT status FROM strategy_version WHERE id = $1", version_id
        )
    finally:
        await connection.close()
    assert tuple(lead) == ("+351910000777", "Europe/Lisbon")
    assert status == "ACTIVE"
    assert screenshot.stat().st_size > 10_000 and why_not.stat().st_size > 10_000
    assert server_errors == []
