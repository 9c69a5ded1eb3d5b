"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against `appban serve`.

The database is seeded through the service layer (tests/web/support.py) and served by `appban serve` in a
subprocess on a free port. One test signs in (with the keyboard), finds the Commission's TikTok restriction with
its counts, opens a non-compliant device, grants an exemption and sees the counts change; another signs in as
a Flemish municipality's admin and cannot reach the Commission's pages. A screenshot of every page is written
to test-artifacts/screenshots/. Skipped only when /usr/bin/chromium is missing; Playwright never downloads a
browser here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from appban.store import Database

from .support import EU_RESTRICTION, PASSWORD, seed

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`appban serve` on a seeded SQLite database; its base URL."""
    where = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{where / 'appban.db'}"
    with Database.open(url) as database:
        database.upgrade()
        seed(database, dt.datetime.now(dt.UTC))
    port = _free_port()
    environ = {**os.environ, "APPBAN_DATABASE_URL": url, "APPBAN_SECRET": "browser-tests-secret-0123456789",
               "APPBAN_DECISION_LOG": "off"}
    appban = Path(sys.executable).with_name("appban")
    log = (where / "serve.log").open("wb")
    process = subprocess.Popen([str(appban), "serve", "--port", str(port)], cwd=where, env=environ, stdout=log,
                               stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"appban serve did not start: {(where / 'serve.log').read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


def _page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    return context.new_page()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/")
    assert "/login" in page.url
    expect(page.get_by_label("Username")).to_be_focused()  # autofocus: the keyboard starts there
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")


def _counts(page: Page) -> dict[str, int]:
    row = page.locator(f'tr[data-restriction="{EU_RESTRICTION}"]')
    return {state: int(row.locator(f'td[data-state="{state}"]').inner_text())
            for state in ("compliant", "exempt", "grace", "non_compliant")}


def test_an_admin_finds_the_commissions_restriction_and_exempts_a_device(server: str, browser: Browser) -> None:
    page = _page(browser)
    page.goto(f"{server}/")
    _shot(page, "sign-in")
    _sign_in(page, server, "ec-admin")
    expect(page.get_by_role("heading", level=1)).to_contain_text("European Commission")
    assert _counts(page) == {"compliant": 2, "exempt": 1, "grace": 1, "non_compliant": 2}
    assert page.locator("svg.chart > title").count() == 2
    _shot(page, "overview")

    page.get_by_role("link", name="TikTok off corporate devices and enrolled personal devices").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "TikTok off corporate devices and enrolled personal devices")
    totals = page.locator(".totals")
    expect(totals.locator('[data-state="non_compliant"] strong')).to_have_text("2")
    expect(page.get_by_role("link", name=re.compile(r"asm_[0-9a-f]{16}"))).to_be_visible()
    _shot(page, "restriction")

    page.get_by_role("link", name="Devices", exact=True).click()
    page.get_by_label("State").select_option("non_compliant")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#device-count")).to_contain_text("2 devices")
    _shot(page, "devices")
    page.get_by_role("link", name="eu/phone-1").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("non-compliant")
    _shot(page, "device")

    page.get_by_label("Reason").fill("Press office phone: monitors the Commission's own TikTok account")
    page.get_by_label("Approver").fill("DIGIT security officer")
    page.get_by_role("button", name="Grant exemption").click()
    expect(page.get_by_role("status")).to_contain_text("granted")
    expect(page.get_by_role("heading", level=1)).to_contain_text("exempt")
    _shot(page, "device-exempted")

    page.get_by_role("link", name="Overview").click()
    assert _counts(page) == {"compliant": 2, "exempt": 2, "grace": 1, "non_compliant": 1}

    page.get_by_role("link", name="Exemptions").click()
    expect(page.get_by_role("cell", name="Press office phone: monitors the Commission's own TikTok account")
           ).to_be_visible()
    _shot(page, "exemptions")
    page.get_by_role("link", name="Assessments").click()
    page.get_by_role("link", name=re.compile(r"asm_[0-9a-f]{16}")).first.click()
    expect(page.get_by_role("heading", name="Factor breakdown")).to_be_visible()
    _shot(page, "assessment")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Event").select_option("exemption")
    page.get_by_role("button", name="Filter").click()
    newest = page.locator("table.audit tbody tr").first
    expect(newest).to_contain_text("ec-admin")  # the user's name, the exact actor in the cell's title
    expect(newest.locator("td[title^='user:usr_']")).to_have_count(1)
    _shot(page, "audit")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))


def test_a_flemish_municipality_cannot_reach_the_commissions_pages(server: str, browser: Browser) -> None:
    page = _page(browser)
    _sign_in(page, server, "leuven-admin")
    expect(page.get_by_role("heading", level=1)).to_contain_text("City of Leuven")
    assert page.locator(f'tr[data-restriction="{EU_RESTRICTION}"]').count() == 0
    assert "eu-commission" not in page.content()
    _shot(page, "overview-leuven")
    for path in (f"/restrictions/{EU_RESTRICTION}", "/devices/eu/phone-1", "/devices?organisation=eu-commission"):
        response = page.goto(f"{server}{path}")
        assert response.status == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    _shot(page, "not-found")
    page.goto(f"{server}/devices")
    expect(page.locator("#device-count")).to_contain_text("2 devices")


def test_an_analyst_asks_for_an_exemption_and_an_admin_approves_it(server: str, browser: Browser) -> None:
    """Issue 6: the request flow, the what-if of a draft; runs after the first test (phone-1 is exempt)."""
    page = _page(browser)
    _sign_in(page, server, "ec-analyst")
    page.goto(f"{server}/devices/eu/phone-2")
    expect(page.get_by_role("heading", level=1)).to_contain_text("non-compliant")
    expect(page.get_by_role("button", name="Grant exemption")).to_have_count(0)
    page.get_by_label("Reason").fill("Runs the Commission's account for DG COMM")
    page.get_by_label("Last day wanted (UTC)").fill((dt.date.today() + dt.timedelta(days=10)).isoformat())
    page.get_by_role("button", name="Request exemption").click()
    expect(page.get_by_role("status")).to_contain_text("pending")
    expect(page.get_by_role("heading", level=1)).to_contain_text("non-compliant")  # nothing changes yet
    expect(page.get_by_role("heading", name="Notices sent to the holder")).to_be_visible()
    _shot(page, "device-requested")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))

    _sign_in(page, server, "ec-admin")
    page.get_by_role("link", name="Exemptions").click()
    row = page.locator("tr[data-request]").filter(has_text="eu/phone-2")
    expect(row).to_contain_text("Runs the Commission's account for DG COMM")
    _shot(page, "exemption-requests")
    row.get_by_label("Note (optional)").fill("Reviewed with DIGIT security")
    row.get_by_role("button", name=re.compile("^Approve request")).click()
    expect(page.get_by_role("status")).to_contain_text("approved")
    page.goto(f"{server}/devices/eu/phone-2")
    expect(page.get_by_role("heading", level=1)).to_contain_text("exempt")

    page.goto(f"{server}/restrictions/{EU_RESTRICTION}")
    draft = page.get_by_label(re.compile("^Draft of"))
    draft.fill(draft.input_value().replace("organisations: [eu-commission]", "organisations: [eu-commission-dg-digit]"))
    page.get_by_role("button", name="Show the impact").click()
    expect(page.get_by_role("heading", name="Impact of the draft")).to_be_visible()
    expect(page.locator('[data-whatif-device="eu/phone-2"]')).to_have_count(0)  # DG COMM is out of the draft
    expect(page.locator('[data-whatif-device="eu/phone-3"]')).to_have_count(1)
    _shot(page, "restriction-what-if")
