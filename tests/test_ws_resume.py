"""Resume after a lost connection: every missed event exactly once, or a resync."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

from server.appkeys import DOMAIN
from server.realtime import HUB
from tests.fixtures import NewServer
from tests.ws_client import (
    RawWs,
    WsClient,
    event_seq,
    make_project,
    poll_until,
    subscribe,
    ws_url,
)


def create(project_id: str, title: str) -> commands_pb2.CreateTask:
    return commands_pb2.CreateTask(project_id=project_id, task=entities_pb2.Task(title=title))


async def test_killed_socket_resumes_with_every_missed_event_once_in_order(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()
    editor = await WsClient.connect(session, ws_url(server))
    viewer = await WsClient.connect(session, ws_url(server), client_id="viewer")
    project_id = (await make_project(editor, "RES", "r")).id
    first = await subscribe(viewer, project_id)
    epoch = first.ack.subscribed.epoch

    async def edit(n: int) -> int:
        last = 0
        for i in range(n):
            reply = await editor.request(create_task=create(project_id, f"t{i}"))
            last = reply.ack.seq
        return last

    writer = asyncio.create_task(edit(60))
    await viewer.wait_until(lambda: len(viewer.events()) >= 10)
    # Kill the viewer's socket mid-stream, as a network drop would.
    sock = viewer.ws.get_extra_info("socket")
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)
    await viewer.wait_closed()
    before = [event_seq(m) for m in viewer.events()]
    last_seen = before[-1]

    again = await WsClient.connect(session, ws_url(server), client_id="viewer")
    reply = await again.request(
        subscribe=commands_pb2.Subscribe(project_id=project_id, since_seq=last_seen, epoch=epoch)
    )
    assert reply.WhichOneof("payload") == "ack"
    assert not reply.ack.subscribed.snapshot_follows
    head = await writer
    await again.wait_until(lambda: bool(again.events()) and event_seq(again.events()[-1]) >= head)
    after = [event_seq(m) for m in again.events()]
    assert before + after == list(range(before[0], head + 1))
    assert not again.of("snapshot")
    await editor.close()
    await again.close()


async def test_resume_from_head_sends_nothing_old_then_live(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()
    client = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(client, "RES", "r")).id
    for i in range(3):
        await client.request(create_task=create(project_id, f"t{i}"))
    _, head = await server.app[DOMAIN].read(server.app[DOMAIN].head, project_id)
    reply = await client.request(
        subscribe=commands_pb2.Subscribe(project_id=project_id, since_seq=head)
    )
    assert reply.ack.subscribed.head_seq == head
    await client.request(create_task=create(project_id, "live"))
    await client.wait_until(lambda: bool(client.events()))
    assert [event_seq(m) for m in client.events()] == [head + 1]
    await client.close()


async def test_resume_from_too_old_seq_gets_resync_and_snapshot_equal_to_db(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server(history_limit=5)
    domain = server.app[DOMAIN]
    client = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(client, "RES", "r")).id
    for i in range(20):
        await client.request(create_task=create(project_id, f"t{i}"))
    reply = await client.request(
        "resume-1", subscribe=commands_pb2.Subscribe(project_id=project_id, since_seq=1)
    )
    assert reply.ack.subscribed.snapshot_follows
    resync = await client.wait_for(lambda m: m.HasField("resync_required"))
    assert resync.message_id == "resume-1"
    assert resync.resync_required.project_id == project_id
    got = (await client.wait_for(lambda m: m.HasField("snapshot"))).snapshot
    expected = await domain.read(domain.snapshot, project_id)
    got.ClearField("presence")
    assert got == expected
    assert len(got.tasks) == 20
    assert not client.events()  # nothing replayed
    await client.close()


async def test_resume_with_another_epoch_gets_resync(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()
    client = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(client, "RES", "r")).id
    await client.request(create_task=create(project_id, "t"))
    reply = await client.request(
        subscribe=commands_pb2.Subscribe(
            project_id=project_id, since_seq=1, epoch="from-before-a-restore"
        )
    )
    assert reply.ack.subscribed.snapshot_follows
    msg = await client.wait_for(lambda m: m.HasField("resync_required"))
    assert "epoch" in msg.resync_required.reason
    snap = await client.wait_for(lambda m: m.HasField("snapshot"))
    assert [t.title for t in snap.snapshot.tasks] == ["t"]
    await client.close()


async def test_resume_from_a_seq_beyond_head_gets_resync(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()
    client = await WsClient.connect(session, ws_url(server))
    project_id = (await make_project(client, "RES", "r")).id
    reply = await client.request(
        subscribe=commands_pb2.Subscribe(project_id=project_id, since_seq=999)
    )
    assert reply.ack.subscribed.snapshot_follows
    await client.wait_for(lambda m: m.HasField("resync_required"))
    await client.close()


async def test_a_replay_longer_than_the_queue_limit_arrives_whole_without_a_drop(
    new_server: NewServer,
) -> None:
    limit, missed = 1024, 2500
    server = await new_server(send_queue_limit=limit)
    domain = server.app[DOMAIN]
    actor = domain.owner_actor()
    project = await domain.command(
        actor,
        commands_pb2.CreateProject(project=entities_pb2.Project(key="BIG", name="b")),
    )
    project_id = project.project.id
    _, since = await domain.read(domain.head, project_id)
    # Big enough events that the socket's buffers cannot hide the queue behind them.
    filler = "x" * 2000

    async def add(i: int) -> int:
        ack = await domain.command(
            actor,
            commands_pb2.CreateTask(
                project_id=project_id,
                task=entities_pb2.Task(title=f"t{i}", description=filler),
            ),
        )
        return int(ack.seq)

    for start_at in range(0, missed, 250):
        await asyncio.gather(*(add(i) for i in range(start_at, start_at + 250)))
    hub = server.app[HUB]
    # A client with a tiny receive buffer that does not read until its queue is full.
    raw = await RawWs.connect(server.host, server.port or 0)
    raw.send_message(
        websocket_pb2.WebSocketMessage(
            message_id="h", hello=commands_pb2.Hello(protocol_version=1, client_id="late")
        )
    )
    raw.send_message(
        websocket_pb2.WebSocketMessage(
            message_id="s",
            subscribe=commands_pb2.Subscribe(project_id=project_id, since_seq=since),
        )
    )

    def queues() -> list[int]:
        return [c.queued for c in hub.connections()]

    await poll_until(lambda: limit in queues(), timeout=30)
    assert max(queues()) == limit
    # Changes made while the replay waits for room come after it, once each.
    live = [await add(missed + i) for i in range(3)]
    head = live[-1]
    seqs: list[int] = []
    async with asyncio.timeout(60):
        while not seqs or seqs[-1] < head:
            msg = await raw.read_message()
            assert msg is not None, "the server closed the connection"
            seq = event_seq(msg)
            if seq:
                seqs.append(seq)
    assert seqs == list(range(since + 1, head + 1))
    assert len(seqs) == missed + 3
    assert max(queues()) <= limit
    raw.close()
