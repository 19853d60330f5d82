"""Board details in real Chromium against a real server: per-column counts and point totals that
follow moves and point changes live, subtasks made from the task panel, and editing and deleting
one's own comments while another person's comments stay untouchable."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person

pytestmark = pytest.mark.e2e

# Column test ids carry the TaskStatus number.
BACKLOG, TODO, IN_PROGRESS, IN_REVIEW, DONE = 1, 2, 3, 4, 5


def column(page: Any, status: int) -> Any:
    return page.get_by_test_id(f"column-{status}")


def expect_head(page: Any, status: int, name: str, count: int, points: int) -> None:
    """The column header reads "<name> <count>" and, with points, "<n> pt(s)"."""
    head = column(page, status).locator(".column-head")
    expect(head.get_by_test_id("count")).to_have_text(str(count))
    if points:
        unit = "pt" if points == 1 else "pts"
        expect(head.locator(".sum")).to_have_text(f"{points} {unit}")
        expect(head).to_have_text(re.compile(rf"^{re.escape(name)}\s*{count}\s*{points} {unit}"))
    else:
        expect(head.locator(".sum")).to_have_count(0)
        expect(head).to_have_text(re.compile(rf"^{re.escape(name)}\s*{count}\s*\+?$"))


def open_board(server: LiveServer, browser: Any, name: str, project: Any) -> Any:
    page = person(browser, server, name)
    page.goto(f"{server.url}/#/p/{project['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    return page


def test_column_counts_and_point_totals_follow_moves_and_point_changes_live(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [
            {"title": "Login page", "status": "TASK_STATUS_TODO", "storyPoints": 3},
            {"title": "API docs", "status": "TASK_STATUS_TODO", "storyPoints": 2},
            {"title": "Unestimated", "status": "TASK_STATUS_TODO"},
            {"title": "Upload bug", "status": "TASK_STATUS_IN_PROGRESS", "storyPoints": 1},
            {"title": "Dark theme", "status": "TASK_STATUS_BACKLOG"},
        ]
    )
    tasks = {
        t["title"]: t for t in server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    }
    ana = open_board(server, browser, "Ana", project)
    ben = open_board(server, browser, "Ben", project)
    for page in (ana, ben):
        expect_head(page, BACKLOG, "Backlog", 1, 0)
        expect_head(page, TODO, "To do", 3, 5)
        expect_head(page, IN_PROGRESS, "In progress", 1, 1)
        expect_head(page, IN_REVIEW, "In review", 0, 0)
        expect_head(page, DONE, "Done", 0, 0)

    # Ana drags a 3-point card to Done: both pages move a card and 3 points across.
    card = column(ana, TODO).get_by_test_id("card").filter(has_text="Login page")
    card.drag_to(column(ana, DONE).locator(".cards"))
    for page in (ana, ben):
        expect_head(page, TODO, "To do", 2, 2)
        expect_head(page, DONE, "Done", 1, 3)

    # Ben sets points on the unestimated task in its panel; Ana's header follows.
    ben.goto(f"{server.url}/#/p/{project['id']}/t/{tasks['Unestimated']['id']}")
    points = ben.get_by_label("Story points")
    points.fill("5")
    points.press("Tab")
    expect_head(ana, TODO, "To do", 2, 7)
    # Ben moves the in-progress task to review from the panel's status field.
    ben.goto(f"{server.url}/#/p/{project['id']}/t/{tasks['Upload bug']['id']}")
    ben.get_by_label("Status").select_option(label="In review")
    expect_head(ana, IN_PROGRESS, "In progress", 0, 0)
    expect_head(ana, IN_REVIEW, "In review", 1, 1)

    # A change made elsewhere (the owner over REST) lands too: points cleared, then 1 point.
    server.api(
        "PATCH",
        f"/api/v1/tasks/{tasks['API docs']['id']}",
        {"updateMask": "storyPoints", "task": {"storyPoints": 1}},
    )
    expect_head(ana, TODO, "To do", 2, 6)
    server.api(
        "PATCH",
        f"/api/v1/tasks/{tasks['Upload bug']['id']}",
        {"updateMask": "storyPoints", "task": {}},
    )
    expect_head(ana, IN_REVIEW, "In review", 1, 0)

    # What the server holds agrees with the headers after a reload.
    ana.reload()
    expect_head(ana, BACKLOG, "Backlog", 1, 0)
    expect_head(ana, TODO, "To do", 2, 6)
    expect_head(ana, IN_PROGRESS, "In progress", 0, 0)
    expect_head(ana, IN_REVIEW, "In review", 1, 0)
    expect_head(ana, DONE, "Done", 1, 3)


def test_subtask_added_from_the_panel_is_a_real_child_task(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [{"title": "Launch the site", "status": "TASK_STATUS_TODO", "storyPoints": 3}]
    )
    parent = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"][0]
    ana = open_board(server, browser, "Ana", project)
    ben = open_board(server, browser, "Ben", project)
    url = f"{server.url}/#/p/{project['id']}/t/{parent['id']}"
    ana.goto(url)
    ben.goto(url)
    block = ana.get_by_test_id("task-panel").locator(".field-block", has_text="Subtasks")
    tally = block.locator(".block-head .muted")
    expect(tally).to_have_text("0/0")

    add = ana.get_by_placeholder("Add a subtask…")
    add.fill("Buy the domain")
    add.press("Enter")
    expect(add).to_have_value("")
    add.fill("Write the copy")
    add.press("Enter")
    items = block.locator(".subtasks li")
    expect(items).to_have_count(2)
    expect(items).to_have_text([re.compile("Buy the domain"), re.compile("Write the copy")])
    expect(tally).to_have_text("0/2")
    # Ben's open panel shows them without a reload.
    ben_block = ben.get_by_test_id("task-panel").locator(".field-block", has_text="Subtasks")
    expect(ben_block.locator(".subtasks li")).to_have_count(2)

    ana.get_by_label("Done: Buy the domain").check()
    expect(tally).to_have_text("1/2")
    expect(ben_block.locator(".block-head .muted")).to_have_text("1/2")
    ana.wait_for_function("() => tandem.store.outbox.size === 0")

    # Real tasks in the project, children of the parent, with keys of their own.
    listed = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    children = {t["title"]: t for t in listed if t.get("parentTaskId") == parent["id"]}
    assert set(children) == {"Buy the domain", "Write the copy"}
    for child in children.values():
        fetched = server.api("GET", f"/api/v1/tasks/{child['id']}")
        assert fetched["parentTaskId"] == parent["id"]
        assert fetched["projectId"] == project["id"]
        assert fetched["key"] and fetched["key"] != parent["key"]
    assert children["Buy the domain"]["status"] == "TASK_STATUS_DONE"
    assert children["Write the copy"].get("status") == "TASK_STATUS_TODO"
    # Each subtask links to its own panel, and a subtask's panel offers no nested subtasks.
    expect(items.first.locator("a")).to_contain_text(children["Buy the domain"]["key"])
    items.first.locator("a").click()
    expect(ana.get_by_label("Title")).to_have_value("Buy the domain")
    expect(ana.get_by_placeholder("Add a subtask…")).to_have_count(0)
    # Subtasks live under their parent, not as cards of their own on the board.
    ana.goto(f"{server.url}/#/p/{project['id']}")
    expect(column(ana, TODO).get_by_test_id("card")).to_have_count(1)
    expect_head(ana, TODO, "To do", 1, 3)
    expect_head(ana, DONE, "Done", 0, 0)


def test_own_comments_can_be_edited_and_deleted_live_and_others_cannot(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project([{"title": "Pick a font", "status": "TASK_STATUS_TODO"}])
    task = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"][0]
    url = f"{server.url}/#/p/{project['id']}/t/{task['id']}"
    ana = open_board(server, browser, "Ana", project)
    ben = open_board(server, browser, "Ben", project)
    ana.goto(url)
    ben.goto(url)

    def say(page: Any, text: str) -> None:
        box = page.get_by_label("New comment")
        box.fill(text)
        box.press("Control+Enter")
        expect(box).to_have_value("")

    say(ana, "Let's use Inter")
    ana_comments = ana.get_by_test_id("comment")
    ben_comments = ben.get_by_test_id("comment")
    expect(ben_comments).to_have_count(1)
    say(ben, "Fine by me")
    expect(ana_comments).to_have_count(2)
    ana.wait_for_function("() => tandem.store.outbox.size === 0")

    # Each person can change only their own comment.
    for page, own, other in (
        (ana, "Let's use Inter", "Fine by me"),
        (ben, "Fine by me", "Let's use Inter"),
    ):
        mine = page.get_by_test_id("comment").filter(has_text=own)
        theirs = page.get_by_test_id("comment").filter(has_text=other)
        expect(mine.get_by_role("button", name="Edit")).to_be_visible()
        expect(mine.get_by_role("button", name="Delete")).to_be_visible()
        expect(theirs.get_by_role("button")).to_have_count(0)

    # Ana edits hers: Ben sees the new text, marked as edited, without a reload.
    ana_comments.filter(has_text="Let's use Inter").get_by_role("button", name="Edit").click()
    editor = ana_comments.first.locator("textarea")
    editor.fill("Let's use **Source Sans**")
    ana_comments.first.get_by_role("button", name="Save").click()
    edited = ben_comments.filter(has_text="Source Sans")
    expect(edited.locator("strong")).to_have_text("Source Sans")
    expect(edited.locator(".comment-meta")).to_contain_text("edited")
    expect(ben_comments.filter(has_text="Inter")).to_have_count(0)
    ana.wait_for_function("() => tandem.store.outbox.size === 0")
    stored = server.api("GET", f"/api/v1/tasks/{task['id']}/comments")["comments"]
    assert sorted(c["body"] for c in stored) == ["Fine by me", "Let's use **Source Sans**"]

    # Ana deletes hers (no confirmation: the notice offers Undo): it disappears from Ben's
    # page; his stays.
    ana_comments.filter(has_text="Source Sans").get_by_role("button", name="Delete").click()
    expect(ana_comments).to_have_count(1)
    expect(ben_comments).to_have_count(1)
    expect(ben_comments).to_have_text([re.compile("Fine by me")])
    ana.wait_for_function("() => tandem.store.outbox.size === 0")
    stored = server.api("GET", f"/api/v1/tasks/{task['id']}/comments")["comments"]
    assert [c["body"] for c in stored] == ["Fine by me"]
    # Ben's comment, left on Ana's page, still offers her nothing to change.
    expect(ana_comments.get_by_role("button")).to_have_count(0)
