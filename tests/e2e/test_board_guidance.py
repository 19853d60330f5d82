"""What the board says and keeps when a new user pokes at it, in real Chromium against a real
server: a wrong project link says "not found", a new project opens its board, an empty board and
filters that match nothing say what to do, quick-added tasks keep the order typed, the text
filter reads descriptions, filters live in the address (several values each, kept over a
reload), labels differing only in case are one label, and an activity that could not load says
so."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, hold_frames, person, release_frames, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def live(page: Any) -> None:
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")


def test_an_unknown_project_link_says_not_found(server: LiveServer, browser: Any) -> None:
    server.make_project([{"title": "Only task", "status": "TASK_STATUS_TODO"}])
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/0b7c2a4e-0000-4000-8000-00000000dead")
    missing = page.get_by_test_id("project-not-found")
    expect(missing).to_be_visible()
    expect(missing.get_by_role("heading")).to_have_text("Project not found")
    expect(page.get_by_text("Loading the board…")).to_have_count(0)
    # The connection itself is fine: only the project is missing.
    live(page)
    shoot(page, "project-not-found")
    axe_clean(page, "project not found")
    missing.get_by_role("link", name="All projects").click()
    expect(page.get_by_test_id("project")).to_have_count(1)


def test_a_new_project_opens_its_empty_board_with_guidance(
    server: LiveServer, browser: Any
) -> None:
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(server.url)
    page.get_by_label("Project name").fill("Mobile app")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"#/p/[0-9a-f-]+$"))
    expect(page.locator(".project-title")).to_have_text("Mobile app")
    live(page)
    empty = page.get_by_test_id("empty-board")
    expect(empty).to_contain_text("This board has no tasks yet")
    expect(empty).to_contain_text("N")
    shoot(page, "board-empty")
    axe_clean(page, "empty board")
    # The guidance goes once there is a task.
    page.keyboard.press("n")
    page.get_by_label("New task title").fill("First task")
    page.get_by_label("New task title").press("Enter")
    expect(page.get_by_test_id("card")).to_have_count(1)
    expect(empty).to_have_count(0)


def test_quick_added_tasks_come_out_in_the_order_typed(server: LiveServer, browser: Any) -> None:
    project = server.make_project([{"title": "Already there", "status": "TASK_STATUS_TODO"}])
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{project['id']}")
    live(page)
    todo = page.get_by_test_id("column-2")
    page.get_by_role("button", name="Add a task to To do").click()
    field = page.get_by_label("New task title")
    for title in ("One", "Two", "Three"):
        field.fill(title)
        field.press("Enter")
    titles = [re.compile(t) for t in ("One", "Two", "Three", "Already there")]
    expect(todo.get_by_test_id("card")).to_have_text(titles)
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    # The server keeps that order: another browser sees it too.
    ben = person(browser, server, "Ben")
    ben.goto(f"{server.url}/#/p/{project['id']}")
    expect(ben.get_by_test_id("column-2").get_by_test_id("card")).to_have_text(titles)


def test_typing_right_after_an_event_is_drawn_without_waiting_for_a_frame(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project([{"title": "Already there", "status": "TASK_STATUS_TODO"}])
    page = person(browser, server, "Ana")
    hold_frames(page)
    page.goto(f"{server.url}/#/p/{project['id']}")
    live(page)
    todo = page.get_by_test_id("column-2")
    page.get_by_role("button", name="Add a task to To do").click()
    field = page.get_by_label("New task title")
    # Someone else adds a task: its event is applied, and its redraw waits for the next frame.
    page.evaluate("window.frames_.held = true")
    server.api("POST", f"/api/v1/projects/{project['id']}/tasks", {"title": "From Ben"})
    page.wait_for_function(
        "() => [...tandem.store.viewTasks().values()].some((t) => t.title === 'From Ben')"
    )
    page.wait_for_function("() => window.frames_.waiting.length > 0")
    # Typed before that frame: the field's own state follows at once, so Enter adds the title.
    field.fill("Typed meanwhile")
    field.press("Enter")
    expect(todo.get_by_test_id("card").filter(has_text="Typed meanwhile")).to_have_count(1)
    expect(field).to_be_focused()
    expect(field).to_have_value("")
    release_frames(page)
    expect(todo.get_by_test_id("card")).to_have_count(3)


def seed_filters(server: LiveServer) -> dict[str, Any]:
    return server.make_project(
        [
            {
                "title": "Deploy pipeline",
                "status": "TASK_STATUS_TODO",
                "description": "Move the build to Kubernetes.",
                "labels": ["ops"],
            },
            {"title": "Login page", "status": "TASK_STATUS_TODO", "labels": ["Bug"]},
            {"title": "Crash on upload", "status": "TASK_STATUS_IN_PROGRESS", "labels": ["bug"]},
            {"title": "Dark theme", "status": "TASK_STATUS_BACKLOG", "labels": ["ui"]},
        ]
    )


def test_the_text_filter_searches_descriptions_and_says_when_nothing_matches(
    server: LiveServer, browser: Any
) -> None:
    project = seed_filters(server)
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{project['id']}")
    live(page)
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(4)
    search = page.get_by_label("Filter by text")
    search.fill("kubernetes")
    expect(cards).to_have_text([re.compile("Deploy pipeline")])
    # REST `q` finds the same task.
    found = server.api("GET", f"/api/v1/projects/{project['id']}/tasks?q=kubernetes")["tasks"]
    assert [t["title"] for t in found] == ["Deploy pipeline"]

    search.fill("no such words")
    expect(cards).to_have_count(0)
    none = page.get_by_test_id("no-matches")
    expect(none).to_contain_text("No tasks match these filters")
    shoot(page, "board-no-matches")
    axe_clean(page, "no matches")
    none.get_by_role("button", name="Clear filters").click()
    expect(cards).to_have_count(4)
    expect(search).to_have_value("")
    expect(none).to_have_count(0)


def test_filters_take_several_values_live_in_the_address_and_survive_a_reload(
    server: LiveServer, browser: Any
) -> None:
    project = seed_filters(server)
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{project['id']}")
    live(page)
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(4)
    filters = page.locator(".filters")
    filters.get_by_label("Label", exact=True).select_option(label="ops")
    expect(cards).to_have_text([re.compile("Deploy pipeline")])
    filters.get_by_label("Label", exact=True).select_option(label="ui")
    expect(cards).to_have_count(2)
    assert re.search(r"\?label=ops&label=ui$", page.evaluate("() => location.hash"))
    shoot(page, "board-filters-several")
    axe_clean(page, "several filters")

    page.reload()
    live(page)
    expect(cards).to_have_count(2)
    expect(filters.get_by_role("button", name="Remove filter Label: ops")).to_be_visible()
    # Opening a task and closing it again keeps the filters.
    cards.filter(has_text="Dark theme").click()
    expect(page.get_by_test_id("task-panel")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("task-panel")).to_have_count(0)
    expect(cards).to_have_count(2)
    filters.get_by_role("button", name="Remove filter Label: ops").click()
    expect(cards).to_have_text([re.compile("Dark theme")])
    assert page.evaluate("() => location.hash").endswith("?label=ui")
    # A shared link with a filter shows the same cards to someone else.
    ben = person(browser, server, "Ben")
    ben.goto(f"{server.url}/#/p/{project['id']}?q=crash")
    expect(ben.get_by_test_id("card")).to_have_text([re.compile("Crash on upload")])
    expect(ben.get_by_label("Filter by text")).to_have_value("crash")


def test_labels_differing_only_in_case_are_one_label(server: LiveServer, browser: Any) -> None:
    project = seed_filters(server)
    pid = project["id"]
    # The server keeps the project's first spelling: "bug" joins "Bug".
    tasks = server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]
    assert {t["title"]: t["labels"] for t in tasks}["Crash on upload"] == ["Bug"]
    made = server.api(
        "POST",
        f"/api/v1/projects/{pid}/tasks",
        {"title": "Twice", "status": "TASK_STATUS_TODO", "labels": ["BUG", "bug", "new"]},
    )
    assert made["labels"] == ["Bug", "new"]
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{pid}")
    live(page)
    labels = page.locator(".filters").get_by_label("Label")
    options = labels.locator("option").all_text_contents()
    assert [o for o in options if o.lower() == "bug"] == ["Bug"]
    labels.select_option(label="Bug")
    expect(page.get_by_test_id("card")).to_have_count(3)
    by_rest = server.api("GET", f"/api/v1/projects/{pid}/tasks?label=bug")["tasks"]
    assert len(by_rest) == 3


def test_the_activity_says_when_it_could_not_load(server: LiveServer, browser: Any) -> None:
    project = server.make_project([{"title": "Write the docs", "status": "TASK_STATUS_TODO"}])
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{project['id']}")
    live(page)
    page.route("**/api/v1/projects/*/events*", lambda route: route.abort())
    page.get_by_test_id("card").click()
    panel = page.get_by_test_id("task-panel")
    failed = panel.get_by_test_id("activity-failed")
    expect(failed).to_contain_text("Couldn't load the activity")
    expect(panel.get_by_text("Older history is no longer kept")).to_have_count(0)
    shoot(page, "activity-failed")
    axe_clean(page, "activity failed")
    page.unroute("**/api/v1/projects/*/events*")
    failed.get_by_role("button", name="Try again").click()
    expect(panel.get_by_test_id("activity")).to_contain_text("created the task")
    expect(failed).to_have_count(0)


def test_the_rest_identity_is_not_offered_as_an_assignee(server: LiveServer, browser: Any) -> None:
    project = server.make_project(
        [
            {"title": "Made by a script", "status": "TASK_STATUS_TODO"},
            {"title": "Another", "status": "TASK_STATUS_TODO"},
        ]
    )
    rest = server.api("GET", "/api/v1/me")
    assert rest["displayName"] == "Owner" and rest["restCaller"] is True
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{project['id']}")
    live(page)
    assert page.evaluate(f"() => tandem.store.members.has({rest['id']!r})")
    filters = page.locator(".filters")
    assert filters.get_by_label("Assignee", exact=True).locator("option").all_text_contents() == [
        "Anyone",
        "Unassigned",
        "Ana",
    ]
    page.get_by_test_id("card").filter(has_text="Made by a script").click()
    panel = page.get_by_test_id("task-panel")
    picker = panel.get_by_label("Assignee")
    expect(picker.locator("option")).to_have_text(["Unassigned", "Ana"])
    page.keyboard.press("Control+k")
    page.keyboard.type("assign to")
    page.keyboard.press("Enter")
    palette = page.get_by_role("dialog", name="Command palette")
    expect(palette.get_by_role("listitem")).to_have_text(
        [re.compile("^Unassigned"), re.compile("^Ana \\(me\\)")]
    )
    page.keyboard.press("Escape")

    # Work a script gave to its own identity is shown truly: that task's picker names it.
    task = next(
        t
        for t in server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
        if t["title"] == "Made by a script"
    )
    server.api(
        "PATCH",
        f"/api/v1/tasks/{task['id']}",
        {"updateMask": "assigneeId", "task": {"assigneeId": rest["id"]}},
    )
    expect(picker).to_have_value(rest["id"])
    expect(picker.locator("option")).to_have_text(["Unassigned", "Ana", "Owner"])
    expect(filters.get_by_label("Assignee", exact=True).locator("option")).to_have_text(
        ["Anyone", "Unassigned", "Ana", "Owner"]
    )
