"""Search everywhere and settings in real Chromium against a real server: the search page and the
palette's way to it, the theme, the view a project opens in; screenshots and axe in both themes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> tuple[dict[str, Any], dict[str, Any]]:
    web = server.make_project(
        [
            {"title": "Login page is slow", "description": "Measure the **login** first"},
            {"title": "Footer links"},
        ],
        key="WEB",
        name="Website",
    )
    app = server.make_project(
        [{"title": "Crash on start"}, {"title": "Offline mode"}], key="APP", name="Mobile app"
    )
    crash = next(
        t
        for t in server.api("GET", f"/api/v1/projects/{app['id']}/tasks")["tasks"]
        if t["title"] == "Crash on start"
    )
    server.api(
        "POST", f"/api/v1/tasks/{crash['id']}/comments", {"body": "Only after the login screen"}
    )
    return web, app


def test_search_everywhere_from_the_palette_and_the_page(server: LiveServer, browser: Any) -> None:
    web, app = seed(server)
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{web['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.keyboard.press("Control+k")
    page.get_by_role("textbox", name="Command").fill("login")
    # Ctrl+Enter searches everywhere, whatever the palette's own list holds.
    expect(page.get_by_test_id("palette-search-everywhere")).to_have_text(
        "Search everywhere for “login”Ctrl+Enter"
    )
    page.keyboard.press("Control+Enter")
    expect(page).to_have_url(f"{server.url}/#/search/login")
    hits = page.get_by_test_id("search-hit")
    # The title match first, then the description and another project's comment.
    expect(hits).to_have_count(2)
    expect(page.get_by_test_id("search-status")).to_have_text("2 tasks match")
    expect(hits.nth(0)).to_contain_text("WEB-1")
    expect(hits.nth(0)).to_contain_text("Website")
    expect(hits.nth(1)).to_contain_text("APP-1")
    expect(hits.nth(1)).to_contain_text("in a comment")
    expect(hits.nth(1).locator("mark")).to_have_text("login")
    shoot(page, "search-page")
    axe_clean(page, "search page")

    # Changes are found as soon as they are saved; a key finds its task.
    server.api("POST", f"/api/v1/projects/{app['id']}/tasks", {"title": "Login with passkeys"})
    page.get_by_test_id("search-input").fill("login pass")
    expect(hits).to_have_count(1)
    expect(hits.nth(0)).to_contain_text("APP-3")
    page.get_by_test_id("search-input").fill("web-2")
    expect(hits).to_have_count(1)
    expect(hits.nth(0)).to_contain_text("Footer links")
    page.get_by_test_id("search-input").fill("nothing-like-it")
    expect(page.get_by_test_id("search-status")).to_have_text("No task matches.")
    # A refusal is shown in the server's words, not as an empty list.
    page.get_by_test_id("search-input").fill("?!")
    expect(page.get_by_test_id("search-error")).to_contain_text("at least one letter or digit")

    # A hit opens its task in its project.
    page.get_by_test_id("search-input").fill("crash")
    hits.nth(0).click()
    expect(page.locator(".project-title")).to_have_text("Mobile app")
    expect(page.get_by_test_id("task-panel").get_by_label("Title")).to_have_value("Crash on start")


def test_settings_theme_and_default_view(server: LiveServer, browser: Any) -> None:
    web, _ = seed(server)
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/settings")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    # "Same as the system" follows the system as it changes.
    page.emulate_media(color_scheme="dark")
    expect(html).to_have_attribute("data-theme", "dark")
    page.emulate_media(color_scheme="light")
    shoot(page, "settings-page")
    axe_clean(page, "settings page")
    # A chosen theme holds whatever the system says, and across a reload.
    page.get_by_label("Dark").check()
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    page.get_by_label("Light").check()
    page.emulate_media(color_scheme="dark")
    expect(html).to_have_attribute("data-theme", "light")
    page.get_by_label("Same as the system").check()
    expect(html).to_have_attribute("data-theme", "dark")
    page.emulate_media(color_scheme="light")

    # Projects open in the chosen view; the Board tab still shows the board.
    page.get_by_test_id("setting-default-view").get_by_label("List").check()
    page.goto(f"{server.url}/#/")
    page.get_by_role("link", name="Website").click()
    expect(page).to_have_url(f"{server.url}/#/p/{web['id']}/list")
    expect(page.get_by_test_id("list-row")).to_have_count(2)
    page.get_by_role("navigation", name="View").get_by_role("link", name="Board").click()
    expect(page.get_by_test_id("card")).to_have_count(2)

    # The name and the colour are saved for everyone, in place (the page is not reloaded).
    page.goto(f"{server.url}/#/settings")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.evaluate("() => { window.stillThisPage = true; }")
    page.get_by_role("textbox", name="Your name").fill("Ana Lima")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("textbox", name="Your name")).to_have_value("Ana Lima")
    page.get_by_label("Your colour").fill("#0a7358")
    page.get_by_role("button", name="Save colour").click()
    expect(page.get_by_role("button", name="Save colour")).to_be_disabled()

    def me() -> dict[str, Any]:
        members = server.api("GET", "/api/v1/members")["members"]
        return next(m for m in members if m["displayName"] == "Ana Lima")

    assert me()["color"] == "#0a7358"
    assert page.evaluate("() => window.stillThisPage === true")
    shoot(page, "settings-name-and-colour")
    axe_clean(page, "settings with the colour chosen")
