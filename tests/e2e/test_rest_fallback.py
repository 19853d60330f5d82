"""The REST fallback in real Chromium against a real server: with the WebSocket blocked, the
page's commands go through the REST calls the command table declares (a comment's body is the
whole AddComment command, keeping the id the page gave it; a move; a delete answered 204)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person

pytestmark = pytest.mark.e2e


def test_comment_move_and_delete_go_through_rest_when_the_websocket_is_blocked(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project(
        [
            {"title": "Rotate the keys", "status": "TASK_STATUS_TODO"},
            {"title": "Renew the certificate", "status": "TASK_STATUS_TODO"},
        ]
    )
    tasks = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    keys, cert = tasks[0], tasks[1]
    page = person(browser, server, "Ana")
    page.route_web_socket("**/ws", lambda ws: ws.close())
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{server.url}/#/p/{project['id']}/t/{keys['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "polling", timeout=20_000
    )
    panel = page.get_by_test_id("task-panel")

    box = panel.get_by_label("New comment")
    box.fill("Sent over REST")
    box.press("Control+Enter")
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    stored = server.api("GET", f"/api/v1/tasks/{keys['id']}/comments").get("comments", [])
    assert [c["body"] for c in stored] == ["Sent over REST"]
    # The id the page made is the one stored: the pending comment and the saved one are one.
    assert page.evaluate("() => [...tandem.store.comments.keys()]") == [stored[0]["id"]]
    expect(panel.get_by_test_id("comment")).to_have_count(1)

    panel.get_by_label("Status").select_option(label="Done")
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    after = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    assert {t["id"]: t["status"] for t in after}[keys["id"]] == "TASK_STATUS_DONE"

    page.goto(f"{server.url}/#/p/{project['id']}/t/{cert['id']}")
    page.get_by_test_id("task-panel").get_by_label("Delete task").click()
    # The delete is sent once its undo window closes.
    deadline = time.monotonic() + 30
    left = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    while len(left) > 1 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        left = server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    assert [t["id"] for t in left] == [keys["id"]]
    expect(page.get_by_test_id("card")).to_have_count(1)
    expect(page.get_by_test_id("notice").filter(has_text="Couldn't")).to_have_count(0)
