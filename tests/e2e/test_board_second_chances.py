"""What a person can see and take back on the board, in real Chromium against a real server: a long
column scrolls inside itself; a deleted task can be brought back; due dates and overdue tasks show
on cards; the conflict dialog names who changed the task and keeps both drafts; `?` lists the
shortcuts; Ctrl+Z undoes and Ctrl+Shift+Z / Ctrl+Y redo, each saying what they did."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import AXE, axe_clean

pytestmark = pytest.mark.e2e


def board(browser: Any, server: LiveServer, name: str, project: dict[str, Any], **kw: Any) -> Any:
    page = person(browser, server, name, bypass_csp=AXE.is_file(), **kw)
    page.goto(f"{server.url}/#/p/{project['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    return page


def settled(page: Any) -> None:
    page.wait_for_function("() => tandem.store.outbox.size === 0")


def titles(server: LiveServer, project: dict[str, Any]) -> list[str]:
    return [
        t["title"] for t in server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    ]


def test_a_long_column_scrolls_inside_itself_and_the_page_does_not(
    server: LiveServer, browser: Any
) -> None:
    rows = [
        {"title": f"Task {i}", "status": "TASK_STATUS_TODO", "priority": "TASK_PRIORITY_HIGH"}
        for i in range(80)
    ]
    project = server.make_project(rows)
    page = board(browser, server, "Ana", project)
    expect(page.get_by_test_id("card")).to_have_count(80)
    # The page is exactly the window: nothing (such as cards' hidden screen-reader text) escapes
    # the column's own scroll box and stretches it.
    assert (
        page.evaluate("() => document.scrollingElement.scrollHeight")
        <= page.viewport_size["height"]
    )
    cards = page.get_by_test_id("column-2").locator(".cards")
    assert cards.evaluate("el => el.scrollHeight > el.clientHeight")
    cards.hover()
    for _ in range(30):
        page.mouse.wheel(0, 2000)
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-testid=column-2] .cards');"
        " return c.scrollTop + c.clientHeight >= c.scrollHeight - 1; }"
    )
    assert page.evaluate("() => window.scrollY") == 0
    expect(page.locator("header.top")).to_be_in_viewport()
    expect(page.get_by_text("Task 79", exact=True)).to_be_in_viewport()
    shoot(page, "long-column-scrolled")
    axe_clean(page, "long column")


def test_a_deleted_task_leaves_for_everyone_at_once_and_undo_brings_it_back_for_everyone(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [
            {"title": "Keep me", "status": "TASK_STATUS_TODO"},
            {"title": "Delete me", "status": "TASK_STATUS_TODO"},
        ]
    )
    ana = board(browser, server, "Ana", project)
    ben = board(browser, server, "Ben", project)
    doomed = next(
        t
        for t in server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
        if t["title"] == "Delete me"
    )
    ana.goto(f"{server.url}/#/p/{project['id']}/t/{doomed['id']}")
    panel = ana.get_by_test_id("task-panel")
    expect(panel.get_by_label("Title")).to_have_value("Delete me")
    # No confirmation to click through: the notice offers the way back.
    panel.get_by_role("button", name="Delete task").click()
    expect(ana.get_by_test_id("card")).to_have_text([re.compile("Keep me")])
    # The delete is not held back: it goes to the trash, and Ben sees it leave at once.
    expect(ben.get_by_test_id("card")).to_have_text([re.compile("Keep me")])
    notice = ana.get_by_test_id("notice").filter(has_text=f"Deleted {doomed['key']}")
    expect(notice).to_be_visible()
    shoot(ana, "delete-undo-notice")
    axe_clean(ana, "delete notice")
    notice.get_by_role("button", name="Undo").click()
    expect(
        ana.get_by_test_id("notice").filter(has_text=f"Restored {doomed['key']}")
    ).to_be_visible()
    # Restored from the trash, where it was: first Keep me, then it, for both.
    for page in (ana, ben):
        expect(page.get_by_test_id("card")).to_have_text(
            [re.compile("Keep me"), re.compile("Delete me")]
        )
    settled(ana)
    assert titles(server, project) == ["Keep me", "Delete me"]

    # Undo by keyboard is a restore too.
    ana.goto(f"{server.url}/#/p/{project['id']}/t/{doomed['id']}")
    panel.get_by_role("button", name="Delete task").click()
    expect(ben.get_by_test_id("card")).to_have_count(1)
    ana.keyboard.press("Control+z")
    expect(ana.get_by_test_id("card")).to_have_count(2)
    expect(ben.get_by_test_id("card")).to_have_count(2)

    # Left alone, the task stays in the trash, for everyone, after the notice is gone.
    ana.goto(f"{server.url}/#/p/{project['id']}/t/{doomed['id']}")
    panel.get_by_role("button", name="Delete task").click()
    expect(ben.get_by_test_id("card")).to_have_text([re.compile("Keep me")])
    settled(ana)
    assert titles(server, project) == ["Keep me"]
    trash = server.api("GET", f"/api/v1/projects/{project['id']}/trash")["tasks"]
    assert [e["task"]["title"] for e in trash] == ["Delete me"]


def test_due_dates_show_on_cards_and_overdue_ones_stand_out(
    server: LiveServer, browser: Any
) -> None:
    today = datetime.date.today()
    yesterday, soon, later = (today + datetime.timedelta(days=d) for d in (-1, 1, 40))
    project = server.make_project(
        [
            {
                "title": "Late",
                "status": "TASK_STATUS_IN_PROGRESS",
                "dueDate": yesterday.isoformat(),
            },
            {"title": "Tomorrow", "status": "TASK_STATUS_TODO", "dueDate": soon.isoformat()},
            {"title": "Next month", "status": "TASK_STATUS_TODO", "dueDate": later.isoformat()},
            {
                "title": "Shipped anyway",
                "status": "TASK_STATUS_DONE",
                "dueDate": yesterday.isoformat(),
            },
            {"title": "Whenever", "status": "TASK_STATUS_TODO"},
        ]
    )
    page = board(browser, server, "Ana", project)

    def due(title: str) -> Any:
        return page.get_by_test_id("card").filter(has_text=title).get_by_test_id("due")

    expect(due("Late")).to_have_attribute("data-state", "overdue")
    expect(due("Late")).to_contain_text("overdue")
    expect(due("Tomorrow")).to_have_attribute("data-state", "soon")
    expect(due("Next month")).to_have_attribute("data-state", "later")
    # A done task is not overdue, however late it was.
    expect(due("Shipped anyway")).to_have_attribute("data-state", "done")
    expect(due("Whenever")).to_have_count(0)
    late = due("Late")
    red = late.evaluate("el => getComputedStyle(el).color")
    plain = due("Next month").evaluate("el => getComputedStyle(el).color")
    assert red != plain
    # Setting a date in the panel puts it on the card at once.
    task = next(
        t
        for t in server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
        if t["title"] == "Whenever"
    )
    page.goto(f"{server.url}/#/p/{project['id']}/t/{task['id']}")
    page.get_by_test_id("task-panel").get_by_label("Due date").fill(yesterday.isoformat())
    expect(due("Whenever")).to_have_attribute("data-state", "overdue")
    page.goto(f"{server.url}/#/p/{project['id']}")
    shoot(page, "due-dates")
    axe_clean(page, "due dates")


def test_conflict_dialog_names_who_changed_it_and_keeps_both_drafts(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [{"title": "Write the release notes", "status": "TASK_STATUS_TODO"}]
    )
    task = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"][0]
    url = f"{server.url}/#/p/{project['id']}/t/{task['id']}"
    ana = person(browser, server, "Ana", bypass_csp=AXE.is_file())
    ana.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    carol = person(browser, server, "Carol")
    for page in (ana, carol):
        page.goto(url)
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
        expect(page.get_by_label("Title")).to_have_value("Write the release notes")

    mine = "Ana's draft:\n- first point\n- second point"
    theirs = "Carol's notes\nline two"
    # Ana starts writing; Carol saves her description meanwhile; Ana saves hers.
    ana_panel = ana.get_by_test_id("task-panel")
    ana_panel.get_by_role("button", name="Edit").click()
    ana_panel.get_by_label("Description").fill(mine)
    carol_panel = carol.get_by_test_id("task-panel")
    carol_panel.get_by_role("button", name="Edit").click()
    carol_panel.get_by_label("Description").fill(theirs)
    carol_panel.get_by_label("Description").press("Control+Enter")
    settled(carol)
    ana.wait_for_function(
        '(id) => tandem.store.tasks.get(id)?.description.startsWith("Carol")', arg=task["id"]
    )
    ana_panel.get_by_label("Description").press("Control+Enter")

    dialog = ana.get_by_test_id("conflict")
    expect(dialog.get_by_role("heading")).to_have_text("Carol changed this at the same time")
    # Line breaks are kept, as written.
    assert dialog.get_by_test_id("theirs").inner_text() == theirs
    assert dialog.get_by_test_id("mine").inner_text() == mine
    dialog.get_by_role("button", name="Copy my description").click()
    expect(dialog.get_by_role("button", name="Copied my description")).to_be_visible()
    assert ana.evaluate("() => navigator.clipboard.readText()") == mine
    shoot(ana, "conflict-named")
    axe_clean(ana, "conflict dialog")
    dialog.get_by_role("button", name="Keep both descriptions").click()
    expect(dialog).to_have_count(0)
    settled(ana)
    saved = server.api("GET", f"/api/v1/tasks/{task['id']}")
    assert saved["description"] == f"{theirs}\n\n---\n\n{mine}"
    # Carol sees both texts too.
    expect(carol.get_by_test_id("description")).to_contain_text("second point")


def test_question_mark_opens_the_shortcut_sheet(server: LiveServer, browser: Any) -> None:
    project = server.make_project([{"title": "One", "status": "TASK_STATUS_TODO"}])
    page = board(browser, server, "Ana", project)
    page.keyboard.press("?")
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    for what in ("Select the next card", "Select the previous card", "Open the selected card"):
        expect(sheet).to_contain_text(what)
    rows = sheet.locator("tr")
    for keys, what in (
        ("J", "next card"),
        ("K", "previous card"),
        ("S", "next status"),
        ("A", "Assign"),
        ("Enter", "Open the selected"),
        ("Ctrl+Z", "Undo"),
        ("Ctrl+Shift+Z", "Redo"),
        ("Ctrl+K", "command palette"),
    ):
        expect(rows.filter(has_text=what)).to_contain_text(keys)
    shoot(page, "shortcut-sheet")
    axe_clean(page, "shortcut sheet")
    page.keyboard.press("Escape")
    expect(sheet).to_have_count(0)
    # In a text field "?" is just a character.
    page.get_by_label("Filter by text").type("?")
    expect(sheet).to_have_count(0)


def test_a_dialog_taller_than_the_window_keeps_its_title_and_buttons_on_screen(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project([{"title": "One", "status": "TASK_STATUS_TODO"}])
    page = board(browser, server, "Ana", project)
    # A laptop's browser window with its toolbars: shorter than the shortcut sheet.
    page.set_viewport_size({"width": 1280, "height": 400})
    page.keyboard.press("?")
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    box = sheet.bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= 400, box
    expect(sheet.get_by_role("heading", name="Keyboard shortcuts")).to_be_in_viewport()
    shoot(page, "shortcut-sheet-short-window")
    # The sheet scrolls inside itself to its last shortcut and its button.
    expect(sheet.locator("tr").last).not_to_be_in_viewport()
    sheet.locator("tr").last.scroll_into_view_if_needed()
    expect(sheet.locator("tr").last).to_be_in_viewport()
    sheet.get_by_role("button", name="Close").click()
    expect(sheet).to_have_count(0)


def test_ctrl_z_undoes_and_ctrl_shift_z_and_ctrl_y_redo_with_feedback(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project([{"title": "Ship it", "status": "TASK_STATUS_TODO"}])
    page = board(browser, server, "Ana", project)
    task = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"][0]
    card = page.get_by_test_id("card")
    card.focus()
    page.keyboard.press("s")
    expect(page.get_by_test_id("column-3").get_by_test_id("card")).to_have_count(1)
    settled(page)

    def notice(text: str) -> Any:
        return page.get_by_test_id("notice").filter(has_text=text).last

    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("column-2").get_by_test_id("card")).to_have_count(1)
    expect(notice(f"Undid moving {task['key']}")).to_be_visible()
    settled(page)
    page.keyboard.press("Control+Shift+z")
    expect(page.get_by_test_id("column-3").get_by_test_id("card")).to_have_count(1)
    expect(notice(f"Redid moving {task['key']}")).to_be_visible()
    shoot(page, "undo-redo-notice")
    axe_clean(page, "undo notice")
    settled(page)
    page.keyboard.press("Meta+z")
    expect(page.get_by_test_id("column-2").get_by_test_id("card")).to_have_count(1)
    settled(page)
    page.keyboard.press("Control+y")
    expect(page.get_by_test_id("column-3").get_by_test_id("card")).to_have_count(1)
    settled(page)
    assert server.api("GET", f"/api/v1/tasks/{task['id']}")["status"] == "TASK_STATUS_IN_PROGRESS"
    page.keyboard.press("Control+y")
    expect(notice("Nothing to redo")).to_be_visible()
    # In a text field Ctrl+Z is the field's own undo, not the board's.
    search = page.get_by_label("Filter by text")
    search.type("Ship")
    search.press("Control+z")
    expect(page.get_by_test_id("column-3").get_by_test_id("card")).to_have_count(1)
    assert page.evaluate("() => tandem.store.outbox.size") == 0


def test_a_delete_is_sent_at_once_even_when_the_page_is_left_right_after(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [
            {"title": "Keep me", "status": "TASK_STATUS_TODO"},
            {"title": "Delete me", "status": "TASK_STATUS_TODO"},
        ]
    )
    doomed = next(
        t
        for t in server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
        if t["title"] == "Delete me"
    )
    ana = board(browser, server, "Ana", project)
    ana.goto(f"{server.url}/#/p/{project['id']}/t/{doomed['id']}")
    ana.get_by_test_id("task-panel").get_by_role("button", name="Delete task").click()
    expect(ana.get_by_test_id("card")).to_have_count(1)
    # Reloaded at once: the delete is in the outbox (kept across the reload) or already sent.
    ana.reload()
    expect(ana.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(ana.get_by_test_id("card")).to_have_text([re.compile("Keep me")])
    settled(ana)
    assert titles(server, project) == ["Keep me"]
