"""The board when things go wrong: the server restarts under an open page, the WebSocket is
blocked, and two people edit the same field at once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from playwright.sync_api import expect
from tandem.v1 import commands_pb2

from server.config import ServerConfig
from server.domain.service import open_domain
from tests.e2e.conftest import LiveServer, person, shoot

pytestmark = pytest.mark.e2e


def seed(server: LiveServer) -> tuple[dict[str, Any], dict[str, Any]]:
    project: dict[str, Any] = server.api("POST", "/api/v1/projects", {"name": "Ops", "key": "OPS"})
    task: dict[str, Any] = server.api(
        "POST",
        f"/api/v1/projects/{project['id']}/tasks",
        {"title": "Rotate the keys", "status": "TASK_STATUS_TODO"},
    )
    return project, task


def rename_offline(server: LiveServer, task_id: str, title: str) -> None:
    """Someone else's change, written while the server is down (straight into the database)."""

    async def change() -> None:
        domain = open_domain(ServerConfig(data_dir=server.data_dir))
        try:
            current = await domain.read(domain.get_task, task_id)
            cmd = commands_pb2.UpdateTask(task_id=task_id, base_version=current.version)
            cmd.update_mask.paths.append("title")
            cmd.task.title = title
            await domain.command(domain.owner_actor(), cmd)
        finally:
            domain.close()

    # Playwright's sync API owns this thread's event loop; the domain gets a thread of its own.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(change())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    if errors:
        raise errors[0]


def title_of(server: LiveServer, task_id: str) -> str:
    return str(server.api("GET", f"/api/v1/tasks/{task_id}")["title"])


def edit_title_while_the_server_is_down(server: LiveServer, browser: Any, title: str) -> Any:
    """Ana opens the task, the server goes down, she renames it: the edit waits in the outbox."""
    project, task = seed(server)
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{project['id']}/t/{task['id']}")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "live")
    expect(page.get_by_label("Title")).to_have_value("Rotate the keys")
    server.stop()
    expect(indicator).not_to_have_attribute("data-state", "live")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Title").press("Enter")
    return page, task


def test_server_restart_page_reconnects_and_saves_the_edit_made_meanwhile(
    server: LiveServer, browser: Any
) -> None:
    page, task = edit_title_while_the_server_is_down(server, browser, "Rotate the keys today")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_contain_text("1 unsent")
    server.start()
    expect(indicator).to_have_attribute("data-state", "live", timeout=30_000)
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    assert title_of(server, task["id"]) == "Rotate the keys today"
    page.reload()
    expect(page.get_by_label("Title")).to_have_value("Rotate the keys today")


def test_edit_made_offline_survives_a_reload(server: LiveServer, browser: Any) -> None:
    project, task = seed(server)
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{project['id']}/t/{task['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_label("Title")).to_have_value("Rotate the keys")
    server.stop()
    expect(page.get_by_test_id("connection")).not_to_have_attribute("data-state", "live")
    page.get_by_label("Title").fill("Kept in the outbox")
    page.get_by_label("Title").press("Enter")
    server.start()
    page.reload()
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    assert title_of(server, task["id"]) == "Kept in the outbox"


def test_websocket_blocked_falls_back_to_rest_and_polling(server: LiveServer, browser: Any) -> None:
    project, task = seed(server)
    page = person(browser, server, "Ana")
    page.route_web_socket("**/ws", lambda ws: ws.close())
    page.goto(f"{server.url}/#/p/{project['id']}")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "polling", timeout=20_000)
    expect(indicator).to_contain_text("polling")
    expect(page.get_by_test_id("card")).to_have_count(1)
    # Someone else's change reaches the page through the long poll.
    server.api(
        "POST",
        f"/api/v1/projects/{project['id']}/tasks",
        {"title": "Made over REST", "status": "TASK_STATUS_TODO"},
    )
    expect(page.get_by_test_id("card").filter(has_text="Made over REST")).to_have_count(1)
    # The page's own edits go through REST.
    page.get_by_test_id("card").filter(has_text="Rotate the keys").click()
    page.get_by_label("Title").fill("Saved through REST")
    page.get_by_label("Title").press("Enter")
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    assert title_of(server, task["id"]) == "Saved through REST"


def test_conflicting_edit_shows_the_dialog_and_keep_mine_wins(
    server: LiveServer, browser: Any
) -> None:
    page, task = edit_title_while_the_server_is_down(server, browser, "Mine: rotate weekly")
    rename_offline(server, task["id"], "Theirs: rotate monthly")
    server.start()
    dialog = page.get_by_test_id("conflict")
    expect(dialog).to_be_visible(timeout=30_000)
    expect(dialog.get_by_test_id("theirs")).to_have_text("Theirs: rotate monthly")
    expect(dialog.get_by_test_id("mine")).to_have_text("Mine: rotate weekly")
    shoot(page, "conflict-dialog")
    dialog.get_by_role("button", name="Keep mine").click()
    expect(dialog).to_have_count(0)
    page.wait_for_function("() => tandem.store.outbox.size === 0")
    assert title_of(server, task["id"]) == "Mine: rotate weekly"


def test_conflict_take_theirs_keeps_the_saved_value(server: LiveServer, browser: Any) -> None:
    page, task = edit_title_while_the_server_is_down(server, browser, "Mine")
    rename_offline(server, task["id"], "Theirs")
    server.start()
    page.get_by_test_id("conflict").get_by_role("button", name="Take theirs").click(timeout=30_000)
    expect(page.get_by_label("Title")).to_have_value("Theirs")
    assert title_of(server, task["id"]) == "Theirs"
