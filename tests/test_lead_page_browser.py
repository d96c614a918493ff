"""An operator in a real headless Chromium records a lead's consent, then opens the
lead's page from the lead list: consent state, timeline, "Why not, when next".

The screenshot of the lead's page is saved under pytest's temporary directory for the
test (``tmp_path``, e.g. /tmp/pytest-of-root/pytest-N/test_an_operator_records_.../
lead-page.png); its path is printed (``pytest -s`` shows it)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.browser import BROWSER_TEST, chromium_page
from tests.server import served_app
from tests.test_admin_browser import PASSWORD, USERNAME, pick, prepare

NUMBER = "+351910000777"

pytestmark = BROWSER_TEST


async def outreach_ready(database_url: str, workspace_id: int, version_id: int) -> int:
    """Acme in Lisbon with an ACTIVE strategy and a granted attestation; a lead with a
    delivered message (and its permit) and two refused follow-ups; a wording to consent
    to. The lead's id."""
    connection = await asyncpg.connect(database_url)
    now = datetime.now(UTC)
    try:
        await connection.execute(
            "UPDATE workspace SET timezone = 'Europe/Lisbon' WHERE id = $1", workspace_id
        )
        await connection.execute(
            "UPDATE strategy_version SET status = 'ACTIVE', activated_at = now() WHERE id = $1",
            version_id,
        )
        await connection.execute(
            "INSERT INTO outreach_attestation (workspace_id, operator_id, granted) "
            "VALUES ($1, 'ana', true)",
            workspace_id,
        )
        lead_id = await connection.fetchval(
            "INSERT INTO lead (workspace_id, external_id, name, timezone) "
            "VALUES ($1, $2, 'Rita Sousa', 'Europe/Lisbon') RETURNING id",
            workspace_id,
            NUMBER,
        )
        thread_id = await connection.fetchval(
            "INSERT INTO conversation_thread (workspace_id, lead_id) VALUES ($1, $2) RETURNING id",
            workspace_id,
            lead_id,
        )
        # History: a message we sent yesterday under its permit (the permit rule,
        # checked against now() by a trigger, held then).
        permit_id = await connection.fetchval(
            "INSERT INTO policy_decision (workspace_id, lead_id, kind, allow_send, reason_code, "
            "message_format, summary, created_at) VALUES ($1, $2, 'followup', true, "
            "'POLICY_PASSED', 'template', 'followup allowed', $3) RETURNING id",
            workspace_id,
            lead_id,
            now - timedelta(days=1, minutes=1),
        )
        await connection.execute("SET session_replication_role = replica")
        await connection.execute(
            "INSERT INTO chat_message (thread_id, role, content, delivery_status, permit_id, "
            "created_at) VALUES ($1, 'model', 'Hello Rita, the flat is still free.', "
            "'delivered', $2, $3)",
            thread_id,
            permit_id,
            now - timedelta(days=1),
        )
        await connection.execute("RESET session_replication_role")
        await connection.execute(
            """
            INSERT INTO policy_decision (workspace_id, lead_id, kind, allow_send, reason_code,
                                         summary, next_allowed_at, created_at)
            SELECT $1, $2, 'followup', false, 'QUIET_HOURS', 'outside the send window',
                   $3::timestamptz + n * interval '1 hour', $3::timestamptz - n * interval '1 hour'
              FROM generate_series(1, 2) AS n
            """,
            workspace_id,
            lead_id,
            now,
        )
        await connection.execute(
            "INSERT INTO consent_wording (workspace_id, business_name, text) "
            "VALUES ($1, 'Acme', 'Yes, Acme may send me offers on WhatsApp.')",
            workspace_id,
        )
    finally:
        await connection.close()
    return lead_id


async def consent_events(database_url: str) -> list[tuple]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT action, purpose, method, recorded_by FROM consent_event ORDER BY id"
        )
    finally:
        await connection.close()
    return [tuple(row) for row in rows]


