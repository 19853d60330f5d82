"""A LAN viewer in real Chromium: the server shares the board on 127.0.0.2 and only 127.0.0.3
counts as this machine, so the browser is a colleague who opened a viewer invite link. The page
is read only with a calm badge, asks no name, follows changes live, and ends calmly when sharing
is switched off."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shoot

pytestmark = pytest.mark.e2e


def test_viewer_gets_a_read_only_board_without_a_name_prompt_and_a_calm_end(
    server: LiveServer, browser: Any
) -> None:
    project = server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    pid = project["id"]
    task = server.api(
        "POST",
        f"/api/v1/projects/{pid}/tasks",
        {"title": "Design the login page", "status": "TASK_STATUS_TODO", "labels": ["design"]},
    )
    lan = server.share_on_lan()
    link = server.invite("viewer", "Vic")
    assert link.startswith(lan + "/join?token=")

    # A fresh browser, no name stored: the invite link gives the cookie and the name.
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    page.goto(link)
    page.get_by_role("button", name="Join as Vic").click()  # the link asks first
    expect(page.get_by_test_id("view-only")).to_have_text("View only")
    expect(page.get_by_label("Your name")).to_have_count(0)
    expect(page.get_by_test_id("project")).to_contain_text("Website")
    expect(page.get_by_role("button", name="Rename")).to_have_count(0)
    expect(page.get_by_role("button", name="Create project")).to_have_count(0)

    page.goto(f"{lan}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    assert page.evaluate("() => tandem.store.me.displayName") == "Vic"
    card = page.get_by_test_id("card").filter(has_text="Design the login page")
    expect(card).to_have_attribute("draggable", "false")
    expect(page.get_by_role("button", name="Add a task to To do")).to_have_count(0)
    page.keyboard.press("n")
    expect(page.get_by_label("New task title")).to_have_count(0)
    shoot(page, "viewer-board")

    card.click()
    panel = page.get_by_test_id("task-panel")
    expect(panel.get_by_label("Title")).to_have_value("Design the login page")
    expect(panel.get_by_label("Title")).not_to_be_editable()
    expect(panel.get_by_label("Status")).to_be_disabled()
    expect(panel.get_by_label("Assignee")).to_be_disabled()
    expect(panel.get_by_role("button", name="Delete task")).to_have_count(0)
    expect(panel.get_by_role("button", name="Edit", exact=True)).to_have_count(0)
    expect(panel.get_by_label("New comment")).to_have_count(0)
    expect(panel.get_by_placeholder("Add a subtask…")).to_have_count(0)
    page.keyboard.press("Control+k")
    palette = page.get_by_role("dialog", name="Command palette")
    page.keyboard.type("new task")
    expect(palette.get_by_role("listitem")).to_have_count(0)
    page.keyboard.press("Escape")

    # Changes by others still arrive live.
    server.api(
        "PATCH",
        f"/api/v1/tasks/{task['id']}",
        {"updateMask": "title", "task": {"title": "Design the sign-in page"}},
    )
    expect(panel.get_by_label("Title")).to_have_value("Design the sign-in page")
    shoot(page, "viewer-task")
    assert page.evaluate("() => tandem.store.outbox.size") == 0

    # Sharing switched off: the socket closes with 4403 and the page says so, once and for all.
    server.stop_sharing()
    ended = page.get_by_test_id("access-ended")
    expect(ended).to_contain_text("Your access to this board ended")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "ended")
    shoot(page, "access-ended")
    ctx.close()
