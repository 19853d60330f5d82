"""A task's inbox items follow it to the trash and back, over a real server and SQLite: hidden
from every inbox (and its unread count) while the task waits there, shown again, read or not as
they were, when it is restored; gone for good with it."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.api_client import ApiClient
from tests.fixtures import TandemServer
from tests.ws_client import WsClient, ws_url


def browser(client_id: str, name: str) -> dict[str, str]:
    return {"X-Tandem-Client-Id": client_id, "X-Tandem-Display-Name": name}


ALICE, BOB = browser("t-alice", "Alice"), browser("t-bob", "Bob")


async def delete(api: ApiClient, task: dict[str, Any]) -> None:
    gone = await api.request("DELETE", f"/api/v1/tasks/{task['id']}", headers=ALICE)
    assert gone.status == 204, gone.json


async def inbox(api: ApiClient) -> dict[str, Any]:
    got = await api.request("GET", "/api/v1/inbox", headers=BOB)
    assert got.status == 200, got.json
    page: dict[str, Any] = got.json
    return page


async def test_a_trashed_tasks_inbox_items_wait_with_it_and_come_back(
    api: ApiClient, server: TandemServer, session: aiohttp.ClientSession
) -> None:
    bob = (await api.request("GET", "/api/v1/me", headers=BOB)).json
    # Bob's open page hears of it live, as of every change to his inbox.
    tab = await WsClient.connect(session, ws_url(server), client_id="t-bob", name="Bob")
    project = (
        await api.request("POST", "/api/v1/projects", {"key": "INB", "name": "I"}, headers=ALICE)
    ).json
    tasks = []
    for title in ("Parent", "Other"):
        made = await api.request(
            "POST",
            f"/api/v1/projects/{project['id']}/tasks",
            {"title": title, "assigneeId": bob["id"]},
            headers=ALICE,
        )
        assert made.status == 201, made.json
        tasks.append(made.json)
    parent, other = tasks
    child = await api.request(
        "POST",
        f"/api/v1/projects/{project['id']}/tasks",
        {"title": "Child", "assigneeId": bob["id"], "parentTaskId": parent["id"]},
        headers=ALICE,
    )
    await api.request(
        "POST", f"/api/v1/tasks/{parent['id']}/comments", {"body": "@Bob look"}, headers=ALICE
    )
    before = await inbox(api)
    assert before["unreadCount"] == 4
    first = next(i for i in before["items"] if i["taskId"] == parent["id"])
    read = await api.request("POST", "/api/v1/inbox/read", {"itemIds": [first["id"]]}, headers=BOB)
    assert read.status == 200, read.json
    before = await inbox(api)
    assert before["unreadCount"] == 3

    # In the trash: the task's items and its subtask's are out of the inbox and its count.
    assert (
        await api.request("DELETE", f"/api/v1/tasks/{parent['id']}", headers=ALICE)
    ).status == 204
    waiting = await inbox(api)
    assert [i["taskId"] for i in waiting["items"]] == [other["id"]]
    assert waiting["unreadCount"] == 1
    gone = {int(i["id"]) for i in before["items"]} - {int(i["id"]) for i in waiting["items"]}
    told = await tab.wait_for(lambda m: bool(m.inbox_update.removed_item_ids))
    assert set(told.inbox_update.removed_item_ids) == gone
    assert told.inbox_update.unread_count == 1
    start = len(tab.received)
    marked = await api.request(
        "POST", "/api/v1/inbox/read", {"itemIds": [first["id"]]}, headers=BOB
    )
    assert marked.status == 404, marked.json

    # Restored: every item back as it was, read or not.
    restored = await api.request("POST", f"/api/v1/tasks/{parent['id']}/restore", {}, headers=ALICE)
    assert restored.status == 200, restored.json
    assert await inbox(api) == before
    back = await tab.wait_for(lambda m: len(m.inbox_update.items) > 0, start=start)
    assert {i.id for i in back.inbox_update.items} == gone
    assert back.inbox_update.restored  # not news: no desktop notification again
    assert back.inbox_update.unread_count == 3
    assert {i["taskId"] for i in before["items"]} == {parent["id"], child.json["id"], other["id"]}

    # Deleted forever: the items go with it.
    assert (
        await api.request("DELETE", f"/api/v1/tasks/{parent['id']}", headers=ALICE)
    ).status == 204
    purged = await api.request("DELETE", f"/api/v1/trash/tasks/{parent['id']}", headers=ALICE)
    assert purged.status == 204, purged.json
    after = await inbox(api)
    assert [i["taskId"] for i in after["items"]] == [other["id"]]
    assert after["unreadCount"] == 1

    # An item made while a task waits may take its item's number: it comes back with another.
    kept = after["items"][0]
    assert (
        await api.request("DELETE", f"/api/v1/tasks/{other['id']}", headers=ALICE)
    ).status == 204
    for title in ("New one", "Newer one"):
        made = await api.request(
            "POST",
            f"/api/v1/projects/{project['id']}/tasks",
            {"title": title, "assigneeId": bob["id"]},
            headers=ALICE,
        )
        assert made.status == 201, made.json
    restored = await api.request("POST", f"/api/v1/tasks/{other['id']}/restore", {}, headers=ALICE)
    assert restored.status == 200, restored.json
    final = await inbox(api)
    assert final["unreadCount"] == 3
    assert len({i["id"] for i in final["items"]}) == 3
    back = next(i for i in final["items"] if i["taskId"] == other["id"])
    assert {**back, "id": kept["id"]} == kept
    await tab.close()
