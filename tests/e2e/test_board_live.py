"""The board in real Chromium against a real server: two people editing live, presence and typing,
drag and drop that persists, and screenshots of board and task detail in both themes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> dict[str, Any]:
    project: dict[str, Any] = server.api(
        "POST", "/api/v1/projects", {"name": "Website", "key": "WEB"}
    )
    rows = [
        ("Design the login page", "TASK_STATUS_TODO", ["design"], 3, "TASK_PRIORITY_HIGH"),
        ("Write the API docs", "TASK_STATUS_TODO", ["docs"], 2, "TASK_PRIORITY_LOW"),
        ("Fix the flaky upload", "TASK_STATUS_IN_PROGRESS", ["bug"], 5, "TASK_PRIORITY_URGENT"),
        ("Dark theme", "TASK_STATUS_BACKLOG", ["design", "ui"], 8, "TASK_PRIORITY_MEDIUM"),
        ("Release 1.0 notes", "TASK_STATUS_DONE", [], 1, "TASK_PRIORITY_NONE"),
    ]
    for title, status, labels, points, priority in rows:
        server.api(
            "POST",
            f"/api/v1/projects/{project['id']}/tasks",
            {
                "title": title,
                "status": status,
                "labels": labels,
                "storyPoints": points,
                "priority": priority,
                "description": "Some **Markdown** with a list:\n\n- one\n- two",
            },
        )
    return project


def column(page: Any, status: int) -> Any:
    return page.get_by_test_id(f"column-{status}")


def test_first_run_asks_the_name_and_creates_the_first_project(
    server: LiveServer, browser: Any
) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(server.url + "/")
    page.get_by_label("Your name").fill("Ana")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Create your first project")).to_be_visible()
    page.get_by_label("Project name").fill("Mobile App")
    expect(page.get_by_label("Project key")).to_have_value("MA")
    page.get_by_role("button", name="Create project").click()
    # The new project's board opens.
    expect(page.locator(".project-title")).to_have_text("Mobile App")
    expect(page.get_by_test_id("board")).to_be_visible()
    projects = server.api("GET", "/api/v1/projects")["projects"]
    assert [(p["name"], p["key"]) for p in projects] == [("Mobile App", "MA")]
    page.goto(server.url + "/")
    expect(page.get_by_test_id("project")).to_contain_text("Mobile App")


def test_two_people_see_each_others_changes_presence_and_typing(
    server: LiveServer, browser: Any
) -> None:
    project = seed(server)
    url = f"{server.url}/#/p/{project['id']}"
    ana = person(browser, server, "Ana")
    ben = person(browser, server, "Ben")
    ana.goto(url)
    ben.goto(url)
    expect(ana.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(ben.get_by_test_id("connection")).to_have_attribute("data-state", "live")

    # Ana adds a task; Ben sees it without reloading.
    column(ana, 2).get_by_role("button", name="Add a task to To do").click()
    ana.get_by_label("New task title").fill("Live from Ana")
    ana.get_by_label("New task title").press("Enter")
    expect(column(ben, 2).get_by_test_id("card").filter(has_text="Live from Ana")).to_have_count(1)
    expect(column(ben, 2).get_by_test_id("count")).to_have_text("3")

    # Presence: each sees the other in the header.
    expect(ana.get_by_test_id("presence").locator(".avatar[title='Ben']")).to_have_count(1)

    # Both open the same task: presence on the task, editing and typing notes.
    card = column(ana, 2).get_by_test_id("card").filter(has_text="Design the login page")
    card.click()
    task_url = ana.url
    ben.goto(task_url)
    expect(ana.get_by_test_id("task-viewers").locator(".avatar[title='Ben']")).to_have_count(1)
    ben.get_by_label("New comment").type("Looks good to me")
    expect(ana.get_by_test_id("typing")).to_have_text("Ben is typing…")
    ben.get_by_role("button", name="Comment", exact=True).click()
    expect(ana.get_by_test_id("comment").filter(has_text="Looks good to me")).to_have_count(1)
    expect(ana.get_by_test_id("typing")).to_have_text("")
    ben.get_by_role("button", name="Edit", exact=True).first.click()
    ben.get_by_label("Description").focus()
    expect(ana.get_by_test_id("editing-note")).to_have_text("Ben is editing the description")

    # Ben renames the task; Ana's panel and card follow.
    ben.get_by_label("Description").fill("Now with *emphasis*")
    ben.get_by_label("Title").fill("Design the sign-in page")
    ben.get_by_label("Title").press("Enter")
    expect(ana.get_by_label("Title")).to_have_value("Design the sign-in page")
    expect(ana.get_by_test_id("description").locator("em")).to_have_text("emphasis")
    expect(ana.get_by_test_id("activity")).to_contain_text("Ben changed title")
    shoot(ana, "task-detail")
    ana.goto(url)
    expect(column(ana, 2).get_by_test_id("card")).to_have_count(3)
    shoot(ana, "board")


def test_drag_and_drop_persists_across_reload(server: LiveServer, browser: Any) -> None:
    project = seed(server)
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{project['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    # Across columns: to the top of Done.
    card = column(page, 2).get_by_test_id("card").filter(has_text="Write the API docs")
    target = column(page, 5).get_by_test_id("card").first
    card.drag_to(target, target_position={"x": 20, "y": 4})
    expect(column(page, 5).get_by_test_id("card").first).to_contain_text("Write the API docs")
    # Within a column: the second To do card... there is one left; move Backlog's card under it.
    backlog = column(page, 1).get_by_test_id("card").first
    below = column(page, 2).get_by_test_id("card").last
    box = below.bounding_box()
    assert box is not None
    backlog.drag_to(below, target_position={"x": 20, "y": box["height"] - 3})
    expect(column(page, 2).get_by_test_id("card").last).to_contain_text("Dark theme")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.wait_for_function("() => !document.querySelector('.card.pending')")
    page.reload()
    expect(column(page, 5).get_by_test_id("card").first).to_contain_text("Write the API docs")
    expect(column(page, 2).get_by_test_id("card")).to_have_text(
        [__import__("re").compile("Design the login page"), __import__("re").compile("Dark theme")]
    )
    tasks = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    done = [t["title"] for t in tasks if t.get("status") == "TASK_STATUS_DONE"]
    assert "Write the API docs" in done
