"""Editing in place and the board's tools in real Chromium against a real server: Escape cancels
an inline edit, an edit begun before someone else's change to the same field is a conflict,
the filters and "only my tasks", project rename and delete, and the palette's pickers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    project: dict[str, Any] = server.api(
        "POST", "/api/v1/projects", {"name": "Website", "key": "WEB"}
    )
    rows = [
        ("Design the login page", "TASK_STATUS_TODO", ["design"], "TASK_PRIORITY_HIGH"),
        ("Write the API docs", "TASK_STATUS_TODO", ["docs"], "TASK_PRIORITY_LOW"),
        ("Fix the flaky upload", "TASK_STATUS_IN_PROGRESS", ["bug"], "TASK_PRIORITY_URGENT"),
        ("Dark theme", "TASK_STATUS_BACKLOG", ["design", "ui"], "TASK_PRIORITY_MEDIUM"),
    ]
    tasks = {}
    for title, status, labels, priority in rows:
        tasks[title] = server.api(
            "POST",
            f"/api/v1/projects/{project['id']}/tasks",
            {"title": title, "status": status, "labels": labels, "priority": priority},
        )
    return project, tasks


def get_task(server: LiveServer, task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = server.api("GET", f"/api/v1/tasks/{task_id}")
    return found


def settled(page: Any) -> None:
    page.wait_for_function("() => tandem.store.outbox.size === 0")


def open_task(server: LiveServer, browser: Any, name: str, project: Any, task: Any) -> Any:
    page = person(browser, server, name)
    page.goto(f"{server.url}/#/p/{project['id']}/t/{task['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_label("Title")).to_have_value(task["title"])
    return page


def test_escape_cancels_an_inline_edit_and_restores_the_value(
    server: LiveServer, browser: Any
) -> None:
    project, tasks = seed(server)
    task = tasks["Write the API docs"]
    page = open_task(server, browser, "Ana", project, task)
    title = page.get_by_label("Title")
    title.fill("Half-typed thought")
    title.press("Escape")
    expect(title).to_have_value("Write the API docs")
    expect(title).not_to_be_focused()
    # The panel stays open: Escape belonged to the field.
    assert "/t/" in page.url
    labels = page.get_by_label("Labels")
    labels.fill("oops")
    labels.press("Escape")
    expect(labels).to_have_value("docs")
    # The description editor too.
    page.get_by_role("button", name="Edit", exact=True).click()
    page.get_by_label("Description").fill("Not meant to be saved")
    page.get_by_label("Description").press("Escape")
    expect(page.get_by_test_id("description")).not_to_contain_text("Not meant")
    # Nothing was sent: no command waits, and the server has the task as it was.
    assert page.evaluate("() => tandem.store.outbox.size") == 0
    saved = get_task(server, task["id"])
    assert (saved["title"], saved["labels"], saved["version"]) == (
        "Write the API docs",
        ["docs"],
        task["version"],
    )
    assert not saved.get("description")
    # Enter still saves.
    title.fill("Write the REST docs")
    title.press("Enter")
    settled(page)
    assert get_task(server, task["id"])["title"] == "Write the REST docs"


def concurrent_rename(server: LiveServer, browser: Any) -> tuple[Any, dict[str, Any]]:
    """Ana starts editing the title; Ben renames it over REST; Ana's page has seen Ben's change
    (so a version taken at save time would overwrite it); Ana presses Enter."""
    project, tasks = seed(server)
    task = tasks["Design the login page"]
    ana = open_task(server, browser, "Ana", project, task)
    title = ana.get_by_label("Title")
    title.click()
    title.press("End")
    title.type(" for mobile")
    server.api(
        "PATCH",
        f"/api/v1/tasks/{task['id']}",
        {"updateMask": "title", "task": {"title": "Design the sign-in page"}},
    )
    ana.wait_for_function(
        "(id) => tandem.store.tasks.get(id)?.title === 'Design the sign-in page'", arg=task["id"]
    )
    expect(title).to_have_value("Design the login page for mobile")
    title.press("Enter")
    dialog = ana.get_by_test_id("conflict")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("theirs")).to_have_text("Design the sign-in page")
    expect(dialog.get_by_test_id("mine")).to_have_text("Design the login page for mobile")
    return ana, task


def test_edit_begun_before_someone_elses_change_is_a_conflict_keep_mine(
    server: LiveServer, browser: Any
) -> None:
    ana, task = concurrent_rename(server, browser)
    ana.get_by_test_id("conflict").get_by_role("button", name="Keep mine").click()
    expect(ana.get_by_test_id("conflict")).to_have_count(0)
    settled(ana)
    assert get_task(server, task["id"])["title"] == "Design the login page for mobile"
    expect(ana.get_by_label("Title")).to_have_value("Design the login page for mobile")


def test_edit_begun_before_someone_elses_change_is_a_conflict_take_theirs(
    server: LiveServer, browser: Any
) -> None:
    ana, task = concurrent_rename(server, browser)
    ana.get_by_test_id("conflict").get_by_role("button", name="Take theirs").click()
    expect(ana.get_by_test_id("conflict")).to_have_count(0)
    expect(ana.get_by_label("Title")).to_have_value("Design the sign-in page")
    settled(ana)
    assert get_task(server, task["id"])["title"] == "Design the sign-in page"


def test_board_filters_and_only_my_tasks(server: LiveServer, browser: Any) -> None:
    project, tasks = seed(server)
    owner = server.api("GET", "/api/v1/me")
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{project['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(4)
    me = page.evaluate("() => tandem.store.me.id")
    for title, who in (("Dark theme", me), ("Fix the flaky upload", owner["id"])):
        server.api(
            "PATCH",
            f"/api/v1/tasks/{tasks[title]['id']}",
            {"updateMask": "assigneeId", "task": {"assigneeId": who}},
        )
    expect(page.get_by_test_id("card").locator(".avatar:not(.empty)")).to_have_count(2)
    board = page.locator(".filters")

    search = board.get_by_label("Filter by text")
    search.fill("LOGIN")
    expect(cards).to_have_text([re.compile("Design the login page")])
    search.fill("WEB-2")  # keys match too
    expect(cards).to_have_text([re.compile("Write the API docs")])
    search.fill("")
    expect(cards).to_have_count(4)

    # Each filter's menu adds a value; its chip takes it away again.
    board.get_by_label("Label", exact=True).select_option("design")
    expect(cards).to_have_count(2)
    expect(page.get_by_test_id("column-2").get_by_test_id("count")).to_have_text("1")
    board.get_by_label("Priority", exact=True).select_option(label="Medium")
    expect(cards).to_have_text([re.compile("Dark theme")])
    board.get_by_role("button", name="Remove filter Label: design").click()
    board.get_by_role("button", name="Remove filter Priority: Medium").click()
    board.get_by_label("Priority", exact=True).select_option(label="Urgent")
    expect(cards).to_have_text([re.compile("Fix the flaky upload")])
    board.get_by_role("button", name="Remove filter Priority: Urgent").click()

    board.get_by_label("Assignee", exact=True).select_option(owner["id"])
    expect(cards).to_have_text([re.compile("Fix the flaky upload")])
    board.get_by_role("button", name=re.compile("^Remove filter Assignee")).click()
    board.get_by_label("Assignee", exact=True).select_option("none")
    expect(cards).to_have_count(2)
    board.get_by_role("button", name="Remove filter Assignee: Unassigned").click()
    expect(cards).to_have_count(4)

    board.get_by_label("Only my tasks").check()
    expect(cards).to_have_text([re.compile("Dark theme")])
    shoot(page, "board-filtered")
    board.get_by_label("Only my tasks").uncheck()
    expect(cards).to_have_count(4)


def test_project_rename_and_delete_with_confirmation(server: LiveServer, browser: Any) -> None:
    project, _ = seed(server)
    server.api("POST", "/api/v1/projects", {"name": "Mobile", "key": "MOB"})
    page = person(browser, server, "Ana")
    page.goto(server.url + "/")
    rows = page.get_by_test_id("project")
    expect(rows).to_have_count(2)
    website = rows.filter(has_text="Website")
    website.get_by_role("button", name="Rename").click()
    field = rows.get_by_label("Project name")
    field.fill("Website 2")
    field.press("Enter")
    expect(rows.filter(has_text="Website 2")).to_have_count(1)
    settled(page)
    assert server.api("GET", f"/api/v1/projects/{project['id']}")["name"] == "Website 2"

    # Delete asks first; Cancel keeps it.
    rows.filter(has_text="Website 2").get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete project")
    expect(confirm).to_contain_text("Delete Website 2?")
    shoot(page, "project-delete-confirm")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    expect(rows).to_have_count(2)
    rows.filter(has_text="Website 2").get_by_role("button", name="Delete").click()
    confirm.get_by_role("button", name="Delete project").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Mobile")
    settled(page)
    names = [p["name"] for p in server.api("GET", "/api/v1/projects")["projects"]]
    assert names == ["Mobile"]
    page.reload()
    expect(page.get_by_test_id("project")).to_have_count(1)


def test_palette_set_status_and_assign_to_pickers(server: LiveServer, browser: Any) -> None:
    project, tasks = seed(server)
    task = tasks["Write the API docs"]
    ben = person(browser, server, "Ben")
    ben.goto(f"{server.url}/#/p/{project['id']}")
    expect(ben.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page = open_task(server, browser, "Ana", project, task)
    palette = page.get_by_role("dialog", name="Command palette")

    page.keyboard.press("Control+k")
    page.keyboard.type("set status")
    expect(palette.get_by_role("listitem")).to_have_text([re.compile("Set status….*WEB-2")])
    page.keyboard.press("Enter")
    # The picker says what it picks in a visible heading, not only in a placeholder.
    heading = palette.get_by_role("heading", name="Set status WEB-2")
    expect(heading).to_be_visible()
    expect(palette.get_by_label("Set status… WEB-2")).to_be_focused()
    expect(palette.get_by_role("textbox")).to_have_attribute("aria-label", "Set status… WEB-2")
    expect(palette.get_by_role("listitem")).to_have_count(5)
    expect(palette.get_by_role("listitem").filter(has_text="current")).to_have_text(
        re.compile("To do")
    )
    page.keyboard.type("review")
    page.keyboard.press("Enter")
    expect(palette).to_have_count(0)
    expect(page.get_by_test_id("task-panel").get_by_label("Status")).to_have_value("4")
    settled(page)
    assert get_task(server, task["id"])["status"] == "TASK_STATUS_IN_REVIEW"

    page.keyboard.press("Control+k")
    page.keyboard.type("assign")
    page.keyboard.press("Enter")
    expect(palette.get_by_role("heading", name="Assign to WEB-2")).to_be_visible()
    expect(palette.get_by_role("listitem").first).to_have_text("Unassigned" + "current")
    page.keyboard.type("ben")
    expect(palette.get_by_role("listitem")).to_have_text(["Ben"])
    shoot(page, "palette-assign")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("task-panel").get_by_label("Assignee")).to_have_value(
        ben.evaluate("() => tandem.store.me.id")
    )
    settled(page)
    assert get_task(server, task["id"])["assigneeId"] == ben.evaluate("() => tandem.store.me.id")
    # Backspace in an empty picker goes back to the commands.
    page.keyboard.press("Control+k")
    page.keyboard.type("assign")
    page.keyboard.press("Enter")
    page.keyboard.press("Backspace")
    expect(palette.get_by_label("Command")).to_be_focused()
    expect(palette.get_by_role("heading")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(palette).to_have_count(0)
