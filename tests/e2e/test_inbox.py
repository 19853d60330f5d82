"""Mentions and the inbox in real Chromium, two people at once: Alice mentions Bob with the
completion popup (keyboard only), Bob's badge and inbox update live, he opens the item and marks
the rest read; watching and unwatching decide what reaches him; axe-clean, screenshots."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> tuple[str, dict[str, Any]]:
    project = server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    pid = project["id"]
    tasks = {}
    for title in ("Design the login page", "Write the API docs"):
        tasks[title] = server.api("POST", f"/api/v1/projects/{pid}/tasks", {"title": title})
    return pid, tasks


def live(page: Any, url: str) -> None:
    page.goto(url)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")


def badge(page: Any) -> Any:
    return page.get_by_test_id("inbox-badge")


def test_alice_mentions_bob_and_his_inbox_updates_live(server: LiveServer, browser: Any) -> None:
    pid, tasks = seed(server)
    login = tasks["Design the login page"]
    bob = person(browser, server, "Bob Stone", bypass_csp=True)
    live(bob, f"{server.url}/#/p/{pid}")
    expect(bob.get_by_test_id("inbox-button")).to_have_attribute("aria-label", "Inbox")
    bonnie = person(browser, server, "Bonnie")
    live(bonnie, f"{server.url}/#/p/{pid}")
    alice = person(browser, server, "Alice", bypass_csp=True)
    live(alice, f"{server.url}/#/p/{pid}/t/{login['id']}")

    # Completion: "@bo" offers Bob and Bonnie; the arrow keys choose (round the list), Enter
    # inserts.
    box = alice.get_by_label("New comment")
    box.click()
    box.type("Could you check this, @bo")
    options = alice.get_by_test_id("mention-list").get_by_role("option")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text("Bob Stone")
    expect(options.nth(1)).to_contain_text("Bonnie")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id") or "")
    axe_clean(alice, "mention completion")
    shoot(alice, "mention-completion")
    box.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    expect(alice.get_by_test_id("mention-list")).to_have_count(0)
    expect(box).to_have_value("Could you check this, @BobStone ")
    box.type("please?")
    # Escape closes the list without leaving the box or cancelling the draft.
    box.type(" @b")
    expect(alice.get_by_test_id("mention-list")).to_be_visible()
    box.press("Escape")
    expect(alice.get_by_test_id("mention-list")).to_have_count(0)
    expect(box).to_be_focused()
    box.press("Backspace")
    box.press("Backspace")
    box.press("Backspace")
    box.press("Control+Enter")
    expect(alice.get_by_test_id("comment")).to_have_count(1)

    # Bob, on the board and never reloaded: the badge, then the item.
    expect(badge(bob)).to_have_text("1")
    expect(bob.get_by_test_id("inbox-button")).to_have_attribute("aria-label", "Inbox, 1 unread")
    expect(badge(alice)).to_have_count(0)  # her own comment is no news to her
    expect(badge(bonnie)).to_have_count(0)  # offered, not chosen
    bob.get_by_test_id("inbox-button").click()
    inbox = bob.get_by_test_id("inbox")
    item = inbox.get_by_test_id("inbox-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Alice mentioned you")
    expect(item).to_contain_text("WEB-1 Design the login page")
    expect(item).to_contain_text("Could you check this, @BobStone please?")
    expect(item).to_have_class("inbox-item unread")

    # Alice assigns him the other task while his inbox is open: it arrives in place.
    docs = tasks["Write the API docs"]
    live(alice, f"{server.url}/#/p/{pid}/t/{docs['id']}")
    alice.get_by_test_id("task-panel").get_by_label("Assignee").select_option(label="Bob Stone")
    expect(item).to_have_count(2)
    expect(item.first).to_contain_text("Alice assigned you")
    expect(badge(bob)).to_have_text("2")
    axe_clean(bob, "inbox")
    shoot(bob, "inbox")

    # Opening an item opens its task and reads it; "Mark all read" reads the rest.
    item.nth(1).get_by_role("button", name="Design the login page").click()
    expect(bob.get_by_test_id("task-panel").get_by_label("Title")).to_have_value(
        "Design the login page"
    )
    expect(badge(bob)).to_have_text("1")
    bob.get_by_test_id("inbox-button").click()
    bob.get_by_role("button", name="Mark all read").click()
    expect(badge(bob)).to_have_count(0)
    expect(inbox.locator(".inbox-item.unread")).to_have_count(0)
    # Read stays read after a reload (the server has it), and unread can be had again.
    bob.reload()
    expect(bob.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    bob.get_by_test_id("inbox-button").click()
    expect(bob.get_by_test_id("inbox-item")).to_have_count(2)
    expect(badge(bob)).to_have_count(0)
    bob.get_by_role("button", name="Mark unread WEB-2").click()
    expect(badge(bob)).to_have_text("1")
    bob.keyboard.press("Escape")
    expect(bob.get_by_test_id("inbox")).to_have_count(0)
    expect(bob.get_by_test_id("inbox-button")).to_be_focused()


def test_watching_decides_what_reaches_bob(server: LiveServer, browser: Any) -> None:
    pid, tasks = seed(server)
    login = tasks["Design the login page"]
    url = f"{server.url}/#/p/{pid}/t/{login['id']}"
    bob = person(browser, server, "Bob", bypass_csp=True)
    live(bob, url)
    alice = person(browser, server, "Alice", bypass_csp=True)
    live(alice, url)
    watch = bob.get_by_test_id("watch")
    expect(watch).to_have_attribute("aria-pressed", "false")
    watch.click()
    expect(watch).to_have_attribute("aria-pressed", "true")
    expect(watch).to_have_text("Watching1")
    # Alice sees him watching, live.
    expect(alice.get_by_test_id("watch-count")).to_have_text("1")
    shoot(bob, "task-watching")

    alice.get_by_test_id("task-panel").get_by_label("Status").select_option(label="In progress")
    expect(badge(bob)).to_have_text("1")
    bob.get_by_test_id("inbox-button").click()
    expect(bob.get_by_test_id("inbox-item").first).to_contain_text("Alice changed")
    expect(bob.get_by_test_id("inbox-item").first).to_contain_text("Status: In progress")
    bob.keyboard.press("Escape")

    watch.click()
    expect(watch).to_have_attribute("aria-pressed", "false")
    expect(alice.get_by_test_id("watch-count")).to_have_count(0)
    # Not watching: Alice's comment is not for him; her mention after it is, and is the only one.
    alice.get_by_label("New comment").fill("Started on it.")
    alice.get_by_label("New comment").press("Control+Enter")
    alice.get_by_label("New comment").fill("@Bob the copy is yours")
    alice.get_by_label("New comment").press("Control+Enter")
    expect(badge(bob)).to_have_text("2")
    bob.get_by_test_id("inbox-button").click()
    items = bob.get_by_test_id("inbox-item")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Alice mentioned you")
    expect(items.nth(1)).to_contain_text("Alice changed")


def test_due_today_and_tomorrow_show_in_the_inbox(server: LiveServer, browser: Any) -> None:
    pid, _ = seed(server)
    bob = person(browser, server, "Bob", bypass_csp=True)
    live(bob, f"{server.url}/#/p/{pid}")
    members = server.api("GET", "/api/v1/members")["members"]
    bob_id = next(m["id"] for m in members if m["displayName"] == "Bob")
    # The board's day is the server's (this machine's, as the browser's is).
    today = bob.evaluate("() => new Date().toLocaleDateString('en-CA')")
    tomorrow = bob.evaluate(
        "() => { const d = new Date(); d.setDate(d.getDate() + 1);"
        " return d.toLocaleDateString('en-CA') }"
    )
    for title, due in (("Renew the certificate", today), ("Send the invoices", tomorrow)):
        server.api(
            "POST",
            f"/api/v1/projects/{pid}/tasks",
            {"title": title, "assigneeId": bob_id, "dueDate": due},
        )
    # Each: the assignment and the due date (the owner's script assigned it).
    expect(badge(bob)).to_have_text("4")
    bob.get_by_test_id("inbox-button").click()
    items = bob.get_by_test_id("inbox-item")
    expect(items).to_have_count(4)
    expect(bob.locator(".due-today")).to_have_text("Due today")
    expect(items.filter(has_text="Due today")).to_contain_text("WEB-3 Renew the certificate")
    expect(items.filter(has_text="Due tomorrow")).to_contain_text("WEB-4 Send the invoices")
    axe_clean(bob, "inbox with due dates")
    shoot(bob, "inbox-due")
