"""A LAN editor in real Chromium: the server shares the board on 127.0.0.2, a colleague opens an
editor invite link, is asked no name (the invite's is used), edits a task, and the owner, in
their own browser on this machine, sees the change arrive live with the colleague's name in the
task's activity."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot

pytestmark = pytest.mark.e2e


def test_editor_invitee_edits_without_a_name_prompt_and_the_owner_sees_it_live(
    server: LiveServer, browser: Any
) -> None:
    project = server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    pid = project["id"]
    task = server.api(
        "POST",
        f"/api/v1/projects/{pid}/tasks",
        {"title": "Design the login page", "status": "TASK_STATUS_TODO"},
    )
    lan = server.share_on_lan()
    owner_url = server.owner_url_while_sharing()
    link = server.invite("editor", "Eve Ortiz")
    assert link.startswith(lan + "/join?token=")

    # The owner has the task open in their own browser.
    owner = person(browser, server, "Olga")
    owner.goto(f"{owner_url}/#/p/{pid}/t/{task['id']}")
    expect(owner.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    assert owner.evaluate("() => tandem.store.me.role") == 3  # MEMBER_ROLE_OWNER
    owner_panel = owner.get_by_test_id("task-panel")
    expect(owner_panel.get_by_label("Title")).to_have_value("Design the login page")
    expect(owner.get_by_test_id("activity")).to_contain_text("created the task")

    # A fresh browser, no name stored: the invite link gives the cookie and the name.
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    eve = ctx.new_page()
    eve.set_default_timeout(15_000)
    eve.goto(link)
    eve.get_by_role("button", name="Join as Eve Ortiz").click()  # the link asks first
    expect(eve.get_by_test_id("project")).to_contain_text("Website")
    expect(eve.get_by_label("Your name")).to_have_count(0)
    expect(eve.get_by_test_id("view-only")).to_have_count(0)
    eve.goto(f"{lan}/#/p/{pid}")
    expect(eve.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    assert eve.evaluate("() => tandem.store.me.displayName") == "Eve Ortiz"
    assert eve.evaluate("() => tandem.store.readOnly") is False
    expect(eve.get_by_label("Your name")).to_have_count(0)

    # She can edit: rename the task in its panel and move it to In progress.
    card = eve.get_by_test_id("card").filter(has_text="Design the login page")
    expect(card).to_have_attribute("draggable", "true")
    card.click()
    panel = eve.get_by_test_id("task-panel")
    title = panel.get_by_label("Title")
    expect(title).to_be_editable()
    title.fill("Design the sign-in page")
    title.press("Enter")
    panel.get_by_label("Status").select_option(label="In progress")
    eve.wait_for_function("() => tandem.store.outbox.size === 0")

    # The owner's page follows without a reload, and names Eve in the activity.
    expect(owner_panel.get_by_label("Title")).to_have_value("Design the sign-in page")
    expect(owner_panel.get_by_label("Status")).to_have_value("3")
    activity = owner.get_by_test_id("activity")
    expect(activity).to_contain_text("Eve Ortiz changed title")
    expect(activity).to_contain_text("Eve Ortiz moved it to In progress")
    expect(eve.get_by_test_id("activity")).to_contain_text("Eve Ortiz changed title")
    shoot(owner, "owner-sees-editor")
    shoot(eve, "editor-task")

    saved = server.api("GET", f"/api/v1/tasks/{task['id']}")
    assert saved["title"] == "Design the sign-in page"
    assert saved["status"] == "TASK_STATUS_IN_PROGRESS"
    members = server.api("GET", "/api/v1/members")["members"]
    eve_member = next(m for m in members if m["displayName"] == "Eve Ortiz")
    assert eve_member["role"] == "MEMBER_ROLE_EDITOR"
    ctx.close()
