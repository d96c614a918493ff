"""An operator issues a scoped API token in a real headless Chromium: the workspace is
picked, scopes ticked, the token shown once, and it opens only its scopes."""

import asyncpg
import httpx

from tests.browser import BROWSER_TEST, chromium_page
from tests.database_setup import PROJECT_ROOT
from tests.server import served_app
from tests.test_admin_browser import PASSWORD, USERNAME, pick, prepare

pytestmark = BROWSER_TEST
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


async def tick(page, field: str) -> None:
    """A yes/no form field set to yes, whichever control the admin renders for it."""
    control = page.locator(f"form [name={field}]").first
    if await control.evaluate("element => element.tagName") == "SELECT":
        await control.select_option(label="True")
    else:
        await control.check()


async def test_an_operator_issues_a_scoped_token_shown_once(migrated_scratch_database):
    from playwright.async_api import expect

    workspace_id, _ = await prepare(migrated_scratch_database)
    # The first admin is a superuser; two-factor sign-in has its own browser test.
    env = {"DATABASE_URL": migrated_scratch_database, "ADMIN_MFA": "off"}
    with served_app(env) as (base_url, _):
        admin = f"{base_url}/admin/"
        async with chromium_page() as page:
            await page.goto(admin)
            await page.fill("input[name=username]", USERNAME)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("[data-uitest=login_button]")
            await expect(page.locator("#user")).to_contain_text(USERNAME)

            await page.goto(f"{admin}#/forms/create-api-token")
            await pick(page, "workspace", "Acm", f"Acme (#{workspace_id})")
            await page.fill("form input[name=name]", "outreach engine")
            await tick(page, "read")
            await tick(page, "send")
            await page.click("[data-uitest=submit_custom_form_button]")
            shown = page.locator("#app").first
            await expect(shown).to_contain_text("Copy it now, it is shown only once: mp_")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "admin-create-token.png"), full_page=True)
            text = await shown.inner_text()
            secret = text.split("shown only once: ", 1)[1].split()[0]

        async with httpx.AsyncClient(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {secret}"}
        ) as api:
            read = await api.get("/workspace")
            changed = await api.patch("/workspace", json={"name": "Other"})
    assert (read.status_code, changed.status_code) == (200, 403)
    connection = await asyncpg.connect(migrated_scratch_database)
    try:
        row = await connection.fetchrow("SELECT name, scopes, expires_at FROM api_token")
    finally:
        await connection.close()
    assert dict(row) == {"name": "outreach engine", "scopes": ["read", "send"], "expires_at": None}
