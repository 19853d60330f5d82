"""A commit's many events fanned out: a bulk edit reaches each subscriber in order, each event
once, in one write per subscriber when nothing waits before it, and one by one when
something does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

from server.appkeys import DOMAIN
from server.realtime import HUB
from server.realtime.connection import Connection
from tests.fixtures import NewServer
from tests.ws_client import WsClient, event_seq, make_project, subscribe, ws_url

Msg = websocket_pb2.WebSocketMessage
TASKS = 40


def frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The whole frames a server wrote (unmasked), as (opcode, payload)."""
    at = 0
    while at < len(data):
        opcode, size, at = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
        if size == 126:
            size, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif size == 127:
            size, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        yield opcode, data[at : at + size]
        at += size


def updated_seqs(data: bytes) -> list[int]:
    """The seqs of the task_updated events in one write."""
    seqs = []
    for opcode, payload in frames(data):
        if opcode == 0x2:
            msg = Msg.FromString(payload)
            if msg.WhichOneof("payload") == "task_updated":
                seqs.append(msg.task_updated.seq)
        elif opcode == 0x1:
            body = json.loads(payload)
            if "taskUpdated" in body:
                seqs.append(int(body["taskUpdated"]["seq"]))
    return seqs


class Writes:
    """What the server writes to one connection's socket, write by write."""

    def __init__(self, conn: Connection) -> None:
        transport: Any = conn._transport
        assert transport is not None
        self.seen: list[bytes] = []
        write = transport.write

        def recorded(data: bytes) -> None:
            self.seen.append(bytes(data))
            write(data)

        transport.write = recorded

    def with_events(self) -> list[list[int]]:
        return [seqs for seqs in map(updated_seqs, self.seen) if seqs]


def server_side(server: Any, client: WsClient) -> Connection:
    conn: Connection = server.app[HUB]._connections[client.hello_welcome.connection_id]
    return conn


async def a_project_of_tasks(server: Any, editor: WsClient) -> tuple[str, list[entities_pb2.Task]]:
    project_id = (await make_project(editor, "FAN", "Fan-out")).id
    domain = server.app[DOMAIN]
    made = []
    for i in range(TASKS):
        task = entities_pb2.Task(title=f"t{i}")
        create = commands_pb2.CreateTask(project_id=project_id, task=task)
        made.append((await domain.command(domain.owner_actor(), create)).task)
    return project_id, made


def bulk_rename(project_id: str, tasks: list[entities_pb2.Task]) -> commands_pb2.BulkEditTasks:
    return commands_pb2.BulkEditTasks(
        project_id=project_id,
        updates=[
            commands_pb2.UpdateTask(
                task_id=t.id,
                base_version=t.version,
                task=entities_pb2.Task(title=f"{t.title} renamed"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
            for t in tasks
        ],
    )


async def all_updates(client: WsClient, first: int) -> list[int]:
    def seqs() -> list[int]:
        return [event_seq(m) for m in client.of("task_updated") if event_seq(m) >= first]

    await client.wait_until(lambda: len(seqs()) >= TASKS)
    return seqs()


@pytest.mark.parametrize("as_json", [False, True], ids=["protobuf", "json"])
async def test_a_bulk_edit_reaches_each_subscriber_in_one_write_in_order(
    session: aiohttp.ClientSession, new_server: NewServer, as_json: bool
) -> None:
    server = await new_server()
    editor = await WsClient.connect(session, ws_url(server))
    project_id, tasks = await a_project_of_tasks(server, editor)
    viewers = [await WsClient.connect(session, ws_url(server), as_json=as_json) for _ in range(3)]
    for viewer in viewers:
        await subscribe(viewer, project_id)
    writes = [Writes(server_side(server, v)) for v in viewers]

    reply = await editor.request(bulk_edit_tasks=bulk_rename(project_id, tasks))
    assert reply.HasField("ack"), reply
    last = reply.ack.seq
    expected = list(range(last - TASKS + 1, last + 1))
    for viewer, written in zip(viewers, writes, strict=True):
        # Every event once, in commit order, and all of them in the one write.
        assert await all_updates(viewer, expected[0]) == expected
        assert written.with_events() == [expected]
        titles = [m.task_updated.task.title for m in viewer.of("task_updated")[-TASKS:]]
        assert titles == [f"t{i} renamed" for i in range(TASKS)]
    for client in (editor, *viewers):
        await client.close()


async def test_a_subscriber_with_frames_waiting_gets_a_bulk_edit_one_by_one_in_order(
    session: aiohttp.ClientSession, new_server: NewServer
) -> None:
    server = await new_server()
    editor = await WsClient.connect(session, ws_url(server))
    project_id, tasks = await a_project_of_tasks(server, editor)
    behind = await WsClient.connect(session, ws_url(server))
    await subscribe(behind, project_id)
    conn = server_side(server, behind)
    written = Writes(conn)
    # Its socket is full, as a slow reader's is: what follows waits in its queue.
    conn.pause_writing()

    reply = await editor.request(bulk_edit_tasks=bulk_rename(project_id, tasks))
    last = reply.ack.seq
    expected = list(range(last - TASKS + 1, last + 1))
    assert written.with_events() == []
    assert conn.queued >= TASKS  # one each, counted against its queue's limit
    conn.resume_writing()
    assert await all_updates(behind, expected[0]) == expected
    assert written.with_events() == [[seq] for seq in expected]
    for client in (editor, behind):
        await client.close()
