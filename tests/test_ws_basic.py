"""The WebSocket protocol end to end: hello, subscriptions, commands, REST to WS, presence."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, errors_pb2, events_pb2, websocket_pb2

from server.realtime import HUB
from server.realtime.protocol import PRESENCE_INTERVAL_SECONDS
from server.realtime.session import Session
from tests.fixtures import TandemServer
from tests.ws_client import (
    Msg,
    WsClient,
    event_seq,
    make_project,
    poll_until,
    presences,
    subscribe,
    ws_url,
)

Code = errors_pb2.ErrorCode
Presence = events_pb2.PresenceState


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {"heartbeat_seconds": 5.0}


async def connect(session: aiohttp.ClientSession, server: TandemServer, **kw: Any) -> WsClient:
    return await WsClient.connect(session, ws_url(server), **kw)


async def make_task(client: WsClient, project_id: str, title: str = "A task") -> entities_pb2.Task:
    reply = await client.request(
        create_task=commands_pb2.CreateTask(
            project_id=project_id, task=entities_pb2.Task(title=title)
        )
    )
    assert reply.WhichOneof("payload") == "ack", reply
    return reply.ack.task


async def test_hello_is_answered_with_welcome(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    client = await connect(session, server, name="Ada")
    welcome = client.welcome
    assert welcome is not None
    assert welcome.protocol_version == 1
    assert welcome.server_version
    assert welcome.connection_id
    assert welcome.heartbeat_interval_ms == 5000
    assert welcome.member.id
    assert welcome.member.role == entities_pb2.MEMBER_ROLE_OWNER
    people = server.app[HUB].connections()
    assert [p.connection_id for p in people] == [welcome.connection_id]
    await client.close()


async def test_two_clients_see_each_others_changes(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    a = await connect(session, server)
    b = await connect(session, server)
    project = await make_project(a)
    await subscribe(a, project.id)
    await subscribe(b, project.id)
    task = await make_task(a, project.id, "from a")
    got = await b.wait_for(lambda m: m.WhichOneof("payload") == "task_created")
    assert got.task_created.task.id == task.id
    assert got.task_created.task.title == "from a"
    assert got.message_id == ""
    # The sender gets the event too, exactly once, with the seq its Ack named.
    own = await a.wait_for(lambda m: m.WhichOneof("payload") == "task_created")
    assert own.task_created.seq == got.task_created.seq
    reply = await b.request(
        update_task=commands_pb2.UpdateTask(
            task_id=task.id,
            base_version=task.version,
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            task=entities_pb2.Task(title="from b"),
        )
    )
    assert reply.WhichOneof("payload") == "ack"
    seen = await a.wait_for(lambda m: m.WhichOneof("payload") == "task_updated")
    assert seen.task_updated.task.title == "from b"
    assert seen.task_updated.seq == reply.ack.seq
    assert len(a.of("task_created")) == 1
    await a.close()
    await b.close()


async def test_rest_changes_reach_websocket_subscribers(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    client = await connect(session, server)
    project = await make_project(client)
    await subscribe(client, project.id)
    url = server.make_url(f"/api/v1/projects/{project.id}/tasks")
    async with session.post(
        url,
        json={"title": "made over REST"},
        headers={"Origin": str(server.make_url("")).rstrip("/")},
    ) as resp:
        assert resp.status == 201, await resp.text()
        body = await resp.json()
        location = resp.headers["Location"]
    got = await client.wait_for(lambda m: m.WhichOneof("payload") == "task_created")
    event = got.task_created
    assert event.task.title == "made over REST"
    # The event names the very task the REST call created, at the version it returned.
    assert body["id"]
    assert event.task.id == body["id"]
    assert location == f"/api/v1/tasks/{body['id']}"
    assert event.task.version == int(body["version"])
    assert event.project_id == project.id
    await client.close()


async def test_conflict_is_rejected_with_current_while_other_field_merges(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    a = await connect(session, server)
    b = await connect(session, server)
    project = await make_project(a)
    task = await make_task(a, project.id, "original")
    base = task.version
    # a and b both start from the same version. a changes the title...
    r1 = await a.request(
        update_task=commands_pb2.UpdateTask(
            task_id=task.id,
            base_version=base,
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            task=entities_pb2.Task(title="a's title"),
        )
    )
    assert r1.WhichOneof("payload") == "ack"
    # ...b changes the description from the same base: another field, so it merges...
    r2 = await b.request(
        update_task=commands_pb2.UpdateTask(
            task_id=task.id,
            base_version=base,
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            task=entities_pb2.Task(description="b's notes"),
        )
    )
    assert r2.WhichOneof("payload") == "ack", r2
    assert r2.ack.task.title == "a's title"
    assert r2.ack.task.description == "b's notes"
    # ...but b's title change from the same base conflicts and changes nothing.
    r3 = await b.request(
        update_task=commands_pb2.UpdateTask(
            task_id=task.id,
            base_version=base,
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            task=entities_pb2.Task(title="b's title"),
        )
    )
    assert r3.WhichOneof("payload") == "reject"
    err = r3.reject.error
    assert err.code == Code.ERROR_CODE_CONFLICT
    assert "title" in err.conflicting_fields
    assert err.current_task.title == "a's title"
    assert err.current_task.description == "b's notes"
    assert err.current_task.version == r2.ack.task.version
    await a.close()
    await b.close()


async def test_duplicate_message_id_has_one_effect_and_the_same_answer(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    client = await connect(session, server, client_id="browser-1")
    project = await make_project(client)
    await subscribe(client, project.id)
    create = commands_pb2.CreateTask(project_id=project.id, task=entities_pb2.Task(title="once"))
    first = await client.request("dup-1", create_task=create)
    second = await client.request("dup-1", create_task=create)
    assert first.WhichOneof("payload") == "ack"
    assert second == first
    # Also across a reconnect of the same browser (an outbox replay).
    await client.close()
    again = await connect(session, server, client_id="browser-1")
    third = await again.request("dup-1", create_task=create)
    assert third == first
    await subscribe(again, project.id)
    snap = again.of("snapshot")[-1].snapshot
    assert [t.title for t in snap.tasks] == ["once"]
    # A refused command is remembered too.
    bad = commands_pb2.DeleteTask(task_id="00000000-0000-0000-0000-000000000000")
    r1 = await again.request("dup-2", delete_task=bad)
    r2 = await again.request("dup-2", delete_task=bad)
    assert r1.WhichOneof("payload") == "reject"
    assert r1 == r2
    await again.close()


async def test_envelope_errors_are_rejected_with_codes(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    client = await connect(session, server, hello=False)
    project_cmd = commands_pb2.CreateProject(project=entities_pb2.Project(key="NOPE", name="x"))
    r = await client.request(create_project=project_cmd)
    assert r.reject.error.code == Code.ERROR_CODE_FAILED_PRECONDITION  # hello first
    # What is not a client command at all is UNSUPPORTED, before hello as after it.
    r = await client.request()
    assert r.reject.error.code == Code.ERROR_CODE_UNSUPPORTED
    r = await client.request(task_created=events_pb2.TaskCreated(project_id="p", seq=1))
    assert r.reject.error.code == Code.ERROR_CODE_UNSUPPORTED
    r = await client.request(hello=commands_pb2.Hello(protocol_version=2))
    assert r.reject.error.code == Code.ERROR_CODE_UNSUPPORTED
    r = await client.request(hello=commands_pb2.Hello(protocol_version=1, client_id="x"))
    assert r.WhichOneof("payload") == "ack"
    r = await client.request(hello=commands_pb2.Hello(protocol_version=1))
    assert r.reject.error.code == Code.ERROR_CODE_FAILED_PRECONDITION  # only once
    r = await client.request()  # no payload at all
    assert r.reject.error.code == Code.ERROR_CODE_UNSUPPORTED
    r = await client.request(task_created=events_pb2.TaskCreated(project_id="p", seq=1))
    assert r.reject.error.code == Code.ERROR_CODE_UNSUPPORTED  # a server-to-client message
    r = await client.request(subscribe=commands_pb2.Subscribe(project_id="no-such-project"))
    assert r.reject.error.code == Code.ERROR_CODE_NOT_FOUND
    r = await client.request(unsubscribe=commands_pb2.Unsubscribe(subscription_id="nope"))
    assert r.reject.error.code == Code.ERROR_CODE_NOT_FOUND
    r = await client.request(update_presence=commands_pb2.UpdatePresence(project_id="nope"))
    assert r.reject.error.code == Code.ERROR_CODE_FAILED_PRECONDITION
    # A payload number this server does not know is an unknown field: discarded, so empty.
    unknown = b"\n\x02id" + b"\xfa\x3f\x02\x08\x01"  # message_id "id", field 1023
    start = len(client.received)
    await client.ws.send_bytes(unknown)
    got = await client.wait_for(lambda m: m.message_id == "id", start=start)
    assert got.reject.error.code == Code.ERROR_CODE_UNSUPPORTED
    # The connection still works.
    project = await make_project(client, "OK")
    assert project.key == "OK"
    await client.close()


async def test_a_server_failure_outside_any_command_closes_with_1011(
    session: aiohttp.ClientSession, server: TandemServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = Session.handle

    async def failing(self: Session, msg: Msg) -> None:
        if msg.message_id == "boom":
            raise RuntimeError("a bug in the envelope path")
        await handle(self, msg)

    monkeypatch.setattr(Session, "handle", failing)
    bystander = await connect(session, server)
    victim = await connect(session, server)
    await victim.send(Msg(message_id="boom", unsubscribe=commands_pb2.Unsubscribe()))
    assert await victim.wait_closed() == 1011
    # Only that connection ended.
    project = await make_project(bystander, "ALIVE")
    assert project.key == "ALIVE"
    await bystander.close()


async def test_a_sprint_subscription_filters_nothing_and_sets_the_viewed_sprint(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    a = await connect(session, server)
    b = await connect(session, server)
    project = await make_project(a)
    made = await a.request(
        create_sprint=commands_pb2.CreateSprint(
            project_id=project.id, sprint=entities_pb2.Sprint(name="S1")
        )
    )
    sprint = made.ack.sprint
    await subscribe(a, project.id)
    await subscribe(b, project.id, sprint_id=sprint.id)
    bs = b.hello_welcome.connection_id
    joined = await a.wait_for(lambda m: bool(presences(m, bs)))
    assert presences(joined, bs)[-1].viewing_sprint_id == sprint.id
    # Events are per project: a task outside the sprint reaches b all the same.
    outside = await make_task(a, project.id, "not in the sprint")
    got = await b.wait_for(lambda m: m.HasField("task_created"))
    assert got.task_created.task.id == outside.id
    assert not got.task_created.task.sprint_id
    await a.close()
    await b.close()


async def test_subscription_is_keyed_by_its_message_id(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    a = await connect(session, server)
    project = await make_project(a)
    reply = await a.request("sub-1", subscribe=commands_pb2.Subscribe(project_id=project.id))
    assert reply.ack.subscribed.snapshot_follows
    snap = await a.wait_for(lambda m: m.WhichOneof("payload") == "snapshot")
    assert snap.message_id == "sub-1"
    assert snap.snapshot.project.id == project.id
    dup = await a.request("sub-2", subscribe=commands_pb2.Subscribe(project_id=project.id))
    assert dup.reject.error.code == Code.ERROR_CODE_ALREADY_EXISTS
    bye = await a.request(unsubscribe=commands_pb2.Unsubscribe(subscription_id="sub-1"))
    assert bye.WhichOneof("payload") == "ack"
    mark = len(a.received)
    await make_task(a, project.id)
    # After unsubscribing, the project's events no longer come.
    b = await connect(session, server)
    await subscribe(b, project.id)
    await make_task(b, project.id, "second")
    await b.wait_for(lambda m: m.HasField("task_created") and m.task_created.task.title == "second")
    assert not [m for m in a.received[mark:] if event_seq(m)]
    await a.close()
    await b.close()


async def test_presence_is_shared_throttled_and_leaves(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    a = await connect(session, server, name="Ada")
    b = await connect(session, server, name="Bob")
    project = await make_project(a)
    task = await make_task(a, project.id)
    await subscribe(a, project.id)
    online = await a.wait_for(lambda m: m.WhichOneof("payload") == "snapshot")
    assert [p.connection_id for p in online.snapshot.presence] == [a.hello_welcome.connection_id]
    await subscribe(b, project.id)
    snap_b = b.of("snapshot")[-1].snapshot
    assert {p.member.display_name for p in snap_b.presence} == {"Ada", "Bob"}
    bob = b.hello_welcome.connection_id
    joined = await a.wait_for(lambda m: bool(presences(m, bob)))
    assert presences(joined, bob)[-1].member.display_name == "Bob"
    assert presences(joined, bob)[-1].state == Presence.PRESENCE_STATE_ONLINE
    assert joined.presence_diff.seq == 0
    # Bob types a burst of presence updates. The throttle's contract: Ada is sent at most
    # one of Bob's presences per PRESENCE_INTERVAL_SECONDS, and the last one is always his
    # latest state. Time is read on the loop's clock, the one the server throttles by.
    loop = asyncio.get_running_loop()
    mark = len(a.received)
    started = loop.time()
    for i in range(20):
        r = await b.request(
            update_presence=commands_pb2.UpdatePresence(
                project_id=project.id,
                viewing_task_id=task.id,
                editing_field="description",
                typing_comment=i < 19,
            )
        )
        assert r.WhichOneof("payload") == "ack"

    def bobs() -> list[events_pb2.UserPresence]:
        return [p for m in a.received[mark:] for p in presences(m, bob)]

    def latest_is_final() -> bool:
        seen = bobs()
        return bool(seen) and not seen[-1].typing_comment

    await a.wait_until(latest_is_final)
    elapsed = loop.time() - started
    seen = bobs()
    # Every relay fell inside [started, now], and relays are an interval apart (the tick
    # that batches them adds at most one tick's delay, never an extra relay).
    assert 1 <= len(seen) <= int(elapsed / PRESENCE_INTERVAL_SECONDS) + 1, (len(seen), elapsed)
    final = seen[-1]
    assert final.state == Presence.PRESENCE_STATE_ONLINE
    assert final.viewing_task_id == task.id
    assert final.editing_field == "description"
    assert not final.typing_comment
    # Nothing is relayed after the latest state: it stays the last word.
    probe = await make_task(a, project.id, "after the burst")
    await a.wait_for(lambda m: m.HasField("task_created") and m.task_created.task.id == probe.id)
    assert bobs()[-1] == final
    # One diff per tick for the whole project: everyone, Bob too, gets the same message.
    await b.wait_until(lambda: any(presences(m, bob) for m in b.received))
    # Bob leaves: Ada is told he is offline.
    await b.close()
    gone = await a.wait_for(
        lambda m: any(p.state == Presence.PRESENCE_STATE_OFFLINE for p in presences(m, bob)),
        start=mark,
    )
    assert presences(gone, bob)[-1].connection_id == bob
    await a.close()


async def test_json_format_speaks_the_same_envelope(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    a = await connect(session, server, as_json=True)
    b = await connect(session, server)
    project = await make_project(a)
    await subscribe(a, project.id)
    await subscribe(b, project.id)
    await make_task(b, project.id, "seen as JSON")
    await a.wait_for(lambda m: m.WhichOneof("payload") == "task_created")
    assert all(isinstance(raw, str) for raw in a.raw)
    text = next(r for r in a.raw if isinstance(r, str) and "taskCreated" in r)
    assert "seen as JSON" in text
    await a.close()
    await b.close()


async def test_hub_api_lists_and_revokes_connections(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    hub = server.app[HUB]
    seen: list[int] = []
    remove = hub.add_observer(lambda people: seen.append(len(people)))
    a = await connect(session, server, name="Ada")
    b = await connect(session, server, name="Bob")
    project = await make_project(a)
    await subscribe(b, project.id)
    people = {p.display_name: p for p in hub.connections()}
    assert set(people) == {"Ada", "Bob"}
    assert people["Bob"].project_ids == (project.id,)
    # Observers hear of changes within a tick, once for all that happened in it.
    await poll_until(lambda: bool(seen) and seen[-1] == 2)
    closed = hub.close_member_connections(people["Bob"].member_id)
    assert closed == 1
    code = await b.wait_closed(timeout=1.0)
    assert code == 4403
    assert {p.display_name for p in hub.connections()} == {"Ada"}
    remove()
    await a.close()


async def test_per_message_compression_is_declined(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    # Protobuf does not shrink; the server says no even when a client offers deflate.
    async with session.ws_connect(ws_url(server), compress=15) as ws:
        assert ws.compress == 0
        hello = websocket_pb2.WebSocketMessage(
            message_id="h", hello=commands_pb2.Hello(client_id="c", protocol_version=1)
        )
        await ws.send_bytes(hello.SerializeToString())
        reply = websocket_pb2.WebSocketMessage.FromString(await ws.receive_bytes())
        assert reply.HasField("ack")
