"""A long column in real Chromium: only the cards in view are in the page, the rest come as it
scrolls, and the keyboard, counts, drag and drop and live changes still see every task."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person

pytestmark = pytest.mark.e2e

MANY = 240


def test_a_long_column_draws_what_is_in_view(server: LiveServer, browser: Any) -> None:
    tasks = [{"title": f"Long task {i}", "status": "TASK_STATUS_TODO"} for i in range(MANY)]
    tasks.append({"title": "Alone in progress", "status": "TASK_STATUS_IN_PROGRESS"})
    pid = server.make_project(tasks)["id"]
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{pid}")
    todo = page.get_by_test_id("column-2")
    expect(todo.get_by_test_id("count")).to_have_text(str(MANY))
    expect(todo.get_by_test_id("card").first).to_contain_text("Long task 0")
    drawn = todo.get_by_test_id("card").count()
    assert 0 < drawn < MANY / 3, drawn
    # Scrolled to the end, the last cards are drawn (and the first ones no longer).
    todo.locator(".cards").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(todo.get_by_text(f"Long task {MANY - 1}", exact=True)).to_be_visible()
    expect(todo.get_by_text("Long task 0", exact=True)).to_have_count(0)
    # Someone else's change to a card out of view shows when it is scrolled to.
    first = next(
        t
        for t in server.api("GET", f"/api/v1/projects/{pid}/tasks?pageSize=1")["tasks"]
        if t["title"] == "Long task 0"
    )
    server.api(
        "PATCH",
        f"/api/v1/tasks/{first['id']}",
        {"task": {"title": "Renamed far away"}, "updateMask": "title", "baseVersion": 0},
    )
    todo.locator(".cards").evaluate("el => { el.scrollTop = 0; }")
    expect(todo.get_by_text("Renamed far away")).to_be_visible()
    # j/k walk every card: the selection scrolls its card into view.
    todo.get_by_test_id("card").first.click()
    page.keyboard.press("Escape")
    # One press at a time, each waiting for its card: sixty presses sent at once lost a
    # few in one run (56 of 60) while the column redrew.
    for n in range(1, 61):
        page.keyboard.press("j")
        expect(todo.locator(".card.selected")).to_contain_text(re.compile(rf"Long task {n}(?!\d)"))
    expect(todo.locator(".card.selected")).to_contain_text("Long task 60")
    # A drop lands where it is dropped, even below the cards drawn first.
    alone = page.get_by_test_id("column-3").get_by_test_id("card")
    target = todo.get_by_test_id("card").filter(has_text="Long task 60")
    alone.drag_to(target, target_position={"x": 20, "y": 2})
    expect(page.get_by_test_id("column-3").get_by_test_id("card")).to_have_count(0)
    expect(todo.get_by_test_id("count")).to_have_text(str(MANY + 1))
    order = [
        t["title"]
        for t in sorted(
            server.api("GET", f"/api/v1/projects/{pid}/tasks?status=todo&pageSize=1000")["tasks"],
            key=lambda t: t["rank"],
        )
    ]
    at = order.index("Alone in progress")
    assert order[at + 1] == "Long task 60", order[at - 2 : at + 3]