@pytest.mark.long_running
async def test_an_operator_records_consent_and_reads_the_lead_page(
    migrated_scratch_database, tmp_path: Path
):
    from playwright.async_api import expect

    workspace_id, version_id = await prepare(migrated_scratch_database)
    lead_id = await outreach_ready(migrated_scratch_database, workspace_id, version_id)
    server_errors: list[str] = []
    screenshot = tmp_path / "lead-page.png"

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
            await page.goto(admin)
            await page.fill("input[name=username]", USERNAME)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("[data-uitest=login_button]")
            await expect(page.locator("#user")).to_contain_text(USERNAME)

            # "Record consent": a grant without wording is refused with the reason...
            await page.goto(f"{admin}#/forms/record-consent")
            await pick(page, "workspace", "Acm", f"Acme (#{workspace_id})")
            await pick(page, "lead", "0000777", f"{NUMBER} (Rita Sousa)")
            await page.fill("form input[name=method]", "web_form")
            await page.click("[data-uitest=submit_custom_form_button]")
            await expect(page.locator("#app").first).to_contain_text(
                "wording: a grant must name the wording the person was shown"
            )
            assert await consent_events(migrated_scratch_database) == []
            # ... and with the wording picked, recorded as the operator.
            await pick(page, "wording", "Acm", "v1 Acme")
            await page.click("[data-uitest=submit_custom_form_button]")
            await expect(page.locator("#app").first).to_contain_text("Recorded consent event #")

            # The ledger offers no add, edit or delete.
            await page.goto(f"{admin}#/consent_event")
            await expect(page.locator("#app").first).to_contain_text(NUMBER)
            await expect(page.locator("a.button[href$='/add/']")).to_have_count(1)
            await expect(page.locator("a.button[href$='/add/']")).to_be_hidden()
            await page.click("#app table a[href^='#/consent_event/']")
            await expect(page.locator("#app form")).to_be_visible()
            await expect(page.locator("[data-uitest=save_button]")).to_have_count(1)
            await expect(page.locator("[data-uitest=save_button]")).to_be_hidden()
            await page.click("[data-uitest=drop_down_button]")
            # The row page's menu opened: its Delete is there, and not shown.
            await expect(page.locator("[data-uitest=delete_row_button]")).to_have_count(1)
            await expect(page.locator("[data-uitest=delete_row_button]")).to_be_hidden()

            # The lead's page, from the lead list.
            await page.goto(f"{admin}#/lead")
            await page.click(f"a.lead-page-link[href='./lead-page/{lead_id}/']")
            await expect(page.locator("h1")).to_have_text(f"{NUMBER} (Rita Sousa)")
            await expect(page.locator("dd[data-label=marketing]")).to_contain_text("granted")
            await expect(page.locator("dd[data-label=utility]")).to_contain_text("nothing recorded")
            timeline = page.locator("ol.timeline")
            await expect(timeline.locator("li[data-source=consent]")).to_contain_text(
                "grant marketing, wording v1"
            )
            await expect(timeline.locator("li[data-source=message]")).to_contain_text(
                "We sent: “Hello Rita, the flat is still free.” delivered"
            )
            await expect(timeline.locator("li[data-source=decision]")).to_have_count(3)
            why_not = page.locator("#why-not")
            await expect(why_not.locator("[data-figure=verdict]")).to_be_visible()
            await expect(why_not.locator("tr[data-rule=ATTESTATION_MISSING]")).to_contain_text(
                "passed"
            )
            await expect(why_not.locator("ol[data-figure=planned] li").first).to_contain_text("WET")
            await page.screenshot(path=str(screenshot), full_page=True)
            print(f"lead page screenshot: {screenshot}")

            # The lead's row page links to its page too.
            await page.goto(f"{admin}#/lead/{lead_id}/")
            await page.click("#lead-page-link a")
            await expect(page).to_have_url(f"{admin}lead-page/{lead_id}/")
            await expect(page.locator("#timeline")).to_be_visible()

    assert await consent_events(migrated_scratch_database) == [
        ("grant", "marketing", "web_form", USERNAME)
    ]
    assert screenshot.stat().st_size > 10_000
    assert server_errors == []
