"""Domain commands answered without a task per message: order, refusals, closed neighbours."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest
from tandem.v1 import commands_pb2, entities_pb2, errors_pb2, websocket_pb2

from server.realtime import HUB
from server.realtime.connection import Connection
from server.realtime.protocol import MAX_ID_LENGTH, CloseCode
from server.realtime.session import _ACK_TAG, _REJECT_TAG, answer_frame
from tests.fixtures import TandemServer
from tests.ws_client import RawWs, WsClient, envelope, make_project, poll_until, ws_url

Code = errors_pb2.ErrorCode
Msg = websocket_pb2.WebSocketMessage


def create(project_id: str, title: str) -> commands_pb2.CreateTask:
    return commands_pb2.CreateTask(project_id=project_id, task=entities_pb2.Task(title=title))


def answers(client: WsClient) -> list[Msg]:
    return [m for m in client.received if m.WhichOneof("payload") in ("ack", "reject")]


def answered(client: WsClient, count: int) -> Callable[[], bool]:
    return lambda: len(answers(client)) >= count


async def test_pipelined_commands_are_answered_in_the_order_sent(server: TandemServer) -> None:
    async with aiohttp.ClientSession() as session:
        client = await WsClient.connect(session, ws_url(server))
        project = await make_project(client, "ORD", "Order")
        already = len(answers(client))
        # Sent back to back, none waiting for an answer: commands the domain commits,
        # refuses at once (an empty title), refuses in its group (an unknown project),
        # one the envelope check refuses (an overlong id) and one the session answers.
        sent: list[tuple[str, Msg]] = []
        for i in range(30):
            mid = f"c{i}"
            if i % 10 == 3:
                msg = envelope(mid, create_task=create(project.id, ""))
            elif i % 10 == 6:
                msg = envelope(mid, create_task=create("no-such-project", "lost"))
            elif i == 15:
                mid = "x" * (MAX_ID_LENGTH + 1)
                msg = envelope(mid, create_task=create(project.id, "too long an id"))
            elif i == 20:
                msg = envelope(mid, unsubscribe=commands_pb2.Unsubscribe(subscription_id="none"))
            else:
                msg = envelope(mid, create_task=create(project.id, f"task {i}"))
            sent.append((mid, msg))
        for _, msg in sent:
            await client.send(msg)
        await client.wait_until(lambda: len(answers(client)) >= already + len(sent))
        got = answers(client)[already:]
        assert [m.message_id for m in got] == [mid for mid, _ in sent]
        for (mid, msg), answer in zip(sent, got, strict=True):
            title = msg.create_task.task.title if msg.HasField("create_task") else ""
            if (
                mid.startswith("c")
                and msg.HasField("create_task")
                and title
                and (msg.create_task.project_id == project.id)
            ):
                assert answer.HasField("ack"), answer
                assert answer.ack.task.title == title and answer.ack.seq > 0
            else:
                assert answer.HasField("reject"), answer
        codes = {m.message_id: m.reject.error.code for m in got if m.HasField("reject")}
        assert codes["c3"] == Code.ERROR_CODE_INVALID_ARGUMENT
        assert codes["c6"] == Code.ERROR_CODE_NOT_FOUND
        assert codes["x" * (MAX_ID_LENGTH + 1)] == Code.ERROR_CODE_INVALID_ARGUMENT
        assert codes["c20"] == Code.ERROR_CODE_NOT_FOUND
        # Acks carry the commit's seq: in the order sent, each after the one before.
        seqs = [m.ack.seq for m in got if m.HasField("ack")]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        await client.close()


async def test_a_connection_closed_mid_group_leaves_the_others_answered(
    server: TandemServer,
) -> None:
    hub = server.app[HUB]
    async with aiohttp.ClientSession() as session:
        owner = await WsClient.connect(session, ws_url(server))
        project = await make_project(owner, "GRP", "Group")
        others = [await WsClient.connect(session, ws_url(server)) for _ in range(4)]
        gone = await RawWs.connect(server.host, server.port or 0)
        gone.send_message(
            envelope("h", hello=commands_pb2.Hello(protocol_version=1, client_id="gone"))
        )
        assert (await gone.read_message()) is not None  # its welcome
        before = [len(answers(c)) for c in others]
        # The closing client's commands are queued among the others', then its socket
        # goes before any answer can reach it.
        for i in range(10):
            gone.send_message(envelope(f"g{i}", create_task=create(project.id, f"gone {i}")))
            for n, client in enumerate(others):
                await client.send(envelope(f"o{n}-{i}", create_task=create(project.id, "kept")))
        await gone.writer.drain()
        gone.close()
        for n, client in enumerate(others):
            await client.wait_until(answered(client, before[n] + 10))
            got = answers(client)[before[n] :]
            assert [m.message_id for m in got] == [f"o{n}-{i}" for i in range(10)]
            assert all(m.HasField("ack") and m.ack.seq for m in got), got
        await poll_until(lambda: len(hub.connections()) == 1 + len(others))
        # And the server still answers everyone.
        reply = await others[0].request(create_task=create(project.id, "after"))
        assert reply.HasField("ack"), reply
        for client in (owner, *others):
            await client.close()


async def test_a_command_sent_on_a_closed_socket_is_not_answered_but_applied_or_dropped(
    server: TandemServer,
) -> None:
    # A client that sends one command and vanishes at once: the server neither fails nor
    # keeps the connection; whatever it applied is whole.
    async with aiohttp.ClientSession() as session:
        owner = await WsClient.connect(session, ws_url(server))
        project = await make_project(owner, "VAN", "Vanish")
        for i in range(5):
            raw = await RawWs.connect(server.host, server.port or 0)
            raw.send_message(
                envelope("h", hello=commands_pb2.Hello(protocol_version=1, client_id=f"v{i}"))
            )
            raw.send_message(envelope("c", create_task=create(project.id, f"vanished {i}")))
            await raw.writer.drain()
            raw.close()
        hub = server.app[HUB]
        await poll_until(lambda: len(hub.connections(anonymous=True)) == 1)
        reply = await owner.request(create_task=create(project.id, "still here"))
        assert reply.HasField("ack"), reply
        await owner.close()


def test_an_answer_is_the_bytes_of_its_envelope() -> None:
    ack = websocket_pb2.Ack(seq=7, task=entities_pb2.Task(id="t", title="Hi"))
    reject = websocket_pb2.Reject(
        error=errors_pb2.Error(code=Code.ERROR_CODE_NOT_FOUND, message="gone", field="id")
    )
    for mid in ("", "m1", "é" * 40):
        assert answer_frame(mid, _ACK_TAG, ack.SerializeToString()) == (
            Msg(message_id=mid, ack=ack).SerializeToString()
        )
        assert (
            answer_frame(mid, _ACK_TAG, b"")
            == Msg(message_id=mid, ack=websocket_pb2.Ack()).SerializeToString()
        )
        assert answer_frame(mid, _REJECT_TAG, reject.SerializeToString()) == (
            Msg(message_id=mid, reject=reject).SerializeToString()
        )


async def test_many_clients_each_pipelining_get_every_answer_in_order(
    server: TandemServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        owner = await WsClient.connect(session, ws_url(server))
        project = await make_project(owner, "MNY", "Many")
        clients = [await WsClient.connect(session, ws_url(server)) for _ in range(8)]
        before = [len(answers(c)) for c in clients]

        async def burst(n: int, client: WsClient) -> None:
            for i in range(25):
                await client.send(envelope(f"{n}:{i}", create_task=create(project.id, f"{n}")))

        await asyncio.gather(*(burst(n, c) for n, c in enumerate(clients)))
        for n, client in enumerate(clients):
            await client.wait_until(answered(client, before[n] + 25))
            got = answers(client)[before[n] :]
            assert [m.message_id for m in got] == [f"{n}:{i}" for i in range(25)]
            assert all(m.HasField("ack") for m in got)
        for client in (owner, *clients):
            await client.close()


async def test_a_failure_while_answering_ends_only_that_connection(
    server: TandemServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aiohttp.ClientSession() as session:
        owner = await WsClient.connect(session, ws_url(server))
        project = await make_project(owner, "BRK", "Broken")
        broken = await WsClient.connect(session, ws_url(server))
        doomed = broken.hello_welcome.connection_id
        reply_now = Connection.reply_now

        def failing(self: Connection, frame: bytes, kind: str) -> bool:
            if self.id == doomed:
                raise RuntimeError("a bug while answering")
            return reply_now(self, frame, kind)

        monkeypatch.setattr(Connection, "reply_now", failing)
        await broken.send(envelope("b1", create_task=create(project.id, "never answered")))
        assert await broken.wait_closed() == CloseCode.INTERNAL_ERROR
        reply = await owner.request(create_task=create(project.id, "others go on"))
        assert reply.HasField("ack"), reply
        await owner.close()
