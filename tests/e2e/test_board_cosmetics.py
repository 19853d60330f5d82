"""The board's finish in real Chromium: styled Markdown, activity that names what changed,
clamped long titles, priorities told apart, the palette's shortcut for the platform, a burndown
the width of its card, a favicon, and what a screen reader hears on a card."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean
from tests.e2e.test_panel_and_sprint_polish import (
    open_board,
    patch,
    tasks_by_title,
)
from tests.fixtures import ROOT

pytestmark = pytest.mark.e2e

DESCRIPTION = """Plan:

- [x] sketch the form
- [ ] wire the API

| Field | Rule |
| --- | --- |
| email | required |

See [the spec](https://example.org/spec).
"""

LONG_TITLE = "Make the sign-in page " + " ".join(["remember the last account"] * 14)


def seed(server: LiveServer) -> dict[str, Any]:
    return server.make_project(
        [
            {
                "title": "Design the login page",
                "priority": "TASK_PRIORITY_NONE",
                "description": DESCRIPTION,
            },
            {"title": "Low one", "priority": "TASK_PRIORITY_LOW"},
            {"title": "Medium one", "priority": "TASK_PRIORITY_MEDIUM"},
            {"title": LONG_TITLE, "priority": "TASK_PRIORITY_HIGH"},
        ]
    )


def test_markdown_task_lists_tables_and_links_are_styled(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    tasks = tasks_by_title(server, pid)
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{pid}/t/{tasks['Design the login page']['id']}")
    md = page.get_by_test_id("description")
    expect(md.locator("table")).to_have_count(1)
    item = md.locator("li").filter(has=page.locator("input[type=checkbox]")).first
    assert item.evaluate("e => getComputedStyle(e).listStyleType") == "none"
    cell = md.locator("td").first
    assert cell.evaluate("e => parseFloat(getComputedStyle(e).borderBottomWidth)") >= 1
    assert md.locator("table").evaluate("e => getComputedStyle(e).borderCollapse") == "collapse"
    link = md.get_by_role("link", name="the spec")
    assert link.evaluate("e => getComputedStyle(e).textDecorationLine") == "underline"
    body_color = md.evaluate("e => getComputedStyle(e).color")
    assert link.evaluate("e => getComputedStyle(e).color") != body_color
    shoot(page, "markdown-styled")
    axe_clean(page, "styled Markdown")


def test_activity_names_the_labels_that_changed(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    task = tasks_by_title(server, pid)["Low one"]
    server.api("PATCH", f"/api/v1/tasks/{task['id']}", patch(labels=["ui", "auth"]))
    server.api("PATCH", f"/api/v1/tasks/{task['id']}", patch(labels=["auth", "backend"]))
    page = open_board(browser, server, pid, bypass_csp=True)
    page.goto(f"{server.url}/#/p/{pid}/t/{task['id']}")
    activity = page.get_by_test_id("activity")
    expect(activity.locator("li").first).to_contain_text("added label backend, removed ui")
    expect(activity.locator("li").nth(1)).to_contain_text("added labels ui, auth")
    shoot(page, "activity-labels")
    axe_clean(page, "activity with label changes")


def test_long_titles_are_clamped_on_cards(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    page = open_board(browser, server, pid, bypass_csp=True)
    card = page.get_by_test_id("card").filter(has_text="Make the sign-in page")
    title = card.locator(".title")
    lines = title.evaluate(
        "e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)"
    )
    assert lines <= 3.05, lines
    # The whole title is still there for a tooltip and a screen reader.
    expect(title).to_have_attribute("title", LONG_TITLE)
    expect(title).to_have_text(LONG_TITLE)
    shoot(page, "board-clamped")
    axe_clean(page, "board with clamped titles and priority colours")


def test_low_and_medium_priorities_look_different(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    page = open_board(browser, server, pid)

    colors = {
        t: page.get_by_test_id("card")
        .filter(has_text=t)
        .locator(".prio")
        .evaluate("e => getComputedStyle(e).color")
        for t in ("Low one", "Medium one", "Design the login page")
    }
    assert colors["Low one"] != colors["Medium one"], colors
    assert colors["Medium one"] != colors["Design the login page"], colors


def test_the_palette_button_shows_the_shortcut_of_the_platform(
    server: LiveServer, browser: Any
) -> None:
    pid = seed(server)["id"]
    linux = open_board(browser, server, pid)
    button = linux.get_by_role("button", name="Command palette")
    expect(button).to_contain_text("Ctrl K")
    expect(button).not_to_contain_text("⌘")
    expect(button).to_have_attribute("title", "Command palette (Ctrl+K)")

    mac = person(browser, server, "Ben")
    mac.add_init_script("Object.defineProperty(navigator, 'platform', { get: () => 'MacIntel' })")
    mac.goto(f"{server.url}/#/p/{pid}")
    button = mac.get_by_role("button", name="Command palette")
    expect(button).to_contain_text("⌘K")
    expect(button).to_have_attribute("title", "Command palette (⌘K)")


def test_the_burndown_chart_fills_its_card(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    sprint = server.api(
        "POST",
        f"/api/v1/projects/{pid}/sprints",
        {"name": "Sprint 1", "startDate": "2026-01-05", "endDate": "2026-01-16"},
    )
    for t in tasks_by_title(server, pid).values():
        server.api("PATCH", f"/api/v1/tasks/{t['id']}", patch(sprintId=sprint["id"], storyPoints=3))
    server.api("POST", f"/api/v1/sprints/{sprint['id']}/start", {})
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{pid}/sprints")
    figure = page.get_by_test_id("burndown")
    canvas = figure.locator("canvas")
    expect(canvas).to_be_visible()
    inner = figure.evaluate(
        "f => f.clientWidth - parseFloat(getComputedStyle(f).paddingLeft)"
        " - parseFloat(getComputedStyle(f).paddingRight)"
    )
    box = canvas.bounding_box()
    assert box is not None
    assert box["width"] >= inner - 2, (box, inner)
    # Drawn for its width at the screen's pixel ratio, not a small drawing stretched.
    drawn = canvas.evaluate("c => c.width / devicePixelRatio")
    assert abs(drawn - box["width"]) <= 2, (drawn, box)
    assert box["height"] <= 320, box
    shoot(page, "burndown-wide")
    axe_clean(page, "sprints with the burndown")


def test_the_favicon_is_served(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    page = person(browser, server, "Ana")
    missing: list[str] = []

    def note(response: Any) -> None:
        if response.status == 404:
            missing.append(response.url)

    page.on("response", note)
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    icon = page.locator("link[rel=icon]")
    expect(icon).to_have_count(1)
    response = page.request.get(f"{server.url}/favicon.ico")
    assert response.status == 200
    assert response.body() == (ROOT / "assets" / "icons" / "tandem.ico").read_bytes()
    assert not missing, missing


def test_a_card_without_priority_is_not_read_as_no_priority_priority(
    server: LiveServer, browser: Any
) -> None:
    pid = seed(server)["id"]
    page = open_board(browser, server, pid)
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(4)
    spoken = cards.filter(has_text="Design the login page").locator(":scope > .sr-only")
    assert "priority" not in (spoken.text_content() or "")
    spoken = cards.filter(has_text="Low one").locator(":scope > .sr-only")
    expect(spoken).to_have_text("Low priority")
