"""An operator in a real headless Chromium imports a CSV file of 10,000 leads with
their consent: upload, map the columns, see the preview's refusals, import, read the
summary; then imports the same file again and no grant is recorded twice."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from app.lead_import import IMPORT_LIMIT
from tests.browser import BROWSER_TEST, chromium_page
from tests.server import served_app
from tests.test_admin_browser import ARTIFACTS, PASSWORD, USERNAME, prepare

pytestmark = BROWSER_TEST

HEADER = "phone,full name,zone,consent version,opted in at,ip,user agent,signup page,notes"
BAD_ZONE_LINE, NO_OFFSET_LINE = 2_502, 7_503  # lines of the file (the header is line 1)
SAID = datetime(2026, 11, 2, 10, 23, tzinfo=UTC)


def csv_file(path: Path) -> tuple[int, int]:
    """IMPORT_LIMIT rows, every tenth without consent, two of them bad; the numbers of
    good rows and of good rows with consent."""
    lines = [HEADER]
    good = with_consent = 0
    for n in range(IMPORT_LIMIT):
        line = n + 2
        zone = "Mars/Base" if line == BAD_ZONE_LINE else "Europe/Lisbon"
        said = (SAID + timedelta(seconds=n)).isoformat()
        if line == NO_OFFSET_LINE:
            said = "2026-11-02 10:23"
        consent = n % 10 != 0
        cells = [f"+1555{n:07d}", f"Lead {n}", zone]
        if consent:
            cells += ["1", said, f"203.0.113.{n % 250}", "Mozilla/5.0", "https://acme.example/join"]
        else:
            cells += ["", "", "", "", ""]
        lines.append(",".join([*cells, "imported from the CRM"]))
        if line not in (BAD_ZONE_LINE, NO_OFFSET_LINE):
            good += 1
            with_consent += consent
    path.write_text("\n".join(lines) + "\n")
    return good, with_consent


async def counts(database_url: str) -> tuple[int, int]:
    connection = await asyncpg.connect(database_url)
    try:
        leads = await connection.fetchval("SELECT count(*) FROM lead")
        grants = await connection.fetchval(
            "SELECT count(*) FROM consent_event WHERE action = 'grant' AND method = 'import' "
            "AND purpose = 'marketing' AND evidence ? 'page_url' AND recorded_by = $1",
            USERNAME,
        )
        return leads, grants
    finally:
        await connection.close()


async def add_wording(database_url: str, workspace_id: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO consent_wording (workspace_id, business_name, text) "
            "VALUES ($1, 'Acme', 'Acme may message you on WhatsApp about offers')",
            workspace_id,
        )
    finally:
        await connection.close()


async def upload_and_preview(page, expect, base_url: str, workspace_id: int, path: Path) -> None:
    """Open the import page, upload the file, map its columns and preview it."""
    await page.goto(f"{base_url}/admin/csv-import/")
    await page.select_option("select[name=workspace]", str(workspace_id))
    await page.set_input_files("input[name=file]", str(path))
    await page.click("#read")
    await expect(page.locator("#file-summary")).to_contain_text("10,000 rows")
    for field, column in [
        ("external_id", "phone"),
        ("name", "full name"),
        ("timezone", "zone"),
        ("wording_version", "consent version"),
        ("captured_at", "opted in at"),
        ("wording", "1"),
    ]:
        await page.select_option(f"select[name={field}]", column)
    for field, column in [
        ("ip", "ip"),
        ("user_agent", "user agent"),
        ("page_url", "signup page"),
        ("note", ""),
        ("recording", ""),
        ("screenshot", ""),
    ]:
        await page.select_option(f"select[name=evidence-{field}]", column)
    await page.click("#preview")
    await expect(page.locator("#preview-result")).to_be_visible()


async def import_and_read_summary(page, expect) -> dict[str, str]:
    await page.click("#import")
    await expect(page.locator("#summary-section")).to_be_visible(timeout=120_000)
    figures = page.locator("#summary dd")
    return {
        await figures.nth(i).get_attribute("data-figure"): await figures.nth(i).inner_text()
        for i in range(await figures.count())
    }


@pytest.mark.long_running
async def test_an_operator_imports_10000_leads_with_consent_from_a_csv_file(
    migrated_scratch_database, tmp_path
):
    from playwright.async_api import expect

    started = time.perf_counter()
    workspace_id, _ = await prepare(migrated_scratch_database)
    await add_wording(migrated_scratch_database, workspace_id)
    path = tmp_path / "opted-in.csv"
    good, with_consent = csv_file(path)
    server_errors: list[str] = []

    # The first admin is a superuser: its second factor is tested in test_admin_mfa_browser.py.
    env = {"DATABASE_URL": migrated_scratch_database, "ADMIN_MFA": "off"}
    with served_app(env) as (base_url, _):
        async with chromium_page(action_wait_ms=60_000) as page:
            page.on(
                "response",
                lambda response: (
                    response.status >= 500
                    and server_errors.append(f"{response.status} {response.url}")
                ),
            )
            await page.goto(f"{base_url}/admin/")
            await page.fill("input[name=username]", USERNAME)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("[data-uitest=login_button]")
            await expect(page.locator("#user")).to_contain_text(USERNAME)
            await expect(page.locator("a:has-text('Import leads (CSV)')")).to_be_visible()

            # The preview lists the two bad rows and writes nothing.
            await upload_and_preview(page, expect, base_url, workspace_id, path)
            preview_counts = page.locator("#preview-counts")
            await expect(preview_counts).to_have_attribute("data-rejected", "2")
            await expect(preview_counts).to_have_attribute("data-valid", str(good))
            bad_zone = page.locator(f"#refusals tr[data-line='{BAD_ZONE_LINE}']")
            await expect(bad_zone).to_contain_text("'Mars/Base' is not an IANA timezone name")
            no_offset = page.locator(f"#refusals tr[data-line='{NO_OFFSET_LINE}']")
            await expect(no_offset).to_contain_text("consent.captured_at")
            ARTIFACTS.mkdir(exist_ok=True)
            preview_picture = ARTIFACTS / "admin-csv-import-preview.png"
            await page.screenshot(path=str(preview_picture), full_page=True)
            assert await counts(migrated_scratch_database) == (0, 0)

            # Imported in batches, with progress, then the summary.
            summary = await import_and_read_summary(page, expect)
            await expect(page.locator("#progress")).to_have_attribute("value", str(IMPORT_LIMIT))
            summary_picture = ARTIFACTS / "admin-csv-import-summary.png"
            await page.screenshot(path=str(summary_picture), full_page=True)
            assert summary == {
                "created": f"{good:,}",
                "updated": "0",
                "rejected": "2",
                "granted": f"{with_consent:,}",
                "already_granted": "0",
            }
            assert await counts(migrated_scratch_database) == (good, with_consent)

            # The same file again: the leads are updated, no grant is recorded twice.
            await upload_and_preview(page, expect, base_url, workspace_id, path)
            again = await import_and_read_summary(page, expect)
            assert (again["created"], again["updated"]) == ("0", f"{good:,}")
            assert (again["granted"], again["already_granted"]) == ("0", f"{with_consent:,}")
            assert await counts(migrated_scratch_database) == (good, with_consent)

    assert server_errors == []
    for picture in (preview_picture, summary_picture):
        assert picture.stat().st_size > 10_000, picture
    seconds = time.perf_counter() - started
    print(f"CSV import of {IMPORT_LIMIT:,} rows, twice, in Chromium: {seconds:.0f} s")
