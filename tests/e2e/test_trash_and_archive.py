"""The trash and the archive in real Chromium against a real server, two people at once: a
deleted task waits in the Trash view (who deleted it, when), comes back where it was with its
comments, or is deleted forever, live for both; a deleted comment comes back with Undo; done
tasks and a completed sprint are archived off the board, found in the Archive view, opened
read-only, restored."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import AXE, axe_clean

pytestmark = pytest.mark.e2e


def board(browser: Any, server: LiveServer, name: str, pid: str, view: str = "") -> Any:
    page = person(browser, server, name, bypass_csp=AXE.is_file())
    page.goto(f"{server.url}/#/p/{pid}{view}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    return page


def settled(page: Any) -> None:
    page.wait_for_function("() => tandem.store.outbox.size === 0")


def by_title(server: LiveServer, pid: str, title: str) -> dict[str, Any]:
    tasks = server.api("GET", f"/api/v1/projects/{pid}/tasks?archived=include")["tasks"]
    return next(t for t in tasks if t["title"] == title)


def test_the_trash_lists_who_deleted_what_and_restores_or_deletes_forever_live(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [
            {"title": "First", "status": "TASK_STATUS_TODO"},
            {"title": "Middle", "status": "TASK_STATUS_TODO"},
            {"title": "Last", "status": "TASK_STATUS_TODO"},
            {"title": "Scratch", "status": "TASK_STATUS_BACKLOG"},
        ]
    )
    pid = project["id"]
    middle = by_title(server, pid, "Middle")
    server.api("POST", f"/api/v1/tasks/{middle['id']}/comments", {"body": "Worth keeping"})
    ana = board(browser, server, "Ana", pid)
    ben = board(browser, server, "Ben", pid, "/trash")
    expect(ben.get_by_test_id("trash-empty")).to_be_visible()

    for title in ("Middle", "Scratch"):
        task = by_title(server, pid, title)
        ana.goto(f"{server.url}/#/p/{pid}/t/{task['id']}")
        ana.get_by_test_id("task-panel").get_by_role("button", name="Delete task").click()
        expect(ana.get_by_test_id("card").filter(has_text=title)).to_have_count(0)
    # Ben's Trash view follows live: newest first, who deleted it and when, what comes with it.
    rows = ben.get_by_test_id("trashed")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Scratch")
    expect(rows.nth(1)).to_contain_text("Middle")
    expect(rows.nth(1)).to_contain_text("Deleted by")
    expect(rows.nth(1)).to_contain_text("Ana")
    expect(rows.nth(1)).to_contain_text("1 comment")
    expect(rows.nth(1)).to_contain_text("30 days left")
    expect(rows.nth(1).locator("time")).not_to_have_text("")
    shoot(ben, "trash-view")
    axe_clean(ben, "trash view")

    # Ben restores Middle: it is back on Ana's board where it was, with its comment.
    rows.filter(has_text="Middle").get_by_role("button", name="Restore").click()
    expect(rows).to_have_count(1)
    column = ana.get_by_test_id("column-2").get_by_test_id("card")
    expect(column).to_have_text([re.compile("First"), re.compile("Middle"), re.compile("Last")])
    ana.goto(f"{server.url}/#/p/{pid}/t/{middle['id']}")
    expect(ana.get_by_test_id("task-panel").get_by_text("Worth keeping")).to_be_visible()
    assert by_title(server, pid, "Middle")["key"] == middle["key"]

    # Delete forever asks first, then it is gone from both trashes, for good.
    ana.goto(f"{server.url}/#/p/{pid}/trash")
    ana.get_by_test_id("trashed").get_by_role("button", name="Delete forever").click()
    dialog = ana.get_by_role("dialog", name=re.compile("Delete .* forever"))
    expect(dialog).to_contain_text("cannot be undone")
    shoot(ana, "trash-delete-forever")
    axe_clean(ana, "delete forever dialog")
    dialog.get_by_role("button", name="Delete forever").click()
    expect(ana.get_by_test_id("trash-empty")).to_be_visible()
    expect(ben.get_by_test_id("trash-empty")).to_be_visible()
    settled(ana)
    scratch = server.api("GET", f"/api/v1/projects/{pid}/events?since=0")
    assert any("trashPurged" in e for e in scratch["events"])


def test_a_deleted_comment_comes_back_with_undo(server: LiveServer, browser: Any) -> None:
    project = server.make_project([{"title": "Talked about", "status": "TASK_STATUS_TODO"}])
    pid = project["id"]
    task = by_title(server, pid, "Talked about")
    ana = board(browser, server, "Ana", pid, f"/t/{task['id']}")
    ben = board(browser, server, "Ben", pid, f"/t/{task['id']}")
    panel = ana.get_by_test_id("task-panel")
    box = panel.get_by_label("New comment")
    box.fill("Second thoughts")
    box.press("Control+Enter")
    expect(ben.get_by_text("Second thoughts")).to_be_visible()
    panel.get_by_test_id("comment").get_by_role("button", name="Delete").click()
    expect(ben.get_by_text("Second thoughts")).to_have_count(0)
    notice = ana.get_by_test_id("notice").filter(has_text="Deleted the comment")
    notice.get_by_role("button", name="Undo").click()
    expect(ana.get_by_text("Second thoughts")).to_be_visible()
    expect(ben.get_by_text("Second thoughts")).to_be_visible()
    settled(ana)
    comments = server.api("GET", f"/api/v1/tasks/{task['id']}/comments")["comments"]
    assert [c["body"] for c in comments] == ["Second thoughts"]


def test_done_tasks_are_archived_found_by_search_and_restored_live(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [
            {"title": "Ship the login page", "status": "TASK_STATUS_DONE"},
            {"title": "Ship the signup page", "status": "TASK_STATUS_DONE"},
            {"title": "Write the release notes", "status": "TASK_STATUS_DONE"},
            {"title": "Still going", "status": "TASK_STATUS_IN_PROGRESS"},
        ]
    )
    pid = project["id"]
    ana = board(browser, server, "Ana", pid)
    ben = board(browser, server, "Ben", pid)
    done = ana.get_by_test_id("column-5")
    expect(done.get_by_test_id("card")).to_have_count(3)

    # One from its panel: only a done task offers Archive.
    notes = by_title(server, pid, "Write the release notes")
    going = by_title(server, pid, "Still going")
    ana.goto(f"{server.url}/#/p/{pid}/t/{going['id']}")
    expect(ana.get_by_role("button", name="Archive task")).to_have_count(0)
    ana.goto(f"{server.url}/#/p/{pid}/t/{notes['id']}")
    shoot(ana, "task-panel-archive")
    ana.get_by_role("button", name="Archive task").click()
    expect(ben.get_by_test_id("column-5").get_by_test_id("card")).to_have_count(2)

    # The rest at once from the Done column.
    shoot(ana, "board-archive-done")
    axe_clean(ana, "board with archive all")
    ana.get_by_role("button", name="Archive all 2 done tasks").click()
    expect(done.get_by_test_id("card")).to_have_count(0)
    expect(ben.get_by_test_id("column-5").get_by_test_id("card")).to_have_count(0)
    expect(ben.get_by_test_id("card")).to_have_text([re.compile("Still going")])
    settled(ana)
    listed = server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]
    assert [t["title"] for t in listed] == ["Still going"]
    found = server.api("GET", f"/api/v1/projects/{pid}/tasks?q=ship&archived=include")["tasks"]
    assert sorted(t["title"] for t in found) == ["Ship the login page", "Ship the signup page"]

    # The Archive view lists them, searchable; Ben restores one and Ana sees it on her board.
    ben.goto(f"{server.url}/#/p/{pid}/archive")
    archived = ben.get_by_test_id("archived")
    expect(archived).to_have_count(3)
    expect(archived.first).to_contain_text("Archived by")
    shoot(ben, "archive-view")
    axe_clean(ben, "archive view")
    ben.get_by_label("Search the archive").fill("signup")
    expect(archived).to_have_text([re.compile("Ship the signup page")])
    archived.get_by_role("button", name="Restore").click()
    expect(ben.get_by_test_id("archive-empty")).to_be_visible()
    expect(done.get_by_test_id("card")).to_have_text([re.compile("Ship the signup page")])
    ben.get_by_label("Search the archive").fill("")
    expect(archived).to_have_count(2)


def test_an_archived_task_opens_read_only_with_restore(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    project = server.make_project(
        [
            {
                "title": "Ship the login page",
                "status": "TASK_STATUS_DONE",
                "description": "Behind the **feature flag**.",
                "labels": ["web"],
            },
            {"title": "Still going", "status": "TASK_STATUS_IN_PROGRESS"},
        ]
    )
    pid = project["id"]
    shipped = by_title(server, pid, "Ship the login page")
    server.api("POST", f"/api/v1/tasks/{shipped['id']}/comments", {"body": "Went out on Monday"})
    ana = board(browser, server, "Ana", pid, f"/t/{shipped['id']}")
    notes = tmp_path / "release-notes.txt"
    notes.write_text("What shipped")
    ana.get_by_label("Choose files to attach").set_input_files(str(notes))
    expect(ana.get_by_test_id("attachment")).to_have_count(1)
    settled(ana)
    server.api("POST", f"/api/v1/tasks/{shipped['id']}/archive", {})
    ana.goto(f"{server.url}/#/p/{pid}/archive")
    archived = ana.get_by_test_id("archived")
    expect(archived).to_have_count(1)

    # Clicking it opens it as it was: every field, the description and comments, none editable.
    archived.get_by_role("link", name=re.compile("Ship the login page")).click()
    panel = ana.get_by_test_id("task-panel")
    expect(panel.get_by_test_id("archived-title")).to_have_text("Ship the login page")
    expect(panel.get_by_test_id("archived-note")).to_contain_text("read-only")
    expect(panel.get_by_test_id("description").locator("strong")).to_have_text("feature flag")
    expect(panel.get_by_test_id("comment")).to_contain_text("Went out on Monday")
    expect(panel.get_by_test_id("archived-file")).to_have_text("release-notes.txt")
    expect(panel).to_contain_text("Done")
    expect(panel).to_contain_text("web")
    expect(panel.locator("input, textarea, select")).to_have_count(0)
    assert "/archive/t/" in ana.url
    shoot(ana, "archived-task-panel")
    axe_clean(ana, "an archived task opened")

    # Restore puts it back on the board, where the usual panel takes over.
    panel.get_by_role("button", name="Restore").click()
    expect(panel.get_by_label("Title")).to_have_value("Ship the login page")
    expect(ana.get_by_test_id("archive-empty")).to_be_visible()
    settled(ana)
    listed = server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]
    assert sorted(t["title"] for t in listed) == ["Ship the login page", "Still going"]


def test_a_completed_sprint_is_archived_and_restored_with_its_tasks(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project([{"title": "Sprint work", "status": "TASK_STATUS_DONE"}])
    pid = project["id"]
    sprint = server.api("POST", f"/api/v1/projects/{pid}/sprints", {"name": "Sprint 1"})
    task = by_title(server, pid, "Sprint work")
    server.api(
        "PATCH",
        f"/api/v1/tasks/{task['id']}",
        {
            "baseVersion": task["version"],
            "updateMask": "sprintId",
            "task": {"sprintId": sprint["id"]},
        },
    )
    server.api("POST", f"/api/v1/sprints/{sprint['id']}/start", {})
    server.api("POST", f"/api/v1/sprints/{sprint['id']}/complete", {})
    ana = board(browser, server, "Ana", pid, "/sprints")
    ben = board(browser, server, "Ben", pid)
    expect(ben.get_by_test_id("card")).to_have_count(1)
    ana.get_by_role("button", name=re.compile("Completed sprints")).click()
    row = ana.get_by_test_id("completed-sprint")
    expect(row).to_contain_text("Sprint 1")
    row.get_by_role("button", name="Archive").click()
    expect(row).to_have_count(0)
    expect(ben.get_by_test_id("card")).to_have_count(0)
    # Still openable by its id, and listed in the archive with its task.
    assert server.api("GET", f"/api/v1/sprints/{sprint['id']}")["name"] == "Sprint 1"
    ana.goto(f"{server.url}/#/p/{pid}/archive")
    kept = ana.get_by_test_id("archived-sprint")
    expect(kept).to_contain_text("Sprint 1")
    expect(kept).to_contain_text("1 task")
    kept.get_by_role("button", name="Restore").click()
    expect(kept).to_have_count(0)
    expect(ben.get_by_test_id("card")).to_have_text([re.compile("Sprint work")])


def test_a_deleted_project_asks_first_then_comes_back_with_undo_or_from_recently_deleted(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project([{"title": "Inside", "status": "TASK_STATUS_TODO"}])
    server.api("POST", "/api/v1/projects", {"name": "Mobile", "key": "MOB"})
    ana = person(browser, server, "Ana", bypass_csp=AXE.is_file())
    ana.goto(server.url + "/")
    rows = ana.get_by_test_id("project")
    expect(rows).to_have_count(2)

    def delete_website() -> None:
        rows.filter(has_text="Website").get_by_role("button", name="Delete").click()
        dialog = ana.get_by_role("dialog", name="Delete project")
        expect(dialog).to_contain_text("30 days")
        dialog.get_by_role("button", name="Delete project").click()
        expect(rows).to_have_text([re.compile("Mobile")])

    delete_website()
    ana.get_by_test_id("notice").filter(has_text="Deleted Website").get_by_role(
        "button", name="Undo"
    ).click()
    expect(rows).to_have_count(2)
    settled(ana)
    assert server.api("GET", f"/api/v1/projects/{project['id']}")["name"] == "Website"

    delete_website()
    deleted = ana.get_by_test_id("deleted-project")
    expect(deleted).to_contain_text("Website")
    expect(deleted).to_contain_text("Deleted by")
    expect(deleted).to_contain_text("30 days left")
    shoot(ana, "projects-recently-deleted")
    axe_clean(ana, "recently deleted projects")
    deleted.get_by_role("button", name="Restore").click()
    expect(rows).to_have_count(2)
    expect(deleted).to_have_count(0)
    rows.filter(has_text="Website").get_by_role("link").click()
    expect(ana.get_by_test_id("card")).to_have_text([re.compile("Inside")])


def test_a_link_to_a_task_in_the_trash_says_so_and_restores_it(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [
            {"title": "Draft the FAQ", "status": "TASK_STATUS_TODO"},
            {"title": "Stays", "status": "TASK_STATUS_TODO"},
        ]
    )
    pid = project["id"]
    faq = by_title(server, pid, "Draft the FAQ")
    server.api("POST", f"/api/v1/tasks/{faq['id']}/comments", {"body": "First pass done"})
    server.api("DELETE", f"/api/v1/tasks/{faq['id']}")

    # Someone follows a link to it (from chat, an old inbox item): the panel says where it is.
    ana = board(browser, server, "Ana", pid, f"/t/{faq['id']}")
    panel = ana.get_by_test_id("task-panel")
    expect(panel.get_by_test_id("trashed-title")).to_have_text("Draft the FAQ")
    note = panel.get_by_test_id("trashed-note")
    expect(note).to_contain_text("In the Trash: deleted by")
    expect(note).to_contain_text("days left")
    expect(panel).to_contain_text("back where it was on the board, with its 1 comment.")
    shoot(ana, "trashed-task-from-a-link")
    axe_clean(ana, "a task in the trash opened from a link")

    # Restore puts it back on the board, where the usual panel takes over.
    note.get_by_role("button", name="Restore").click()
    expect(panel.get_by_label("Title")).to_have_value("Draft the FAQ")
    expect(ana.get_by_test_id("card").filter(has_text="Draft the FAQ")).to_have_count(1)
    settled(ana)
    listed = server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]
    assert sorted(t["title"] for t in listed) == ["Draft the FAQ", "Stays"]

    # A link to a task that is nowhere still says the link may be mistyped.
    ana.goto(f"{server.url}/#/p/{pid}/t/00000000-0000-4000-8000-000000000000")
    expect(ana.get_by_test_id("task-panel")).to_contain_text("not on the board")
