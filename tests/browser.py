"""A real headless Chromium (Debian's) for the admin's browser tests, through
Playwright: one way to start it and one set of waits."""

import contextlib
import shutil
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Actions and Playwright's assertions wait this long: the suite runs in parallel, and
# a save may take seconds on a busy machine.
WAIT_MS = 20_000

# A browser test module's marks (``pytestmark = BROWSER_TEST``); in CI a skip fails.
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)"
    ),
]


@contextlib.asynccontextmanager
async def chromium_page(action_wait_ms: int = WAIT_MS) -> AsyncIterator["Page"]:
    """A page of a fresh headless Chromium, closed afterwards; its actions wait up to
    ``action_wait_ms``, assertions ``WAIT_MS``."""
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=WAIT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=120_000
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(action_wait_ms)
            yield page
        finally:
            await browser.close()
