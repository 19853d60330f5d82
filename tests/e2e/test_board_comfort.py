"""Keyboard and comfort in real Chromium against a real server: the command palette, the
shortcuts (new task, j/k selection, status, assignee, undo), a narrow window, the projects list
following others' changes, and REST edits credited to the person while polling."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS, LiveServer, hold_frames, person, release_frames, shoot

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> dict[str, Any]:
    rows = [
        ("Dark theme", "TASK_STATUS_BACKLOG", 8),
        ("Design the login page", "TASK_STATUS_TODO", 3),
        ("Write the API docs", "TASK_STATUS_TODO", 2),
        ("Fix the flaky upload", "TASK_STATUS_IN_PROGRESS", 5),
    ]
    return server.make_project(
        [
            {"title": title, "status": status, "storyPoints": points, "labels": ["web"]}
            for title, status, points in rows
        ]
    )


def task_named(server: LiveServer, project_id: str, title: str) -> dict[str, Any]:
    tasks = server.api("GET", f"/api/v1/projects/{project_id}/tasks")["tasks"]
    found: dict[str, Any] = next(t for t in tasks if t["title"] == title)
    return found


def settled(page: Any) -> None:
    page.wait_for_function("() => tandem.store.outbox.size === 0")


def test_command_palette_opens_filters_and_runs(server: LiveServer, browser: Any) -> None:
    project = seed(server)
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{project['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    palette = page.get_by_role("dialog", name="Command palette")
    page.keyboard.press("Control+k")
    expect(palette).to_be_visible()
    page.keyboard.type("flaky")
    expect(palette.get_by_role("listitem")).to_have_count(1)
    expect(palette.get_by_role("listitem")).to_contain_text("Fix the flaky upload")
    page.keyboard.press("Enter")
    expect(palette).to_have_count(0)
    expect(page.get_by_label("Title")).to_have_value("Fix the flaky upload")
    assert "/t/" in page.url
    # Several words narrow it down; arrows choose; Escape closes without running anything.
    page.keyboard.press("Escape")
    page.keyboard.press("Control+k")
    page.keyboard.type("go to")
    expect(palette.get_by_role("listitem")).to_have_text(
        [
            re.compile("Go to board"),
            re.compile("Go to list"),
            re.compile("Go to sprints"),
            re.compile("Go to archive"),
            re.compile("Go to trash"),
        ]
    )
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("sprints-view")).to_be_visible()
    page.keyboard.press("Control+k")
    page.keyboard.type("open website")
    page.keyboard.press("Escape")
    expect(palette).to_have_count(0)
    expect(page.get_by_test_id("sprints-view")).to_be_visible()


def test_keyboard_shortcuts_and_undo_of_ones_own_last_change(
    server: LiveServer, browser: Any
) -> None:
    project = seed(server)
    pid = project["id"]
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("card")).to_have_count(4)

    # n: a new task at the top of To do.
    page.keyboard.press("n")
    page.get_by_label("New task title").fill("Made with the keyboard")
    page.get_by_label("New task title").press("Enter")
    page.get_by_label("New task title").press("Escape")
    todo = page.get_by_test_id("column-2")
    expect(todo.get_by_test_id("card").first).to_contain_text("Made with the keyboard")
    settled(page)
    made = task_named(server, pid, "Made with the keyboard")
    assert made["status"] == "TASK_STATUS_TODO"

    # j/k: move the selection through the cards in board order.
    selected = page.locator(".card.selected")
    page.keyboard.press("j")
    expect(selected).to_contain_text("Dark theme")
    page.keyboard.press("j")
    expect(selected).to_contain_text("Made with the keyboard")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(selected).to_contain_text("Made with the keyboard")

    # s: the next status; a: assign to me (and back).
    page.keyboard.press("s")
    expect(page.get_by_test_id("column-3").locator(".card.selected")).to_contain_text(
        "Made with the keyboard"
    )
    settled(page)
    assert task_named(server, pid, "Made with the keyboard")["status"] == (
        "TASK_STATUS_IN_PROGRESS"
    )
    page.keyboard.press("a")
    me = page.evaluate("() => tandem.store.me.id")
    expect(selected.locator(".avatar[title='Ana']")).to_have_count(1)
    settled(page)
    assert task_named(server, pid, "Made with the keyboard").get("assigneeId") == me

    # z: undo my last change (the assignment), then the one before (the status).
    page.keyboard.press("z")
    expect(selected.locator(".avatar[title='Ana']")).to_have_count(0)
    settled(page)
    assert not task_named(server, pid, "Made with the keyboard").get("assigneeId")
    page.keyboard.press("z")
    expect(todo.get_by_test_id("card").filter(has_text="Made with the keyboard")).to_have_count(1)
    settled(page)
    assert task_named(server, pid, "Made with the keyboard")["status"] == "TASK_STATUS_TODO"

    # Undo is one's own: someone else's later change is not undone by my z.
    other = task_named(server, pid, "Write the API docs")
    server.api(
        "PATCH",
        f"/api/v1/tasks/{other['id']}",
        {"baseVersion": other["version"], "updateMask": "title", "task": {"title": "Theirs"}},
    )
    expect(page.get_by_test_id("card").filter(has_text="Theirs")).to_have_count(1)
    page.keyboard.press("z")  # undoes my keyboard-made task: it is deleted
    expect(page.get_by_test_id("card").filter(has_text="Made with the keyboard")).to_have_count(0)
    settled(page)
    titles = [t["title"] for t in server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]]
    assert "Theirs" in titles and "Made with the keyboard" not in titles


def test_narrow_window_board_is_usable(server: LiveServer, browser: Any) -> None:
    project = seed(server)
    pid = project["id"]
    page = person(browser, server, "Ana")
    page.set_viewport_size({"width": 420, "height": 800})
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("card")).to_have_count(4)
    # Nothing spills sideways: the page is no wider than the window.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 420
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shoot(page, "narrow-board")
    # Quick add and the task panel work at this width.
    page.get_by_test_id("column-2").get_by_role("button", name="Add a task to To do").click()
    page.get_by_label("New task title").fill("Added on a phone-sized window")
    page.get_by_label("New task title").press("Enter")
    card = page.get_by_test_id("card").filter(has_text="Added on a phone-sized window")
    expect(card).to_have_count(1)
    card.click()
    title = page.get_by_label("Title")
    expect(title).to_be_visible()
    box = title.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 420
    page.get_by_label("Status").select_option(label="Done")
    settled(page)
    assert task_named(server, pid, "Added on a phone-sized window")["status"] == "TASK_STATUS_DONE"
    shoot(page, "narrow-task")
    page.get_by_role("button", name="Close").first.click()
    page.get_by_role("link", name="Sprints").click()
    expect(page.get_by_test_id("sprints-view")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 420
    shoot(page, "narrow-sprints")


def test_projects_list_follows_others_changes(server: LiveServer, browser: Any) -> None:
    server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    page = person(browser, server, "Ana")
    page.goto(server.url + "/")
    rows = page.get_by_test_id("project")
    expect(rows).to_have_count(1)
    made = server.api("POST", "/api/v1/projects", {"name": "Mobile", "key": "MOB"})
    expect(rows).to_have_count(2)
    server.api(
        "PATCH",
        f"/api/v1/projects/{made['id']}",
        {"baseVersion": made["version"], "updateMask": "name", "project": {"name": "Mobile app"}},
    )
    expect(rows.filter(has_text="Mobile app")).to_have_count(1)
    server.api("DELETE", f"/api/v1/projects/{made['id']}")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Website")


def test_edits_while_polling_are_credited_to_the_person(server: LiveServer, browser: Any) -> None:
    project = seed(server)
    pid = project["id"]
    page = person(browser, server, "Ana Núñez")
    page.route_web_socket("**/ws", lambda ws: ws.close())
    page.goto(f"{server.url}/#/p/{pid}")
    expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "polling", timeout=20_000
    )
    page.get_by_test_id("card").filter(has_text="Dark theme").click()
    page.get_by_label("Title").fill("Dark theme, polled")
    page.get_by_label("Title").press("Enter")
    settled(page)
    events = server.api("GET", f"/api/v1/projects/{pid}/events?since=0")["events"]
    actor = events[-1]["taskUpdated"]["actorId"]
    members = {m["id"]: m for m in server.api("GET", "/api/v1/members")["members"]}
    assert members[actor]["displayName"] == "Ana Núñez"
    assert members[actor]["displayName"] != "Owner"
    expect(page.get_by_test_id("activity")).to_contain_text("Ana Núñez changed title")


def test_a_card_opened_and_closed_before_the_next_frame_keeps_the_keyboard_selection(
    server: LiveServer, browser: Any
) -> None:
    """Open a card, then Esc and j at once, before the page's next frame: j's selection stays.
    (Opening the card chose its selection in an effect run after the frame, or at the next
    redraw, which came after j and took its selection back.)"""
    project = seed(server)
    page = person(browser, server, "Ana")
    hold_frames(page)
    page.goto(f"{server.url}/#/p/{project['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    page.evaluate("window.frames_.held = true")
    selected = page.evaluate(
        """async () => {
            const hash = () => new Promise((r) => addEventListener("hashchange", r, { once: 1 }));
            const key = (k) => document.dispatchEvent(new KeyboardEvent("keydown", { key: k }));
            const card = [...document.querySelectorAll(".card")]
                .find((c) => c.textContent.includes("Design the login page"));
            let moved = hash();
            card.click();
            await moved;
            await Promise.resolve();
            moved = hash();
            key("Escape");
            key("j");
            await moved;
            await new Promise((r) => setTimeout(r, 100));
            return document.querySelector(".card.selected")?.textContent ?? "";
        }"""
    )
    assert "Write the API docs" in selected
    release_frames(page)
    expect(page.locator(".card.selected")).to_contain_text("Write the API docs")
