"""An operator in a real headless Chromium: log in, add leads, run actions."""

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.browser import BROWSER_TEST, chromium_page
from tests.database_setup import PROJECT_ROOT
from tests.server import served_app

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
USERNAME, PASSWORD = "ana", "a long operator password"

pytestmark = BROWSER_TEST


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


async def pick(page, field: str, typed: str, label: str) -> None:
    """Type part of a row's name into a form field, then pick the suggestion by its label."""
    field_input = page.locator(f"form input[name={field}][list]")
    await field_input.click()
    await field_input.press_sequentially(typed)
    option = page.locator(f"datalist#picker-{field} option[label='{label}']")
    await option.wait_for(state="attached")
    await field_input.fill(await option.get_attribute("value"))


async def lead_id_of(database_url: str, external_id: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT id FROM lead WHERE external_id = $1", external_id)
    finally:
        await connection.close()


@pytest.mark.long_running
async def test_an_operator_manages_leads_and_activates_a_strategy(migrated_scratch_database):
    from playwright.async_api import expect

    workspace_id, version_id = await prepare(migrated_scratch_database)
    server_errors: list[str] = []

    # The first admin is a superuser: its second factor is tested in test_admin_mfa_browser.py.
    env = {"DATABASE_URL": migrated_scratch_database, "ADMIN_MFA": "off"}
    with served_app(env) as (base_url, _):
        admin = f"{base_url}/admin/"
        async with chromium_page() as page:
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
            # Two-factor sign-in is off here: the user menu offers no MFA Setup.
            await page.click("#user")
            await expect(page.locator("[data-uitest=logout_button]")).to_be_visible()
            await expect(page.get_by_text("MFA Setup")).to_be_hidden()
            await page.click("#user")
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

            # Searching by part of the phone number, as a new operator would.
            await page.click("[data-uitest=filter_button]")
            await page.fill("[data-uitest=right_sidebar] input[name=external_id]", "0000777")
            await page.click("[data-uitest=submit_filter_button]")
            await expect(page.locator("#result_count")).to_contain_text("of 1 result")
            await expect(page.locator("#app").first).to_contain_text("+351910000777")
            search: Path = ARTIFACTS / "admin-lead-search.png"
            await page.screenshot(path=str(search), full_page=True)

            # An edit, then the lead's history reached from the lead itself.
            lead_id = await lead_id_of(migrated_scratch_database, "+351910000777")
            await page.goto(f"{admin}#/lead/{lead_id}/")
            await expect(page.locator("input[name=external_id]")).to_have_value("+351910000777")
            await page.fill("input[name=name]", "Rita Sousa")
            await page.click("[data-uitest=save_button]")
            await expect(page.locator("#app").first).to_contain_text("Successfully saved")
            # The lead's page says which zone its local time is read in, and why.
            await expect(page.locator("#lead-zone")).to_contain_text(
                "Local time read in Europe/Lisbon (lead_timezone): the lead's timezone."
            )
            await page.click("text=Show referencing tables")
            await page.click(".related_tables >> text=change_log")
            await expect(page.locator("#app").first).to_contain_text("admin edit")
            await expect(page.locator("#app").first).to_contain_text("Rita Sousa")
            await expect(page.locator("#app").first).to_contain_text(USERNAME)

            # "Activate strategy version": the version is picked, not typed.
            await page.goto(f"{admin}#/forms/activate-strategy-version")
            await pick(page, "version", "v1 of", "v1 of Acme")
            await page.click("[data-uitest=submit_custom_form_button]")
            await expect(page.locator("#app").first).to_contain_text("v1 is now ACTIVE.")
            await page.goto(f"{admin}#/strategy_version")
            # The list shows statuses by their display names.
            await expect(page.locator("#app").first).to_contain_text("Active")

            # "Why not, when next": the lead is found by part of its number.
            await page.goto(f"{admin}#/forms/why-not,-when-next")
            await pick(page, "lead", "0000777", "+351910000777 (Rita Sousa)")
            await page.click("[data-uitest=submit_custom_form_button]")
            await expect(page.locator("#app").first).to_contain_text(
                "followup refused, ATTESTATION_MISSING"
            )
            await expect(page.locator("#app").first).to_contain_text("[ok] LEAD_SUPPRESSED")
            why_not: Path = ARTIFACTS / "admin-why-not.png"
            await page.screenshot(path=str(why_not), full_page=True)

            # The overview, from the sidebar link, with the workspace's numbers.
            await page.goto(admin)
            await page.click("a:has-text('Overview')")
            await page.select_option("select[name=workspace]", str(workspace_id))
            await expect(page.locator("#funnel")).to_contain_text("NEW")
            await expect(page.locator("main")).to_contain_text("1 lead")
            await expect(page.locator("#strategy")).to_contain_text("v1 (GENTLE)")
            # The channel: the tier and its limit, the failures, the held leads.
            await expect(page.locator("#channel")).to_contain_text(
                "TIER_250: 250 people in any 24 h"
            )
            await expect(page.locator("#channel")).to_contain_text(
                "Failed deliveries by error code"
            )
            overview: Path = ARTIFACTS / "admin-overview.png"
            await page.screenshot(path=str(overview), full_page=True)

    connection = await asyncpg.connect(migrated_scratch_database)
    try:
        lead = await connection.fetchrow("SELECT external_id, timezone, name FROM lead")
        status = await connection.fetchval(
            "SELECT status FROM strategy_version WHERE id = $1", version_id
        )
    finally:
        await connection.close()
    assert tuple(lead) == ("+351910000777", "Europe/Lisbon", "Rita Sousa")
    assert status == "ACTIVE"
    for picture in (screenshot, search, why_not, overview):
        assert picture.stat().st_size > 10_000, picture
    assert server_errors == []
