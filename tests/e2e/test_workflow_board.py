"""A workflow per project in real Chromium: columns renamed, added, hidden, reordered and moved to
another status category in the Columns editor, seen live by a second viewer; a task dropped into a
new column takes that column's status; screenshots in both themes; axe-clean."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    project = server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    tasks = {}
    for title, status in [
        ("Design the login page", "TASK_STATUS_TODO"),
        ("Fix the flaky upload", "TASK_STATUS_IN_PROGRESS"),
        ("Review the docs", "TASK_STATUS_IN_REVIEW"),
        ("Old idea", "TASK_STATUS_BACKLOG"),
    ]:
        tasks[title] = server.api(
            "POST", f"/api/v1/projects/{project['id']}/tasks", {"title": title, "status": status}
        )
    return project, tasks


def headers(page: Any) -> Any:
    return page.get_by_test_id("board").locator(".column-name")


def test_columns_edited_by_one_person_appear_for_the_other_and_tasks_follow(
    server: LiveServer, browser: Any
) -> None:
    project, tasks = seed(server)
    pid = project["id"]
    ana = person(browser, server, "Ana", bypass_csp=True)
    ben = person(browser, server, "Ben")
    for page in (ana, ben):
        page.goto(f"{server.url}/#/p/{pid}")
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
        # A project that never changed its workflow has today's five columns.
        expect(headers(page)).to_have_text(["Backlog", "To do", "In progress", "In review", "Done"])

    ana.get_by_test_id("edit-columns").click()
    editor = ana.get_by_test_id("workflow-editor")
    expect(editor.get_by_test_id("workflow-row")).to_have_count(5)
    editor.get_by_label("Name of column 2").fill("Ready")
    editor.get_by_role("button", name="Add column").click()
    editor.get_by_label("Name of column 6").fill("QA")
    editor.get_by_label("Status of QA").select_option(label="In review")
    editor.get_by_role("button", name="Move QA up").click()  # before Done, after In review
    # Hide Backlog.
    editor.get_by_test_id("workflow-row").nth(0).get_by_label("Hide").check()
    axe_clean(ana, "columns editor")
    shoot(ana, "workflow-editor")
    # A status without a column cannot be saved.
    editor.get_by_label("Status of Done").select_option(label="In review")
    expect(editor.get_by_role("status")).to_contain_text("none is Done")
    expect(editor.get_by_role("button", name="Save columns")).to_be_disabled()
    editor.get_by_label("Status of Done").select_option(label="Done")
    editor.get_by_role("button", name="Save columns").click()
    expect(editor).to_have_count(0)

    expected = ["Ready", "In progress", "In review", "QA", "Done"]
    expect(headers(ana)).to_have_text(expected)
    # Ben sees the renamed, added and hidden columns live, without reloading.
    expect(headers(ben)).to_have_text(expected)
    expect(ben.get_by_test_id("hidden-columns")).to_contain_text("Backlog")
    expect(ben.get_by_test_id("hidden-columns")).to_contain_text("1")

    # Ben drags "Fix the flaky upload" into QA: it takes QA's status, In review.
    qa = ben.locator('[data-column-id]:has(.column-name:text-is("QA"))')
    card = ben.get_by_test_id("card").filter(has_text="Fix the flaky upload")
    card.drag_to(qa)
    expect(qa.get_by_test_id("card").filter(has_text="Fix the flaky upload")).to_have_count(1)
    moved_id = tasks["Fix the flaky upload"]["id"]

    def task_now() -> dict[str, Any]:
        found: dict[str, Any] = server.api("GET", f"/api/v1/tasks/{moved_id}")
        return found

    qa_id = qa.get_attribute("data-column-id")
    expect(ana.locator(f'[data-column-id="{qa_id}"]').get_by_test_id("card")).to_have_count(1)
    assert task_now()["status"] == "TASK_STATUS_IN_REVIEW"
    assert task_now()["columnId"] == qa_id

    # Ana moves QA to the "In progress" category: its task's status follows, for Ben too.
    ana.get_by_test_id("edit-columns").click()
    ana.get_by_test_id("workflow-editor").get_by_label("Status of QA").select_option(
        label="In progress"
    )
    ana.get_by_role("button", name="Save columns").click()
    # Ben's QA column now carries the "in progress" colour (status 3), its task with it.
    expect(qa.locator(".column-head .dot")).to_have_class(re.compile(r"\bs3\b"))
    ben.get_by_test_id("card").filter(has_text="Fix the flaky upload").click()
    expect(ben.get_by_test_id("task-panel").get_by_label("Status")).to_have_value(f"column:{qa_id}")
    assert task_now()["status"] == "TASK_STATUS_IN_PROGRESS"
    # A column is also renamed in place, from its header; Ana sees it at once.
    qa.locator(".column-name").dblclick()
    ben.get_by_label("Rename column QA").fill("Testing")
    ben.keyboard.press("Enter")
    expect(headers(ana)).to_have_text(["Ready", "In progress", "In review", "Testing", "Done"])
    assert [c["name"] for c in server.api("GET", f"/api/v1/projects/{pid}")["columns"]] == [
        "Backlog",
        "Ready",
        "In progress",
        "In review",
        "Testing",
        "Done",
    ]
    shoot(ben, "workflow-board")
    axe_clean(ana, "board with a custom workflow")
