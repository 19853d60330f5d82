"""After the upgrade the socket is the server's own protocol, not aiohttp's: pinned here
against the aiohttp in use (server.realtime.endpoint.take_over), with the RFC 6455 rules
the server's frame reader enforces, on a real socket."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import struct
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from tandem.v1 import commands_pb2, entities_pb2

from server.realtime import HUB
from server.realtime.connection import Connection
from server.realtime.framing import FrameError, FrameReader, unmask
from server.realtime.protocol import PROTOCOL_VERSION, CloseCode
from server.security.state import SECURITY
from tests.fixtures import LAN_PEER, TandemServer, client_from
from tests.test_security_tls import make_invite, pinned, start_shared
from tests.ws_client import Msg, RawWs, WsClient, make_project, poll_until, subscribe, ws_url

HELLO = Msg(
    message_id="h", hello=commands_pb2.Hello(protocol_version=PROTOCOL_VERSION, client_id="raw")
).SerializeToString()


def frame(payload: bytes, opcode: int = 0x2, fin: bool = True, masked: bool = True) -> bytes:
    mask = os.urandom(4) if masked else b""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    flag = 0x80 if masked else 0
    if n < 126:
        header = struct.pack("!BB", first, flag | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, flag | 126, n)
    else:
        header = struct.pack("!BBQ", first, flag | 127, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if masked else payload
    return header + mask + body


async def raw(server: TandemServer, path: str = "/ws") -> RawWs:
    return await RawWs.connect(server.host, server.port, path=path, rcvbuf=1 << 16)


async def close_code(ws: RawWs) -> int:
    """Read up to the server's close frame: its code."""
    async with asyncio.timeout(10):
        while True:
            opcode, payload = await ws.read_frame()
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])


def live(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


async def test_an_idle_connection_keeps_no_task_request_or_aiohttp_handler(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    owner = await WsClient.connect(session, ws_url(server))
    project = await make_project(owner)
    hub = server.app[HUB]
    await poll_until(lambda: len(hub.connections()) == 1)
    tasks, requests, handlers = (
        len(asyncio.all_tasks()),
        live(web.BaseRequest),
        live(RequestHandler),
    )
    clients = []
    for i in range(20):
        client = await WsClient.connect(session, ws_url(server), client_id=f"c{i}")
        await subscribe(client, project.id)
        clients.append(client)
    await poll_until(lambda: len(hub.connections()) == 21)
    # The test's own clients each read in a task of their own; the server adds none.
    assert len(asyncio.all_tasks()) - tasks == 20
    assert live(web.BaseRequest) == requests
    # aiohttp's client keeps no RequestHandler; the server let go of every one.
    assert live(RequestHandler) == handlers
    assert live(Connection) >= 21
    # And they still work: an event reaches every one.
    await owner.request(
        create_task=commands_pb2.CreateTask(
            project_id=project.id, task=entities_pb2.Task(title="hi")
        )
    )
    for client in clients:
        await client.wait_until(_has_events(client, project.id))


def _has_events(client: WsClient, project_id: str) -> Callable[[], bool]:
    return lambda: bool(client.events(project_id))


async def test_fragments_pings_and_a_pipelined_hello(server: TandemServer) -> None:
    # The hello is sent with the handshake itself, split in three fragments with a ping
    # between them: aiohttp buffered it before the socket was taken over.
    reader, writer = await asyncio.open_connection(server.host, server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {server.base_url}\r\n\r\n"
        ).encode()
        + frame(HELLO[:3], fin=False)
        + frame(b"are you there", opcode=0x9)
        + frame(HELLO[3:7], opcode=0x0, fin=False)
        + frame(HELLO[7:], opcode=0x0)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    ws = RawWs(reader, writer)
    assert await ws.read_frame() == (0xA, b"are you there")
    welcome = await ws.read_message()
    assert welcome is not None and welcome.ack.HasField("welcome"), welcome
    # The client closes: the server answers with the same code and ends the TCP stream.
    ws.writer.write(frame(struct.pack("!H", 1000) + b"bye", opcode=0x8))
    assert await close_code(ws) == 1000
    await ws.wait_closed_by_peer()


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("unmasked", frame(HELLO, masked=False), 1002),
        ("reserved bits", bytes([0xC2]) + frame(HELLO)[1:], 1002),
        ("unknown opcode", frame(HELLO, opcode=0x3), 1002),
        ("continuation with nothing to continue", frame(HELLO, opcode=0x0), 1002),
        ("a new message inside a fragmented one", frame(b"x", fin=False) + frame(b"y"), 1002),
        ("a long ping", frame(b"x" * 126, opcode=0x9), 1002),
        ("a fragmented ping", frame(b"x", opcode=0x9, fin=False), 1002),
        ("a one-byte close", frame(b"\x03", opcode=0x8), 1002),
        ("a close code no one may send", frame(struct.pack("!H", 1005), opcode=0x8), 1002),
        ("text on the binary endpoint", frame(b"{}", opcode=0x1), 1003),
        ("too big, refused from its header", frame(b"", opcode=0x2)[:1] + b"\xff", 1009),
    ],
)
async def test_protocol_errors_close_with_their_code(
    server: TandemServer, name: str, data: bytes, code: int
) -> None:
    ws = await raw(server)
    if name.startswith("too big"):
        # A header announcing 2**63-1 bytes, and no payload: refused at once.
        data = bytes([0x82, 0xFF]) + struct.pack("!Q", (1 << 63) - 1) + os.urandom(4)
    ws.writer.write(data)
    assert await close_code(ws) == code, name
    await ws.wait_closed_by_peer()
    hub = server.app[HUB]
    await poll_until(lambda: not hub.connections(anonymous=True))


