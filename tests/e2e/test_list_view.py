"""The list view in real Chromium against a real server: sorting, selecting with clicks and keys,
bulk edits that reach a second person live and come back with one undo, bulk delete; screenshots
and axe in both themes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from tandem.v1 import websocket_pb2

from server.command_table import COMMAND_TABLE
from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e

ROWS = [
    ("Design the login page", "TASK_STATUS_TODO", ["design"], 3, "TASK_PRIORITY_HIGH"),
    ("Write the API docs", "TASK_STATUS_TODO", ["docs"], 2, "TASK_PRIORITY_LOW"),
    ("Fix the flaky upload", "TASK_STATUS_IN_PROGRESS", ["bug"], 5, "TASK_PRIORITY_URGENT"),
    ("Dark theme", "TASK_STATUS_BACKLOG", ["design", "ui"], 8, "TASK_PRIORITY_MEDIUM"),
    ("Release 1.0 notes", "TASK_STATUS_DONE", [], 1, "TASK_PRIORITY_NONE"),
]


def seed(server: LiveServer) -> dict[str, Any]:
    tasks = [
        {"title": t, "status": s, "labels": la, "storyPoints": p, "priority": pr}
        for t, s, la, p, pr in ROWS
    ]
    return server.make_project(tasks)


def titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("[data-testid=list-row] .title-cell").all_inner_texts()]


def open_list(page: Any, server: LiveServer, pid: str) -> None:
    page.goto(f"{server.url}/#/p/{pid}/list")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("list-row")).to_have_count(len(ROWS))


def test_list_sorts_by_any_column(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    page = person(browser, server, "Ana")
    open_list(page, server, pid)
    # Board order first (rank), as the tasks were made.
    assert titles(page) == [r[0] for r in ROWS]
    page.get_by_test_id("sort-title").click()
    assert titles(page) == sorted(r[0] for r in ROWS)
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Title ↑")
    page.get_by_test_id("sort-title").click()
    assert titles(page) == sorted((r[0] for r in ROWS), reverse=True)
    page.get_by_test_id("sort-points").click()
    assert titles(page) == [r[0] for r in sorted(ROWS, key=lambda r: r[3])]
    page.get_by_test_id("sort-priority").click()
    assert titles(page)[0] == "Fix the flaky upload"  # urgent first
    assert titles(page)[-1] == "Release 1.0 notes"
    # The third click on a column goes back to board order.
    page.get_by_test_id("sort-priority").click()
    page.get_by_test_id("sort-priority").click()
    assert titles(page) == [r[0] for r in ROWS]
    # The board's filters apply to the list too.
    page.get_by_label("Filter by text").fill("the")  # "theme" too
    expect(page.get_by_test_id("list-row")).to_have_count(4)
    page.get_by_label("Filter by text").fill("flaky")
    expect(page.get_by_test_id("list-row")).to_have_count(1)


def test_bulk_edit_is_live_for_others_and_one_undo(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    ana = person(browser, server, "Ana")
    ben = person(browser, server, "Ben")
    open_list(ana, server, pid)
    ben.goto(f"{server.url}/#/p/{pid}")
    expect(ben.get_by_test_id("card")).to_have_count(len(ROWS))

    rows = ana.get_by_test_id("list-row")
    # A click selects one row, Shift-click a range, Ctrl-click adds or removes one.
    rows.nth(0).locator("td.key").click()
    rows.nth(2).locator("td.key").click(modifiers=["Shift"])
    expect(ana.get_by_test_id("bulk-count")).to_have_text("3 selected")
    rows.nth(1).locator("td.key").click(modifiers=["Control"])
    expect(ana.get_by_test_id("bulk-count")).to_have_text("2 selected")
    rows.nth(3).locator("td.key").click(modifiers=["Control"])
    expect(ana.get_by_test_id("bulk-count")).to_have_text("3 selected")
    # x toggles the row the keyboard is on; j moves down.
    rows.nth(3).locator(".title-cell a").focus()
    ana.keyboard.press("j")
    ana.keyboard.press("x")
    expect(ana.get_by_test_id("bulk-count")).to_have_text("4 selected")
    ana.keyboard.press("x")
    expect(ana.get_by_test_id("bulk-count")).to_have_text("3 selected")
    expect(ana.locator("[data-testid=list-row][aria-selected=true]")).to_have_count(3)

    chosen = [ROWS[0][0], ROWS[2][0], ROWS[3][0]]
    ana.get_by_label("Set status").select_option(label="In review")
    ana.get_by_label("Set priority").select_option(label="Urgent")
    ana.get_by_label("Add label").select_option(label="docs")
    # Ben sees all three in In review at once, with the label and priority.
    review = ben.get_by_test_id("column-4")
    for title in chosen:
        card = review.get_by_test_id("card").filter(has_text=title)
        expect(card).to_be_visible()
        expect(card.locator(".label", has_text="docs")).to_be_visible()
    expect(review.get_by_test_id("card")).to_have_count(3)
    tasks = server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]
    by_title = {t["title"]: t for t in tasks}
    for title in chosen:
        assert by_title[title]["status"] == "TASK_STATUS_IN_REVIEW"
        assert by_title[title]["priority"] == "TASK_PRIORITY_URGENT"
        assert "docs" in by_title[title]["labels"]
    shoot(ana, "list-bulk-bar")

    # One undo takes back the last bulk change (the label) on all three; the next, the priority.
    ana.keyboard.press("z")
    for title in chosen:
        card = ben.get_by_test_id("card").filter(has_text=title)
        expect(card.locator(".label", has_text="docs")).to_have_count(0)
    ana.keyboard.press("z")
    ana.keyboard.press("z")
    for title, col in ((ROWS[0][0], 2), (ROWS[2][0], 3), (ROWS[3][0], 1)):
        expect(ben.get_by_test_id(f"column-{col}").get_by_text(title)).to_be_visible()
    tasks = {t["title"]: t for t in server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]}
    for title, was, labels, _points, priority in ROWS:
        assert tasks[title]["status"] == was
        assert tasks[title]["priority"] == priority
        assert tasks[title].get("labels", []) == labels


def test_bulk_delete_goes_for_everyone_and_undo_brings_it_back(
    server: LiveServer, browser: Any
) -> None:
    pid = seed(server)["id"]
    ana = person(browser, server, "Ana")
    ben = person(browser, server, "Ben")
    open_list(ana, server, pid)
    ben.goto(f"{server.url}/#/p/{pid}/list")
    expect(ben.get_by_test_id("list-row")).to_have_count(len(ROWS))
    ana.get_by_label("Select WEB-1").check()
    ana.get_by_label("Select WEB-2").check()
    ana.get_by_test_id("bulk-delete").click()
    expect(ana.get_by_test_id("list-row")).to_have_count(3)
    expect(ana.get_by_test_id("notice").filter(has_text="Deleted 2 tasks")).to_be_visible()
    # Undo within the notice's window: nothing was sent, both are back.
    ana.get_by_role("button", name="Undo").click()
    expect(ana.get_by_test_id("list-row")).to_have_count(5)
    # Deleted for good once the window closes.
    ana.get_by_label("Select every task shown").check()
    expect(ana.get_by_test_id("bulk-count")).to_have_text("5 selected")
    ana.get_by_label("Select every task shown").uncheck()
    ana.get_by_label("Select WEB-1").check()
    ana.get_by_label("Select WEB-2").check()
    ana.get_by_test_id("bulk-delete").click()
    expect(ben.get_by_test_id("list-row")).to_have_count(3, timeout=20_000)
    expect(ana.get_by_test_id("connection")).not_to_contain_text("unsent")
    left = {t["key"] for t in server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]}
    assert left == {"WEB-3", "WEB-4", "WEB-5"}


def _sent_commands(page: Any) -> list[str]:
    """The payload of every frame the page sends over its WebSockets, as it goes."""
    sent: list[str] = []

    def watch(ws: Any) -> None:
        def frame(payload: Any) -> None:
            if isinstance(payload, bytes):
                kind = websocket_pb2.WebSocketMessage.FromString(payload).WhichOneof("payload")
                sent.append(kind or "")

        ws.on("framesent", frame)

    page.on("websocket", watch)
    return sent


def test_one_undo_restores_a_whole_bulk_delete_in_one_command_and_redo_deletes_again(
    server: LiveServer, browser: Any
) -> None:
    pid = seed(server)["id"]
    ana = person(browser, server, "Ana")
    sent = _sent_commands(ana)
    ben = person(browser, server, "Ben")
    open_list(ana, server, pid)
    ben.goto(f"{server.url}/#/p/{pid}/list")
    expect(ben.get_by_test_id("list-row")).to_have_count(len(ROWS))
    for key in ("WEB-1", "WEB-2", "WEB-3"):
        ana.get_by_label(f"Select {key}").check()
    ana.get_by_test_id("bulk-delete").click()
    expect(ben.get_by_test_id("list-row")).to_have_count(2, timeout=20_000)
    expect(ana.get_by_test_id("connection")).not_to_contain_text("unsent")
    assert len(server.api("GET", f"/api/v1/projects/{pid}/trash")["tasks"]) == 3
    # The keys are the board's, not a field's.
    ana.locator("body").click(position={"x": 5, "y": 700})
    del sent[:]

    # One undo step, one command: all three come back for everyone.
    ana.keyboard.press("Control+z")
    expect(ana.get_by_test_id("notice").filter(has_text="Undid deleting 3 tasks")).to_be_visible()
    expect(ben.get_by_test_id("list-row")).to_have_count(len(ROWS), timeout=20_000)
    expect(ana.get_by_test_id("list-row")).to_have_count(len(ROWS))
    expect(ana.get_by_test_id("connection")).not_to_contain_text("unsent")
    mutations = [k for k in sent if k in COMMAND_TABLE and COMMAND_TABLE[k].mutates]
    assert mutations == ["restore_tasks"], sent
    assert server.api("GET", f"/api/v1/projects/{pid}/trash").get("tasks", []) == []

    # Redo deletes the same three again, as one change.
    del sent[:]
    ana.keyboard.press("Control+Shift+z")
    expect(ben.get_by_test_id("list-row")).to_have_count(2, timeout=20_000)
    expect(ana.get_by_test_id("connection")).not_to_contain_text("unsent")
    mutations = [k for k in sent if k in COMMAND_TABLE and COMMAND_TABLE[k].mutates]
    assert mutations == ["bulk_edit_tasks"], sent
    left = {t["key"] for t in server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]}
    assert left == {"WEB-4", "WEB-5"}


def test_list_screens_and_axe(server: LiveServer, browser: Any) -> None:
    pid = seed(server)["id"]
    page = person(browser, server, "Ana", bypass_csp=True)
    open_list(page, server, pid)
    shoot(page, "list-view")
    axe_clean(page, "list view")
    page.get_by_label("Select WEB-1").check()
    page.get_by_label("Select WEB-3").check()
    expect(page.get_by_test_id("bulk-bar")).to_be_visible()
    axe_clean(page, "list view with the bulk bar")
    shoot(page, "list-selected")


# Cells that hold a short value of their own: none of them may be cut off.
WHOLE_CELLS = ("key", "status", "priority", "points", "due", "updated")
# What a narrow list always shows.
ALWAYS = ("key", "title", "status")

# Each shown column's cell in the first row: [column, width, width of its content].
CELLS = """() => {
  const names = [...document.querySelectorAll('[data-testid^=sort-]')]
    .map(b => b.dataset.testid.slice(5));
  const row = document.querySelector('[data-testid=list-row]');
  const cells = [...row.children].slice(1);
  const list = document.querySelector('[data-testid=list]');
  return { cells: names.map((n, i) => [n, cells[i].clientWidth, cells[i].scrollWidth]),
           overflow: list.scrollWidth - list.clientWidth,
           rem: parseFloat(getComputedStyle(document.documentElement).fontSize) };
}"""


def shown_columns(page: Any) -> list[str]:
    return [
        str(t).removeprefix("sort-")
        for t in page.locator("[data-testid^=sort-]").evaluate_all(
            "(els) => els.map((e) => e.dataset.testid)"
        )
    ]


def assert_title_has_room(page: Any) -> dict[str, tuple[int, int]]:
    got = page.evaluate(CELLS)
    widths = {name: (width, content) for name, width, content in got["cells"]}
    # About 40 characters of title at least (TITLE_MIN_REM), and no sideways scrolling.
    assert widths["title"][0] >= 18 * got["rem"], widths
    assert got["overflow"] <= 0, got
    return widths


def test_the_title_keeps_room_for_a_sentence_as_the_list_narrows(
    server: LiveServer, browser: Any
) -> None:
    title = "Design the new landing page hero and the pricing table for the launch"
    made = server.make_project(
        [
            {
                "title": title,
                "status": "TASK_STATUS_IN_PROGRESS",
                "labels": ["design"],
                "storyPoints": 13,
                "priority": "TASK_PRIORITY_MEDIUM",
                "dueDate": "2030-12-18",
            }
        ],
        key="WEBSITE",
    )
    page = person(browser, server, "Ana")
    page.set_viewport_size({"width": 1800, "height": 800})
    page.goto(f"{server.url}/#/p/{made['id']}/list")
    expect(page.get_by_test_id("list-row")).to_have_count(1)
    every = shown_columns(page)
    headers = page.locator("[data-testid^=sort-]")

    # A 1280-pixel window: every column, each short value whole, the title given the rest.
    page.set_viewport_size({"width": 1280, "height": 800})
    assert shown_columns(page) == every
    widths = assert_title_has_room(page)
    for name in WHOLE_CELLS:
        width, content = widths[name]
        assert content <= width, (name, widths)

    # A narrower window hides some columns before the title shrinks, never these.
    page.set_viewport_size({"width": 900, "height": 800})
    expect(headers).not_to_have_count(len(every))
    shown = shown_columns(page)
    assert set(ALWAYS) <= set(shown)
    assert shown == [c for c in every if c in shown]  # in their order
    assert_title_has_room(page)

    # So does the task panel opened beside a wide list; closing it brings them back.
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(headers).to_have_count(len(every))
    page.get_by_role("link", name=title).click()
    expect(headers).not_to_have_count(len(every))
    assert_title_has_room(page)
    page.keyboard.press("Escape")
    expect(headers).to_have_count(len(every))
