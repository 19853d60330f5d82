"""A reload while the server is down, in real Chromium: the service worker's copy of the app shell
opens the app (not the browser's error page), which says the server cannot be reached and how
many changes it keeps; once the server is back they are sent and the board shows."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def test_a_reload_while_the_server_is_down_opens_the_app_with_its_outbox(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project([{"title": "Already there", "status": "TASK_STATUS_TODO"}])
    page = person(browser, server, "Ana", bypass_csp=True)
    page.goto(f"{server.url}/#/p/{project['id']}")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "live")
    # The worker keeps the shell once it controls the page.
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)

    server.stop()
    expect(indicator).not_to_have_attribute("data-state", "live")
    page.get_by_role("button", name="Add a task to Backlog").click()
    page.get_by_label("New task title").fill("Written offline")
    page.get_by_label("New task title").press("Enter")
    expect(indicator).to_contain_text("1 unsent")

    page.reload()
    expect(page.get_by_role("link", name=re.compile("Tandem"))).to_be_visible()
    expect(indicator).to_contain_text("1 unsent", timeout=20_000)
    waiting = page.get_by_test_id("board-unreachable")
    expect(waiting).to_contain_text("Can't reach Tandem")
    expect(waiting).to_contain_text("1 change made here is kept in this browser")
    shoot(page, "offline-reload")
    axe_clean(page, "offline reload")

    server.start()
    expect(indicator).to_have_attribute("data-state", "live", timeout=30_000)
    expect(page.get_by_test_id("card").filter(has_text="Written offline")).to_have_count(1)
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    titles = [
        t["title"] for t in server.api("GET", f"/api/v1/projects/{project['id']}/tasks")["tasks"]
    ]
    assert "Written offline" in titles
