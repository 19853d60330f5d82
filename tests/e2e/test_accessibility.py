"""Accessibility of the board and the task panel in real Chromium: axe-core (a dev dependency in
web/node_modules, never in the bundle) finds no serious or critical violation in either theme,
and the board works from the keyboard alone: Tab reaches the cards, the focus shows, Enter opens
a card and Escape closes it again."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"


def seed(server: LiveServer) -> tuple[str, dict[str, Any]]:
    project = server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    pid = project["id"]
    rows = [
        ("Design the login page", "TASK_STATUS_TODO", ["design"], "TASK_PRIORITY_HIGH", 3),
        ("Write the API docs", "TASK_STATUS_BACKLOG", ["docs"], "TASK_PRIORITY_LOW", 1),
        ("Fix the flaky upload", "TASK_STATUS_IN_PROGRESS", ["bug"], "TASK_PRIORITY_URGENT", 5),
        ("Review the copy", "TASK_STATUS_IN_REVIEW", [], "TASK_PRIORITY_MEDIUM", 2),
        ("Dark theme", "TASK_STATUS_DONE", ["design", "ui"], "TASK_PRIORITY_NONE", 8),
    ]
    tasks = {}
    for title, status, labels, priority, points in rows:
        tasks[title] = server.api(
            "POST",
            f"/api/v1/projects/{pid}/tasks",
            {
                "title": title,
                "status": status,
                "labels": labels,
                "priority": priority,
                "storyPoints": points,
                "description": "Some **Markdown** with a [link](https://example.org/).",
            },
        )
    return pid, tasks


def serious_violations(page: Any, where: str) -> list[str]:
    """Runs axe-core on the page as it is; returns the serious and critical findings, readable."""
    if page.evaluate("() => typeof window.axe") == "undefined":
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, { resultTypes: ['violations'] })")
    found = []
    for v in result["violations"]:
        if v["impact"] not in ("serious", "critical"):
            continue
        targets = [json.dumps(n["target"]) + " " + n["failureSummary"] for n in v["nodes"][:4]]
        found.append(f"{where}: {v['id']} ({v['impact']}): {v['help']}\n  " + "\n  ".join(targets))
    return found


def axe_clean(page: Any, where: str) -> None:
    """No serious or critical axe finding in either theme (the page needs bypass_csp=True)."""
    if not AXE.is_file():
        pytest.skip("axe-core is not installed (cd web && npm install)")
    found: list[str] = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found += serious_violations(page, f"{where} ({scheme})")
    page.emulate_media(color_scheme="light")
    assert not found, "\n".join(found)


def test_board_and_task_panel_have_no_serious_axe_violations_in_either_theme(
    server: LiveServer, browser: Any
) -> None:
    if not AXE.is_file():
        pytest.skip("axe-core is not installed (cd web && npm install)")
    pid, tasks = seed(server)
    ben = person(browser, server, "Ben")
    ben.goto(f"{server.url}/#/p/{pid}")
    # The page's CSP (script-src 'self') rightly refuses the injected axe script; only this
    # test's context bypasses it.
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("card")).to_have_count(5)
    expect(page.get_by_test_id("presence").locator(".avatar")).to_have_count(1)
    found: list[str] = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found += serious_violations(page, f"board ({scheme})")

    page.goto(f"{server.url}/#/p/{pid}/t/{tasks['Design the login page']['id']}")
    panel = page.get_by_test_id("task-panel")
    expect(panel.get_by_label("Title")).to_have_value("Design the login page")
    page.get_by_label("New comment").fill("Looks good to me")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(panel.locator(".comment")).to_have_count(1)
    expect(page.get_by_test_id("activity")).to_contain_text("commented")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found += serious_violations(page, f"task panel ({scheme})")
    page.emulate_media(color_scheme="light")
    assert not found, "\n".join(found)


def test_cards_are_reached_and_opened_from_the_keyboard(server: LiveServer, browser: Any) -> None:
    pid, tasks = seed(server)
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("card")).to_have_count(5)

    # Tab from the last filter lands on the first column's add button, then its first card.
    page.get_by_label("Only my tasks").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add a task to Backlog")).to_be_focused()
    page.keyboard.press("Tab")
    card = page.get_by_test_id("card").filter(has_text="Write the API docs")
    expect(card).to_be_focused()
    # The focus is visible: an outline drawn by :focus-visible.
    outline = card.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("none", "")
    expect(card).to_have_attribute("role", "button")
    # Its name says in words what the card shows in glyphs.
    named = page.get_by_role(
        "button", name=re.compile(r"^WEB-2 Write the API docs docs 1 point Low priority$")
    )
    expect(named).to_be_focused()
    shoot(page, "keyboard-focus")

    page.keyboard.press("Enter")
    panel = page.get_by_test_id("task-panel")
    expect(panel.get_by_label("Title")).to_have_value("Write the API docs")
    assert page.evaluate("() => location.hash").endswith(f"/t/{tasks['Write the API docs']['id']}")
    # Escape closes the panel and gives the focus back to the card; Space works like Enter.
    page.keyboard.press("Escape")
    expect(panel).to_have_count(0)
    expect(card).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add a task to To do")).to_be_focused()
    page.keyboard.press("Tab")
    nxt = page.get_by_test_id("card").filter(has_text="Design the login page")
    expect(nxt).to_be_focused()
    page.keyboard.press("Space")
    expect(panel.get_by_label("Title")).to_have_value("Design the login page")
    # j moves the selection, and the focus with it.
    page.keyboard.press("Escape")
    expect(panel).to_have_count(0)
    expect(nxt).to_be_focused()
    page.keyboard.press("j")
    expect(page.get_by_test_id("card").filter(has_text="Fix the flaky upload")).to_be_focused()