async def test_invalid_utf8_in_a_text_frame_is_1007(server: TandemServer) -> None:
    ws = await raw(server, "/ws?format=json")
    ws.writer.write(frame(b'{"messageId": "\xff"}', opcode=0x1))
    assert await close_code(ws) == CloseCode.INVALID_PAYLOAD


async def test_a_message_at_the_size_limit_in_fragments(new_server: object) -> None:
    server = await new_server(max_message_bytes=4096)  # type: ignore[operator]
    ws = await raw(server)
    ws.writer.write(frame(HELLO, fin=False) + frame(b"\0" * 4096, opcode=0x0))
    assert await close_code(ws) == CloseCode.MESSAGE_TOO_BIG


def test_frame_reader_takes_bytes_one_at_a_time() -> None:
    reader = FrameReader(1 << 20)
    data = frame(b"x" * 300) + frame(b"ping!", opcode=0x9) + frame(b"\xe2\x82\xac", opcode=0x1)
    out = []
    for i in range(len(data)):
        out += reader.feed(data[i : i + 1])
    assert out == [(0x2, b"x" * 300), (0x9, b"ping!"), (0x1, "\u20ac")]
    with pytest.raises(FrameError) as err:
        reader.feed(frame(b"\xe2\x82", opcode=0x1))
    assert err.value.code == 1007


def test_unmask_is_its_own_inverse() -> None:
    mask = b"\x01\x80\xff\x00"
    for n in (0, 1, 3, 4, 5, 1000):
        payload = os.urandom(n)
        masked = unmask(payload, mask)
        assert masked == bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert unmask(masked, mask) == payload


async def test_over_tls_through_the_lan_gate_the_socket_is_served_then_let_go(
    tmp_path: Path,
) -> None:
    running = await start_shared(tmp_path / "data")
    try:
        token = await make_invite(running, "editor", "Eda")
        gate = running.app[SECURITY].gate
        assert gate is not None
        url = f"wss://{LAN_PEER}:{running.lan_port}/ws"
        check = pinned(running.lan_fingerprint)
        auth = {"Authorization": f"Bearer {token}"}
        async with client_from(LAN_PEER) as lan:
            client = await WsClient.connect(lan, url, ssl=check, headers=auth)
            project = await make_project(client, key="TLS")
            other = await WsClient.connect(lan, url, ssl=check, headers=auth)
            await subscribe(other, project.id)
            # Big enough to cross several TLS records both ways.
            text = "t" * 60_000
            reply = await client.request(
                create_task=commands_pb2.CreateTask(
                    project_id=project.id, task=entities_pb2.Task(title="big", description=text)
                )
            )
            assert reply.HasField("ack"), reply
            assert reply.ack.task.description == text
            await other.wait_until(_has_events(other, project.id))
            await client.close()
            await other.close()
            assert await client.wait_closed() == 1000
        hub = running.app[HUB]
        await poll_until(lambda: not hub.connections(anonymous=True))
        # The gate counts no socket the connection left behind.
        assert gate.waiting == 0
    finally:
        await running.close()
