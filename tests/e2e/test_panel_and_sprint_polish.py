"""The task panel and sprint planning as a Linear or Jira user expects them, in real Chromium
against a real server: a comment draft survives closing the panel, a new sprint's dates follow
the last one, "Backlog" means one thing, starting a sprint shows its board, the panel leaves the
Done column in sight at 1400 px, completed sprints open, and a person can change their name."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> dict[str, Any]:
    rows = [
        ("Design the login page", "TASK_STATUS_TODO", 3),
        ("Write the API docs", "TASK_STATUS_BACKLOG", 2),
        ("Fix the flaky upload", "TASK_STATUS_IN_PROGRESS", 5),
        ("Ship the release notes", "TASK_STATUS_DONE", 1),
    ]
    return server.make_project([{"title": t, "status": s, "storyPoints": p} for t, s, p in rows])


def tasks_by_title(server: LiveServer, pid: str) -> dict[str, dict[str, Any]]:
    return {t["title"]: t for t in server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]}


def patch(**fields: Any) -> dict[str, Any]:
    """A REST PATCH body for a task that sets these fields."""
    return {"updateMask": ",".join(fields), "task": fields}


def open_board(browser: Any, server: LiveServer, pid: str, name: str = "Ana", **kw: Any) -> Any:
    page = person(browser, server, name, **kw)
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    return page


def test_closing_the_panel_keeps_the_comment_draft(server: LiveServer, browser: Any) -> None:
    project = seed(server)
    pid = project["id"]
    tasks = tasks_by_title(server, pid)
    page = open_board(browser, server, pid)
    page.get_by_test_id("card").filter(has_text="Design the login page").click()
    page.get_by_label("New comment").fill("Half a thought about\nthe login page")
    page.get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_test_id("task-panel")).to_have_count(0)

    # Another task has its own (empty) draft; the first one's is still there on return.
    page.get_by_test_id("card").filter(has_text="Fix the flaky upload").click()
    expect(page.get_by_label("New comment")).to_have_value("")
    page.goto(f"{server.url}/#/p/{pid}/t/{tasks['Design the login page']['id']}")
    expect(page.get_by_label("New comment")).to_have_value("Half a thought about\nthe login page")
    # It survives a reload too, and is gone once sent.
    page.reload()
    expect(page.get_by_label("New comment")).to_have_value("Half a thought about\nthe login page")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.get_by_test_id("comment")).to_have_count(1)
    page.get_by_role("button", name="Close", exact=True).click()
    page.get_by_test_id("card").filter(has_text="Design the login page").click()
    expect(page.get_by_label("New comment")).to_have_value("")


def test_a_new_sprint_starts_the_day_after_the_last_one_ends(
    server: LiveServer, browser: Any
) -> None:
    pid = seed(server)["id"]
    # The last sprint: three weeks, ending on a Friday.
    server.api(
        "POST",
        f"/api/v1/projects/{pid}/sprints",
        {"name": "Sprint 1", "startDate": "2026-03-02", "endDate": "2026-03-20"},
    )
    page = open_board(browser, server, pid)
    page.get_by_role("link", name="Sprints").click()
    page.get_by_role("button", name="New sprint").click()
    expect(page.get_by_label("Sprint name")).to_have_value("Sprint 2")
    expect(page.get_by_label("Start date")).to_have_value("2026-03-21")
    # Same length as the one before it: 19 days.
    expect(page.get_by_label("End date")).to_have_value("2026-04-08")
    shoot(page, "sprint-form-follows")


def test_backlog_is_a_status_and_no_sprint_is_no_sprint(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    server.api("POST", f"/api/v1/projects/{pid}/sprints", {"name": "Sprint 1"})
    tasks = tasks_by_title(server, pid)
    page = open_board(browser, server, pid, bypass_csp=True)
    page.goto(f"{server.url}/#/p/{pid}/t/{tasks['Write the API docs']['id']}")
    panel = page.get_by_test_id("task-panel")
    expect(panel.get_by_label("Status")).to_have_value("1")
    sprint = panel.get_by_label("Sprint", exact=True)
    expect(sprint.locator("option")).to_have_text(["No sprint", "Sprint 1"])
    expect(panel.get_by_label("Status").locator("option:checked")).to_have_text("Backlog")

    page.get_by_role("link", name="Sprints").click()
    section = page.get_by_test_id("backlog")
    expect(section.locator(".sprint-name")).to_have_text("Not in a sprint")
    row = section.get_by_test_id("sprint-task").first
    expect(row.get_by_role("combobox").locator("option").first).to_have_text("No sprint")
    expect(page.get_by_role("region", name="Backlog")).to_have_count(0)
    shoot(page, "not-in-a-sprint")
    axe_clean(page, "sprints with the no-sprint section")


def test_starting_a_sprint_shows_the_board_of_that_sprint(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    sprint = server.api("POST", f"/api/v1/projects/{pid}/sprints", {"name": "Sprint 1"})
    tasks = tasks_by_title(server, pid)
    for title in ("Design the login page", "Fix the flaky upload"):
        server.api("PATCH", f"/api/v1/tasks/{tasks[title]['id']}", patch(sprintId=sprint["id"]))
    page = open_board(browser, server, pid)
    page.get_by_role("link", name="Sprints").click()
    page.get_by_role("button", name="Start sprint").click()

    expect(page.get_by_test_id("board")).to_be_visible()
    # The board filters by that sprint: its chip is among the filters.
    expect(page.get_by_role("button", name="Remove filter Sprint: Sprint 1")).to_be_visible()
    expect(page.get_by_test_id("card")).to_have_count(2)
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    state = server.api("GET", f"/api/v1/sprints/{sprint['id']}")["state"]
    assert state == "SPRINT_STATE_ACTIVE"


def test_completed_sprints_open_on_the_board(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    sprint = server.api("POST", f"/api/v1/projects/{pid}/sprints", {"name": "Sprint 1"})
    tasks = tasks_by_title(server, pid)
    done = tasks["Ship the release notes"]
    server.api("PATCH", f"/api/v1/tasks/{done['id']}", patch(sprintId=sprint["id"]))
    server.api("POST", f"/api/v1/sprints/{sprint['id']}/start", {})
    server.api("POST", f"/api/v1/sprints/{sprint['id']}/complete", {})
    page = open_board(browser, server, pid, bypass_csp=True)
    page.get_by_role("link", name="Sprints").click()
    page.get_by_role("button", name="Completed sprints (1)").click()
    # A completed sprint opens as its report; from there (or the list) its tasks show on the board.
    page.get_by_test_id("completed-sprint").get_by_role("link", name="Sprint 1").click()
    expect(page.get_by_role("heading", name="Sprint 1 report")).to_be_visible()
    expect(page.get_by_test_id("report-done")).to_contain_text("Ship the release notes")
    page.get_by_role("link", name="← Sprints").click()
    # Back from the report, the list of completed sprints is still open.
    expect(page.get_by_role("button", name="Completed sprints (1)")).to_have_attribute(
        "aria-expanded", "true"
    )
    page.get_by_test_id("completed-sprint").get_by_role("button", name="Show on the board").click()

    expect(page.get_by_test_id("board")).to_be_visible()
    # The board filters by that sprint: its chip is among the filters.
    expect(page.get_by_role("button", name="Remove filter Sprint: Sprint 1")).to_be_visible()
    expect(page.get_by_test_id("card")).to_have_count(1)
    expect(page.get_by_test_id("card")).to_contain_text("Ship the release notes")
    shoot(page, "completed-sprint-board")
    axe_clean(page, "completed sprint's board")


def test_the_panel_leaves_the_done_column_in_sight_at_1400_px(
    server: LiveServer, browser: Any
) -> None:
    pid = seed(server)["id"]
    tasks = tasks_by_title(server, pid)
    page = person(browser, server, "Ana", bypass_csp=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{server.url}/#/p/{pid}/t/{tasks['Ship the release notes']['id']}")
    panel = page.get_by_test_id("task-panel")
    expect(panel.get_by_label("Title")).to_have_value("Ship the release notes")
    done = page.get_by_test_id("column-5").bounding_box()
    box = panel.bounding_box()
    assert done is not None and box is not None
    assert done["x"] >= 0 and done["x"] + done["width"] <= box["x"], (done, box)
    assert done["width"] >= 160, done
    # All five columns in sight, no sideways scrolling needed.
    overflow = page.get_by_test_id("board").evaluate("b => b.scrollWidth - b.clientWidth")
    assert overflow <= 1, overflow
    shoot(page, "panel-1400")
    axe_clean(page, "board with the panel at 1400 px")


def test_a_person_changes_their_name_and_the_others_see_it(
    server: LiveServer, browser: Any
) -> None:
    pid = seed(server)["id"]
    ana = open_board(browser, server, pid, bypass_csp=True)
    ben = open_board(browser, server, pid, "Ben")
    expect(ben.get_by_test_id("presence").locator(".avatar")).to_have_attribute("title", "Ana")

    ana.get_by_role("button", name="Your name: Ana").click()
    dialog = ana.get_by_role("dialog", name="Your name")
    expect(dialog.get_by_label("Your name")).to_have_value("Ana")
    shoot(ana, "change-name")
    axe_clean(ana, "change-name dialog")
    dialog.get_by_label("Your name").fill("Ana Lima")
    # Changed in place: the page is not reloaded (what it holds, such as this mark, stays).
    ana.evaluate("() => { window.sameDocument = true; }")
    dialog.get_by_role("button", name="Save").click()

    expect(ana.get_by_role("button", name="Your name: Ana Lima")).to_be_visible()
    assert ana.evaluate("() => window.sameDocument") is True
    expect(ana.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(ben.get_by_test_id("presence").locator(".avatar")).to_have_attribute("title", "Ana Lima")
    # Ben's assignee lists name her anew, without a reload.
    options = ben.get_by_label("Assignee").locator("option")
    expect(options.filter(has_text="Ana Lima")).to_have_count(1)
    expect(options.filter(has_text="Ana").filter(has_not_text="Lima")).to_have_count(0)
    names = [m["displayName"] for m in server.api("GET", "/api/v1/members")["members"]]
    assert "Ana Lima" in names and "Ana" not in names, names
    # An empty name is refused and the old one kept.
    ana.get_by_role("button", name="Your name: Ana Lima").click()
    ana.get_by_role("dialog", name="Your name").get_by_label("Your name").fill("  ")
    expect(
        ana.get_by_role("dialog", name="Your name").get_by_role("button", name="Save")
    ).to_be_disabled()
