"""The diagnostics page in Chromium: the live figures drawn for the owner, from the palette;
nothing for a colleague on the LAN."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from playwright.sync_api import expect

import server as tandem_server
from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def test_the_owner_sees_the_live_figures_from_the_palette(server: LiveServer, browser: Any) -> None:
    pid = server.make_project([{"title": "Write the release notes"}])["id"]
    # A warning for the table of latest errors (the page keeps this process's last ones).
    logging.getLogger("server.example").warning("the disk is nearly full (an example)")
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.keyboard.press("Control+k")
    page.get_by_role("textbox", name="Command").fill("diagnostics")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/#/diagnostics")
    expect(page.get_by_role("heading", name="Diagnostics", exact=True)).to_be_visible()
    expect(page.get_by_test_id("diag-version")).to_have_text(tandem_server.__version__)
    expect(page.get_by_test_id("diag-folder")).to_have_text(str(server.data_dir))
    expect(page.get_by_test_id("diag-connections")).to_contain_text("1 (")
    expect(page.get_by_test_id("diag-errors")).to_contain_text("the disk is nearly full")

    # Traffic while the page is open: it is drawn as it comes (a sample a second).
    for i in range(5):
        server.api("POST", f"/api/v1/projects/{pid}/tasks", {"title": f"Task {i}"})
    commands = page.get_by_test_id("diag-commands")
    expect(commands).not_to_have_text("0 (0 refused)")
    chart = page.get_by_test_id("chart-Messages per second")
    points = chart.locator("polyline").first
    page.wait_for_function(
        "el => el.getAttribute('points').trim().split(' ').length >= 3",
        arg=points.element_handle(),
    )
    latency = page.get_by_test_id("chart-Command latency")
    # The page's own connection, drawn as the latest sample.
    expect(page.get_by_test_id("chart-Connections").locator("figcaption")).to_contain_text("open 1")
    label = latency.locator("svg").get_attribute("aria-label") or ""
    assert label.startswith("Command latency, the last 5 minutes: now p50 ")
    shoot(page, "diagnostics")
    axe_clean(page, "the diagnostics page")
    # Hovering a chart shows the values of that moment.
    box = chart.locator("svg").bounding_box()
    assert box is not None
    chart.locator("svg").hover(position={"x": box["width"] * 0.9, "y": box["height"] / 2})
    expect(chart.locator("line.cursor")).to_have_count(1)
    expect(chart.locator("figcaption")).to_contain_text(" at ")


def test_a_colleague_on_the_lan_gets_no_diagnostics(server: LiveServer, browser: Any) -> None:
    server.make_project()
    lan = server.share_on_lan()
    link = server.invite("editor", "Eve")
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    page.goto(link)
    page.get_by_role("button", name="Join as Eve").click()
    expect(page.get_by_test_id("project")).to_contain_text("Website")
    page.goto(f"{lan}/#/diagnostics")
    expect(
        page.get_by_text("Diagnostics are shown on the computer that runs Tandem only.")
    ).to_be_visible()
    expect(page.get_by_test_id("diag-version")).to_have_count(0)
    axe_clean(page, "diagnostics refused on the LAN")
