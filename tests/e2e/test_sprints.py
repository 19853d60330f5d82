"""Sprints in real Chromium against a real server: plan a sprint, put tasks in it, start it, see
its burndown, complete it carrying unfinished work over; screenshots in both themes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> dict[str, Any]:
    rows = [
        ("Design the login page", "TASK_STATUS_TODO", 3),
        ("Write the API docs", "TASK_STATUS_BACKLOG", 2),
        ("Fix the flaky upload", "TASK_STATUS_IN_PROGRESS", 5),
        ("Ship the release notes", "TASK_STATUS_TODO", 1),
    ]
    return server.make_project(
        [
            {"title": title, "status": status, "storyPoints": points}
            for title, status, points in rows
        ]
    )


def tasks_by_title(server: LiveServer, project_id: str) -> dict[str, dict[str, Any]]:
    tasks = server.api("GET", f"/api/v1/projects/{project_id}/tasks")["tasks"]
    return {t["title"]: t for t in tasks}


def sprints_by_name(server: LiveServer, project_id: str) -> dict[str, dict[str, Any]]:
    sprints = server.api("GET", f"/api/v1/projects/{project_id}/sprints")["sprints"]
    return {s["name"]: s for s in sprints}


def move_to_sprint(page: Any, title: str, sprint: str) -> None:
    row = page.get_by_test_id("sprint-task").filter(has_text=title)
    row.get_by_role("combobox").select_option(label=sprint)


def test_plan_start_and_complete_a_sprint_carrying_unfinished_tasks(
    server: LiveServer, browser: Any
) -> None:
    project = seed(server)
    pid = project["id"]
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.get_by_role("link", name="Sprints").click()
    expect(page.get_by_test_id("backlog").get_by_test_id("sprint-task")).to_have_count(4)

    # Plan two sprints: the first with a goal and dates.
    page.get_by_role("button", name="New sprint").click()
    page.get_by_label("Sprint name").fill("Sprint 1")
    page.get_by_label("Sprint goal").fill("Sign-in works end to end")
    start = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    end = (dt.date.today() + dt.timedelta(days=8)).isoformat()
    page.get_by_label("Start date").fill(start)
    page.get_by_label("End date").fill(end)
    page.get_by_role("button", name="Create sprint").click()
    page.get_by_role("button", name="New sprint").click()
    page.get_by_label("Sprint name").fill("Sprint 2")
    page.get_by_role("button", name="Create sprint").click()
    expect(page.get_by_test_id("sprint")).to_have_count(2)
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    sprints = sprints_by_name(server, pid)
    assert sprints["Sprint 1"]["goal"] == "Sign-in works end to end"
    assert sprints["Sprint 1"]["startDate"] == start
    assert sprints["Sprint 1"]["endDate"] == end
    assert sprints["Sprint 1"]["state"] == "SPRINT_STATE_PLANNED"

    # Put three tasks in Sprint 1.
    for title in ("Design the login page", "Fix the flaky upload", "Ship the release notes"):
        move_to_sprint(page, title, "Sprint 1")
    first = page.get_by_test_id("sprint").filter(has_text="Sprint 1")
    expect(first.get_by_test_id("sprint-task")).to_have_count(3)
    expect(first.get_by_test_id("sprint-stats")).to_contain_text("3 tasks · 9 pts")
    expect(page.get_by_test_id("backlog").get_by_test_id("sprint-task")).to_have_count(1)
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    sprint1 = sprints["Sprint 1"]["id"]
    tasks = tasks_by_title(server, pid)
    assert tasks["Fix the flaky upload"].get("sprintId") == sprint1

    # Start it: the board then shows its tasks. Sprint 2 cannot start while Sprint 1 is active.
    first.get_by_role("button", name="Start sprint").click()
    expect(page.get_by_role("button", name="Remove filter Sprint: Sprint 1")).to_be_visible()
    expect(page.get_by_test_id("card")).to_have_count(3)
    page.get_by_role("link", name="Sprints").click()
    expect(first.get_by_test_id("sprint-state")).to_have_text("Active")
    second = page.get_by_test_id("sprint").filter(has_text="Sprint 2")
    expect(second.get_by_role("button", name="Start sprint")).to_be_disabled()
    expect(first.get_by_test_id("burndown")).to_contain_text("9 of 9 pts remaining")
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    assert sprints_by_name(server, pid)["Sprint 1"]["state"] == "SPRINT_STATE_ACTIVE"

    # One task is finished (by someone else, over REST); the burndown follows.
    done_id = tasks["Ship the release notes"]["id"]
    current = server.api("GET", f"/api/v1/tasks/{done_id}")
    server.api(
        "PATCH",
        f"/api/v1/tasks/{done_id}",
        {
            "baseVersion": current["version"],
            "updateMask": "status",
            "task": {"status": "TASK_STATUS_DONE"},
        },
    )
    expect(first.get_by_test_id("burndown")).to_contain_text("8 of 9 pts remaining")
    expect(first.get_by_test_id("sprint-stats")).to_contain_text("1 done")
    shoot(page, "sprints")

    # Complete it: the two unfinished tasks go to Sprint 2.
    first.get_by_role("button", name="Complete sprint").click()
    dialog = page.get_by_test_id("complete-dialog")
    expect(dialog).to_contain_text("2 unfinished tasks (8 pts) move to")
    expect(dialog.get_by_role("radio", name="Sprint 2")).to_be_checked()
    shoot(page, "sprint-complete-dialog")
    dialog.get_by_role("button", name="Complete sprint").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_test_id("sprint")).to_have_count(1)
    expect(second.get_by_test_id("sprint-task")).to_have_count(2)
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    assert sprints_by_name(server, pid)["Sprint 1"]["state"] == "SPRINT_STATE_COMPLETED"
    tasks = tasks_by_title(server, pid)
    sprint2 = sprints["Sprint 2"]["id"]
    assert tasks["Design the login page"].get("sprintId") == sprint2
    assert tasks["Fix the flaky upload"].get("sprintId") == sprint2
    assert tasks["Ship the release notes"].get("sprintId") == sprint1
    page.get_by_role("button", name="Completed sprints (1)").click()
    expect(page.get_by_test_id("completed-sprint")).to_contain_text("1 done · 1 pt")
    expect(page.get_by_test_id("velocity")).to_contain_text("1 points completed on average")

    # After a reload the server's state is what shows.
    page.reload()
    expect(page.get_by_test_id("sprint").filter(has_text="Sprint 2")).to_have_count(1)
    expect(second.get_by_test_id("sprint-task")).to_have_count(2)


def test_complete_to_the_backlog_and_live_for_a_second_person(
    server: LiveServer, browser: Any
) -> None:
    project = seed(server)
    pid = project["id"]
    sprint = server.api("POST", f"/api/v1/projects/{pid}/sprints", {"name": "Only sprint"})
    tasks = tasks_by_title(server, pid)
    for title in ("Design the login page", "Write the API docs"):
        t = tasks[title]
        server.api(
            "PATCH",
            f"/api/v1/tasks/{t['id']}",
            {
                "baseVersion": t["version"],
                "updateMask": "sprintId",
                "task": {"sprintId": sprint["id"]},
            },
        )
    server.api("POST", f"/api/v1/sprints/{sprint['id']}/start", {})
    ana = person(browser, server, "Ana")
    ben = person(browser, server, "Ben")
    ana.goto(f"{server.url}/#/p/{pid}/sprints")
    ben.goto(f"{server.url}/#/p/{pid}/sprints")
    expect(ben.get_by_test_id("sprint-state")).to_have_text("Active")
    ana.get_by_role("button", name="Complete sprint").click()
    dialog = ana.get_by_test_id("complete-dialog")
    expect(dialog.get_by_role("radio", name="No sprint")).to_be_checked()
    dialog.get_by_role("button", name="Complete sprint").click()
    # Ben sees it without reloading: no open sprint, both tasks back in the backlog.
    expect(ben.get_by_test_id("sprint")).to_have_count(0)
    expect(ben.get_by_test_id("backlog").get_by_test_id("sprint-task")).to_have_count(4)
    ana.wait_for_function("() => tandem.store.outbox.size === 0")
    tasks = tasks_by_title(server, pid)
    assert not tasks["Design the login page"].get("sprintId")
    assert sprints_by_name(server, pid)["Only sprint"]["state"] == "SPRINT_STATE_COMPLETED"


def test_who_else_is_looking_at_the_sprint_plan(server: LiveServer, browser: Any) -> None:
    project = seed(server)
    pid = project["id"]
    first = server.api("POST", f"/api/v1/projects/{pid}/sprints", {"name": "Sprint 1"})
    server.api("POST", f"/api/v1/projects/{pid}/sprints", {"name": "Sprint 2"})
    server.api("POST", f"/api/v1/sprints/{first['id']}/start", {})
    ana = person(browser, server, "Ana")
    ben = person(browser, server, "Ben")
    ben.goto(f"{server.url}/#/p/{pid}/sprints")
    expect(ben.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    plan = ben.get_by_test_id("plan-lookers")
    expect(plan).to_have_count(0)

    # Ana opens the board: she is in the project, not on the plan. The board shows the active
    # sprint (empty) until she switches to all work.
    ana.goto(f"{server.url}/#/p/{pid}")
    expect(ana.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(ana.get_by_test_id("card")).to_have_count(0)
    ana.get_by_test_id("board-scope").get_by_role("button", name="All work").click()
    expect(ana.get_by_test_id("card")).to_have_count(4)
    expect(plan).to_have_count(0)

    # She opens the sprints: Ben sees her avatar on the plan and on the active sprint.
    ana.get_by_role("link", name="Sprints").click()
    expect(plan.locator(".avatar")).to_have_count(1)
    expect(plan).to_have_attribute("aria-label", "Ana is looking at the sprint plan")
    sprint1 = ben.get_by_test_id("sprint").filter(has_text="Sprint 1")
    sprint2 = ben.get_by_test_id("sprint").filter(has_text="Sprint 2")
    expect(sprint1.get_by_test_id("sprint-lookers")).to_have_attribute(
        "title", "Ana is looking at this sprint"
    )
    expect(sprint2.get_by_test_id("sprint-lookers")).to_have_count(0)
    # And Ana sees Ben, not herself.
    expect(ana.get_by_test_id("plan-lookers")).to_have_attribute(
        "aria-label", "Ben is looking at the sprint plan"
    )

    # Working in Sprint 2 moves her there; a task opened over the plan keeps her on it.
    ana.get_by_test_id("sprint").filter(has_text="Sprint 2").get_by_label(
        "Add a task to this sprint"
    ).click()
    expect(sprint2.get_by_test_id("sprint-lookers")).to_have_count(1)
    expect(sprint1.get_by_test_id("sprint-lookers")).to_have_count(0)
    ana.get_by_test_id("backlog").get_by_role("link", name="Write the API docs").click()
    expect(ana.get_by_test_id("task-panel")).to_be_visible()
    expect(ben.get_by_test_id("card")).to_have_count(0)  # Ben still on the plan, no board
    expect(sprint2.get_by_test_id("sprint-lookers")).to_have_count(1)
    ben.wait_for_function(
        "() => [...tandem.store.presence.values()].some(p => p.member?.displayName === 'Ana'"
        " && p.viewingTaskId !== '' && p.viewingSprintId !== '')"
    )
    shoot(ben, "sprint-presence")

    # Back to the board: she is no longer on the plan.
    ana.get_by_role("link", name="Board").click()
    expect(ana.get_by_test_id("board")).to_be_visible()
    expect(plan).to_have_count(0)
    expect(sprint2.get_by_test_id("sprint-lookers")).to_have_count(0)
