"""The sandbox in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright,
which downloads no browser of its own) plans a release, switches to the approvers, approves
it and sees the card change, all asserted on what the page shows.

`releasebot sandbox --port 0` runs as a subprocess, exactly as a person starts it. Set
`SANDBOX_SCREENSHOTS=docs/screenshots` to save the README's screenshots along the way.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
SHOTS = os.environ.get("SANDBOX_SCREENSHOTS")
expect.set_options(timeout=20_000)
#: A title that would run script if the page let it; the README's screenshots use a plain one.
TITLE = "Payments API 2.3" if SHOTS else "Payments API 2.3 <script>window.pwned = 1</script>"


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "RELEASEBOT_"))}
    log = (tmp_path / "sandbox.log").open("w+")
    process = subprocess.Popen([sys.executable, "-m", "handlers.cli", "sandbox", "--port", "0"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            text = (tmp_path / "sandbox.log").read_text()
            found = re.search(r"open (http://127\.0\.0\.1:\d+)/", text)
            if found and re.search(r"releasebot [^:]*started", text):
                url = found.group(1)
            elif process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the sandbox did not start:\n{text}")
            else:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


async def act_as(page: Page, name: str, channel: str) -> None:
    await page.get_by_role("button", name=re.compile(f"^{name}")).click()
    await expect(page.get_by_role("button", name=re.compile(f"^{name}"))).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("button", name=f"# {channel}", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"# {channel}")


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


async def test_plan_approve_and_see_the_card_change(sandbox_url: str, browser: Browser) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(20_000)  # generous: a busy 2-core machine, not a timing assertion
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(sandbox_url + "/")
    messages = page.locator("#messages")

    await act_as(page, "Erin Walsh", "releases")
    composer = page.get_by_role("textbox", name="Message #releases as Erin Walsh")
    await composer.fill(f"/release new standard {TITLE}")
    await page.get_by_role("button", name="Send", exact=True).click()

    dialog = page.get_by_role("dialog", name="Plan a release")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Title")).to_have_value(TITLE)
    await expect(dialog.get_by_label("Release model")).to_have_value("standard")
    await dialog.get_by_label("Components released").fill("payments-api\nledger-db")
    await dialog.get_by_label("Change record").fill("CHG-1234")
    await dialog.get_by_label("Description").fill("A new refund flow for card payments.")
    await dialog.get_by_label("Risk").select_option("low")  # the standard model requires the risk
    await dialog.get_by_label("Impact").fill("Refunds unavailable for a few minutes")
    await dialog.get_by_label("Rollback plan").fill("Redeploy 2.2 from the pipeline.")
    await dialog.get_by_role("button", name="Plan release").click()
    await expect(dialog).to_be_hidden()

    card = messages.locator("article").filter(has_text="REL-1 · Payments API 2.3")
    await expect(card.get_by_role("heading")).to_have_text(f"REL-1 · {TITLE}")  # shown, never run
    await expect(card).to_contain_text("Planned")
    await card.get_by_role("button", name="Submit for approval").click()
    await expect(card).to_contain_text("Awaiting approval")

    await act_as(page, "Alice Moreau", "approvals")
    request = messages.locator("article").filter(has_text="Approval requested: REL-1")
    await expect(request).to_contain_text("0 of 2 approvals")
    await request.get_by_role("button", name="Approve", exact=True).click()
    await expect(request).to_contain_text("1 of 2 approvals — approved by @Alice Moreau")
    await shot(page, "approval-request")

    await act_as(page, "Carol Diaz", "approvals")
    await request.get_by_role("button", name="Approve", exact=True).click()
    await expect(request).to_contain_text("Approved — 2 of 2")
    await expect(request.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    await act_as(page, "Erin Walsh", "releases")
    await expect(card).to_contain_text("Approved")
    await expect(card.get_by_role("button", name="Verify", exact=True)).to_be_visible()
    await expect(card).not_to_contain_text("Submit for approval")
    await shot(page, "release-card")

    await card.get_by_role("button", name="Verify", exact=True).click()
    checklist = page.get_by_role("dialog", name="Verify REL-1")
    await expect(checklist).to_contain_text("Build artefacts signed")
    await checklist.get_by_role("radiogroup").first.get_by_label("Pass").check()
    await shot(page, "verification-checklist")

    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert errors == []


async def test_a_click_while_the_page_redraws_is_not_lost(sandbox_url: str, browser: Browser) -> None:
    """Every state the page asks for arrives late here, so each click below lands while an
    earlier state is still on its way; the page must end where the clicks took it."""
    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(20_000)

    async def late(route: Route) -> None:
        await asyncio.sleep(0.4)
        await route.continue_()

    await page.goto(sandbox_url + "/")
    await act_as(page, "Erin Walsh", "releases")
    await page.route("**/sandbox/state?*", late)
    await page.get_by_role("button", name=re.compile("^Alice Moreau")).click()
    await page.get_by_role("button", name="# approvals", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("# approvals")
    await expect(page.get_by_role("button", name=re.compile("^Alice Moreau"))).to_have_attribute("aria-pressed", "true")
    await expect(page.get_by_role("textbox", name="Message #approvals as Alice Moreau")).to_be_visible()
