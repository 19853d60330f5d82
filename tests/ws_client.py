"""A small Tandem WebSocket client for tests and the benchmark: real sockets, real server."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import socket
import struct
from collections.abc import Callable
from typing import Any, Self

import aiohttp
from google.protobuf import json_format
from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

Msg = websocket_pb2.WebSocketMessage
_ids = itertools.count(1)


def envelope(message_id: str = "", **payload: Any) -> Msg:
    return Msg(message_id=message_id, **payload)


class WsClient:
    """Reads every frame in the background; tests wait on conditions over what arrived."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, *, as_json: bool = False) -> None:
        self.ws = ws
        self.as_json = as_json
        self.received: list[Msg] = []
        self.raw: list[bytes | str] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.welcome: commands_pb2.Welcome | None = None

    @classmethod
    async def connect(
        cls,
        session: aiohttp.ClientSession,
        url: str,
        *,
        as_json: bool = False,
        hello: bool = True,
        client_id: str = "",
        name: str = "Tester",
        **kwargs: Any,
    ) -> Self:
        ws = await session.ws_connect(url + ("?format=json" if as_json else ""), **kwargs)
        client = cls(ws, as_json=as_json)
        if hello:
            reply = await client.request(
                hello=commands_pb2.Hello(
                    client_name="tests",
                    client_id=client_id or f"client-{next(_ids)}",
                    protocol_version=1,
                    display_name=name,
                )
            )
            assert reply.WhichOneof("payload") == "ack", reply
            client.welcome = reply.ack.welcome
        return client

    @property
    def hello_welcome(self) -> commands_pb2.Welcome:
        assert self.welcome is not None, "this client did not say hello"
        return self.welcome

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                msg = Msg()
                if frame.type is aiohttp.WSMsgType.BINARY:
                    msg.ParseFromString(frame.data)
                elif frame.type is aiohttp.WSMsgType.TEXT:
                    json_format.Parse(frame.data, msg)
                elif frame.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    continue  # only seen with autoping=False: a client that ignores pings
                else:
                    break
                self.raw.append(frame.data)
                self.received.append(msg)
                self._changed.set()
        finally:
            self.closed.set()
            self._changed.set()

    async def send(self, msg: Msg) -> None:
        if self.as_json:
            await self.ws.send_str(json_format.MessageToJson(msg))
        else:
            await self.ws.send_bytes(msg.SerializeToString())

    async def wait_for(
        self, predicate: Callable[[Msg], bool], timeout: float = 10.0, start: int = 0
    ) -> Msg:
        """The first message from ``start`` on that matches; waits for it to arrive."""
        async with asyncio.timeout(timeout):
            i = start
            while True:
                while i < len(self.received):
                    if predicate(self.received[i]):
                        return self.received[i]
                    i += 1
                if self.closed.is_set():
                    raise ConnectionError(f"closed ({self.ws.close_code}) before a match")
                self._changed.clear()
                await self._changed.wait()

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                if self.closed.is_set():
                    raise ConnectionError(f"closed ({self.ws.close_code})")
                self._changed.clear()
                await self._changed.wait()

    async def request(self, message_id: str = "", timeout: float = 10.0, **payload: Any) -> Msg:
        """Send a command and return its Ack or Reject."""
        mid = message_id or f"m{next(_ids)}"
        start = len(self.received)
        await self.send(envelope(mid, **payload))
        return await self.wait_for(
            lambda m: m.message_id == mid and m.WhichOneof("payload") in ("ack", "reject"),
            timeout,
            start,
        )

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        async with asyncio.timeout(timeout):
            await self.closed.wait()
        return self.ws.close_code

    def events(self, project_id: str | None = None) -> list[Msg]:
        """Change-log events received so far (seq > 0), in arrival order."""
        out = []
        for m in self.received:
            seq = event_seq(m)
            if seq and (
                project_id is None
                or getattr(m, m.WhichOneof("payload") or "").project_id == project_id
            ):
                out.append(m)
        return out

    def of(self, kind: str) -> list[Msg]:
        return [m for m in self.received if m.WhichOneof("payload") == kind]

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


EVENT_KINDS = frozenset(
    {
        "task_created",
        "task_updated",
        "task_deleted",
        "comment_added",
        "sprint_updated",
        "project_updated",
        "project_deleted",
        "comment_updated",
        "comment_deleted",
        "sprint_deleted",
        "task_watchers_changed",
    }
)


def event_seq(msg: Msg) -> int:
    kind = msg.WhichOneof("payload")
    if kind not in EVENT_KINDS:
        return 0
    return int(getattr(msg, kind).seq)


def presences(msg: Msg, connection_id: str = "") -> list[Any]:
    """The UserPresence changes a presence_diff carries (of one connection, if named)."""
    if not msg.HasField("presence_diff"):
        return []
    return [
        p
        for p in msg.presence_diff.changes
        if not connection_id or p.connection_id == connection_id
    ]


async def poll_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """For server state that announces nothing (a queue's length, a handler that has not
    run yet): look again every 10 ms until ``condition()`` holds, for at most ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def ws_url(server: Any) -> str:
    """The WebSocket endpoint of a server from tests/fixtures.py."""
    return str(server.make_url("/ws")).replace("http://", "ws://")


async def make_project(client: WsClient, key: str = "WEB", name: str = "") -> entities_pb2.Project:
    """A project made over the WebSocket (named after its key unless ``name`` is given)."""
    reply = await client.request(
        create_project=commands_pb2.CreateProject(
            project=entities_pb2.Project(key=key, name=name or key)
        )
    )
    assert reply.WhichOneof("payload") == "ack", reply
    return reply.ack.project


async def subscribe(client: WsClient, project_id: str, **kw: Any) -> Msg:
    reply = await client.request(subscribe=commands_pb2.Subscribe(project_id=project_id, **kw))
    assert reply.WhichOneof("payload") == "ack", reply
    if reply.ack.subscribed.snapshot_follows:
        await client.wait_for(lambda m: m.WhichOneof("payload") == "snapshot")
    return reply


class RawWs:
    """A bare WebSocket client on a socket with a tiny receive buffer: it can stop reading
    and so fill the server's queue quickly, as a stalled browser tab would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, path: str = "/ws", rcvbuf: int = 4096) -> RawWs:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=rcvbuf)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, payload: bytes, opcode: int = 0x2) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    def send_message(self, msg: Msg) -> None:
        self.send(msg.SerializeToString())

    async def read_frame(self) -> tuple[int, bytes]:
        """The next whole frame from the server (unmasked, unfragmented): (opcode, payload)."""
        first, second = await self.reader.readexactly(2)
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(n)

    async def read_message(self) -> Msg | None:
        """The next server message; None when the server sent a close frame."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x2:
                return Msg.FromString(payload)
            if opcode == 0x8:
                return None
            if opcode == 0x9:  # ping: answer, as any WebSocket client does
                self.send(payload, opcode=0xA)

    async def wait_closed_by_peer(self, timeout: float = 10.0) -> None:
        """Read (and discard) until the server drops the connection."""
        async with asyncio.timeout(timeout):
            while await self.reader.read(1 << 16):
                pass

    def close(self) -> None:
        self.writer.transport.abort()
