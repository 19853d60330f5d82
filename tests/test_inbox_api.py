"""The inbox over a real server: live to the recipient's sockets only, REST paging and marking,
watching in the change log, coded errors, and the OpenAPI document."""

from __future__ import annotations

import aiohttp
from tandem.v1 import commands_pb2, entities_pb2, inbox_pb2

from tests.api_client import ApiClient
from tests.fixtures import TandemServer
from tests.ws_client import WsClient, make_project, subscribe, ws_url

Kind = inbox_pb2.InboxItemKind


def browser(client_id: str, name: str) -> dict[str, str]:
    return {"X-Tandem-Client-Id": client_id, "X-Tandem-Display-Name": name}


async def test_a_mention_reaches_every_tab_of_the_one_named_live(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    alice = await WsClient.connect(session, ws_url(server), client_id="b-alice", name="Alice")
    bob = await WsClient.connect(session, ws_url(server), client_id="b-bob", name="Bob Stone")
    bob_tab = await WsClient.connect(session, ws_url(server), client_id="b-bob", name="Bob Stone")
    cara = await WsClient.connect(session, ws_url(server), client_id="b-cara", name="Cara")
    project = await make_project(alice)
    reply = await alice.request(
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="Ship")
        )
    )
    task = reply.ack.task
    # Bob's tabs subscribe to nothing: the inbox comes to him wherever he is.
    await alice.request(
        add_comment=commands_pb2.AddComment(task_id=task.id, body="@BobStone have a look")
    )
    for tab in (bob, bob_tab):
        update = (await tab.wait_for(lambda m: m.HasField("inbox_update"))).inbox_update
        assert update.unread_count == 1
        assert [(i.kind, i.task_key, i.excerpt) for i in update.items] == [
            (Kind.INBOX_ITEM_KIND_MENTION, task.key, "@BobStone have a look")
        ]
    # Reading the inbox answers the same; marking it read in one tab tells the other.
    page = (await bob.request(list_inbox=inbox_pb2.ListInbox())).ack.inbox
    assert page.unread_count == 1 and len(page.items) == 1
    start = len(bob_tab.received)
    ack = await bob.request(mark_inbox_read=inbox_pb2.MarkInboxRead(item_ids=[page.items[0].id]))
    assert ack.ack.inbox_state.unread_count == 0
    read = await bob_tab.wait_for(lambda m: m.HasField("inbox_update"), start=start)
    assert read.inbox_update.unread_count == 0
    assert read.inbox_update.items[0].HasField("read_time")
    # Alice (the author) and Cara (not named) were told nothing.
    assert alice.of("inbox_update") == [] and cara.of("inbox_update") == []
    for c in (alice, bob, bob_tab, cara):
        await c.close()


