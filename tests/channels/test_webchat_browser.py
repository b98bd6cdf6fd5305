"""The web chat in a real headless Chromium: a full report by IVRS with a photo, the nearby list, status.

Uses Debian's /usr/bin/chromium through playwright (never a downloaded browser). Skipped when the
browser is missing, except under CI, where .ci/run installs it and the test must run.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.app import Runtime
from tests.channels.conftest import INJECTION_ADDRESS, INJECTION_IVRS, mark_as_demo
from tests.conversation import jpeg_bytes

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
WRIGHT_TOWN = {"latitude": 23.16865, "longitude": 79.93390, "accuracy": 20}

pytestmark = pytest.mark.slow


def _browser_unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    reason = _browser_unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so the browser test must run")
        pytest.skip(reason)
    from playwright.async_api import async_playwright, expect

    # A loaded 2-core CI machine can take longer than playwright's 5 s default to draw the page.
    expect.set_options(timeout=30_000)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_full_report_nearby_and_status_in_chromium(
    browser: object, wc_server: TestServer, wc_runtime: Runtime, tmp_path: Path
) -> None:
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    mark_as_demo(wc_runtime)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-IN",
        geolocation=WRIGHT_TOWN,
        permissions=["geolocation"],
    )
    context.set_default_timeout(30_000)
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda dialog: problems.append(f"dialog opened: {dialog.message}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    log = page.locator("#log")

    async def press(label: str) -> None:
        """Presses a button on the latest bot message that has buttons."""
        await page.locator(".msg.bot.has-choices").last.get_by_role("button", name=label).click()

    async def say(text: str) -> None:
        await page.fill("#text", text)
        await page.press("#text", "Enter")

    await page.goto(str(wc_server.make_url("/")))
    await expect(page.locator("#start")).to_be_visible()
    await expect(page.locator("#demo-badge")).to_have_text("demo data")
    await page.click("#start")
    await press("English")
    await expect(log).to_contain_text("Before you start")
    await press("I agree")
    await expect(page.locator("#ask-contact")).to_be_visible()
    await expect(page.locator("#ask-contact")).to_contain_text("no SMS is sent")
    await page.fill("#phone", "98765 43210")
    await page.click("#contact-form button[type=submit]")
    await expect(log).to_contain_text("you are registered")

    await press("Report theft")
    await press("Meter tampering")
    await press("Yes, I know the IVRS")
    await say("N3330008565")
    await expect(log).to_contain_text("Is this the consumer")
    await press("Yes, this one")
    await expect(page.locator("#ask-photo")).to_be_visible()
    photo = tmp_path / "meter.jpg"
    photo.write_bytes(jpeg_bytes(800, 600))
    await page.set_input_files("#photo-input", str(photo))
    await expect(page.locator("#preview-img")).to_be_visible()
    await expect(page.locator("#preview-caption")).to_contain_text("meter.jpg")
    await page.click("#send-photo")
    await expect(log).to_contain_text("Photo 1 of 5 received")
    await press("Done")
    await press("Skip")
    await expect(log).to_contain_text("Please check your complaint")
    await press("Submit")
    await expect(log).to_contain_text(re.compile(r"Complaint id: VM-\d{4}-\d+"))
    filed = await log.inner_text()
    public_id = re.findall(r"VM-\d{4}-\d+", filed)[-1]

    await page.click("nav [data-command='/nearby']")
    await expect(page.locator("#ask-location")).to_be_visible()
    await expect(page.locator("#map .leaflet-interactive").first).to_be_attached()  # the offline map drew
    await page.click("#use-gps")
    await expect(log).to_contain_text("Consumers within 750 m")
    await expect(log).to_contain_text(INJECTION_IVRS)
    # The register's markup is shown as text: the literal string is visible and no element was made.
    await expect(log).to_contain_text(INJECTION_ADDRESS)
    assert await page.locator("#log img[src='x']").count() == 0

    await page.click("nav [data-command='/status']")
    await expect(log).to_contain_text("Your complaints")
    await expect(page.locator(".msg.bot.has-choices").last.get_by_role("button", name=public_id)).to_be_visible()
    assert problems == []

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "webchat.png"))
    await _desktop_map_screenshot(browser, wc_server)
    await context.close()


async def _desktop_map_screenshot(browser: object, server: TestServer) -> None:
    """A desktop view of the location step with the offline map, for a look at the demo layout."""
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    context = await browser.new_context(viewport={"width": 1100, "height": 800}, locale="hi-IN")
    context.set_default_timeout(30_000)
    page = await context.new_page()
    await page.goto(str(server.make_url("/")))
    await page.click("#open-location")
    await expect(page.locator("#map .leaflet-interactive").first).to_be_attached()
    await page.locator("#map").click(position={"x": 200, "y": 120})
    await expect(page.locator("#send-map")).to_be_enabled()
    await page.screenshot(path=str(ARTIFACTS / "webchat-map.png"))
    await context.close()