async def test_watching_is_in_the_change_log_and_live_on_the_board(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    alice = await WsClient.connect(session, ws_url(server), client_id="b-alice", name="Alice")
    bob = await WsClient.connect(session, ws_url(server), client_id="b-bob", name="Bob")
    project = await make_project(alice)
    task = (
        await alice.request(
            create_task=commands_pb2.CreateTask(
                project_id=project.id, task=entities_pb2.Task(title="Ship")
            )
        )
    ).ack.task
    await subscribe(alice, project.id)
    ack = await bob.request(watch_task=inbox_pb2.WatchTask(task_id=task.id, watching=True))
    watchers = ack.ack.watchers
    assert set(watchers.member_ids) == {alice.hello_welcome.member.id, bob.hello_welcome.member.id}
    seen = await alice.wait_for(lambda m: m.HasField("task_watchers_changed"))
    assert seen.task_watchers_changed.seq == ack.ack.seq
    assert seen.task_watchers_changed.actor_id == bob.hello_welcome.member.id
    listed = (await alice.request(list_watchers=inbox_pb2.ListWatchers(task_id=task.id))).ack
    assert list(listed.watchers.member_ids) == list(watchers.member_ids)
    await alice.close()
    await bob.close()


async def test_rest_inbox_paged_marked_and_refused_with_codes(
    api: ApiClient, server: TandemServer
) -> None:
    alice, bob = browser("b-alice", "Alice"), browser("b-bob", "Bob")
    me = (await api.request("GET", "/api/v1/me", headers=bob)).json
    project = (
        await api.request("POST", "/api/v1/projects", {"key": "API", "name": "A"}, headers=alice)
    ).json
    for n in range(3):
        made = await api.request(
            "POST",
            f"/api/v1/projects/{project['id']}/tasks",
            {"title": f"T{n}", "assigneeId": me["id"]},
            headers=alice,
        )
        assert made.status == 201
    first = await api.request("GET", "/api/v1/inbox", params={"pageSize": "2"}, headers=bob)
    assert first.status == 200
    assert first.json["unreadCount"] == 3
    assert [i["taskKey"] for i in first.json["items"]] == ["API-3", "API-2"]
    assert first.json["items"][0]["kind"] == "INBOX_ITEM_KIND_ASSIGNED"
    rest = await api.request(
        "GET",
        "/api/v1/inbox",
        params={"pageSize": "2", "pageToken": first.json["nextPageToken"]},
        headers=bob,
    )
    assert [i["taskKey"] for i in rest.json["items"]] == ["API-1"]
    assert "nextPageToken" not in rest.json
    newest = first.json["items"][0]["id"]
    marked = await api.request(
        "POST", "/api/v1/inbox/read", {"all": True, "upToId": newest}, headers=bob
    )
    assert marked.status == 200 and marked.json.get("unreadCount", 0) == 0
    assert len(marked.json["changed"]) == 3
    unread = await api.request("GET", "/api/v1/inbox", params={"unreadOnly": "true"}, headers=bob)
    assert unread.json.get("items", []) == [] and unread.json.get("unreadCount", 0) == 0
    # Alice made them all: her inbox is empty.
    assert (await api.request("GET", "/api/v1/inbox", headers=alice)).json.get("items", []) == []
    # Coded refusals; nothing changed.
    bad = [
        ("GET", "/api/v1/inbox?pageSize=0", None, "ERROR_CODE_INVALID_ARGUMENT", 400),
        ("GET", "/api/v1/inbox?unreadOnly=maybe", None, "ERROR_CODE_INVALID_ARGUMENT", 400),
        ("GET", "/api/v1/inbox?pageToken=xyz", None, "ERROR_CODE_INVALID_ARGUMENT", 400),
        ("POST", "/api/v1/inbox/read", {}, "ERROR_CODE_INVALID_ARGUMENT", 400),
        ("POST", "/api/v1/inbox/read", {"itemIds": [newest]}, "ERROR_CODE_NOT_FOUND", 404),
        ("POST", "/api/v1/tasks/nope/watch", {"watching": True}, "ERROR_CODE_NOT_FOUND", 404),
    ]
    for method, path, body, code, status in bad:
        got = await api.request(method, path, body, headers=alice)
        assert (got.status, got.error_code) == (status, code), (path, got.json)
    again = await api.request("GET", "/api/v1/inbox", headers=bob)
    assert again.json.get("unreadCount", 0) == 0 and len(again.json["items"]) == 3


async def test_openapi_names_the_inbox(api: ApiClient) -> None:
    doc = (await api.request("GET", "/api/openapi.json")).json
    assert doc["paths"]["/api/v1/inbox"]["get"]["operationId"] == "listInbox"
    assert doc["paths"]["/api/v1/inbox/read"]["post"]["operationId"] == "markInboxRead"
    assert doc["paths"]["/api/v1/tasks/{taskId}/watch"]["post"]["operationId"] == "watchTask"
    assert doc["paths"]["/api/v1/tasks/{taskId}/watchers"]["get"]["operationId"] == "listWatchers"
