"""Property: no byte string and no well-formed but wrong message harms the server or the data."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.app import create_app
from server.appkeys import DOMAIN
from server.config import ServerConfig
from tests.ws_client import WsClient

Msg = websocket_pb2.WebSocketMessage
ids = st.one_of(st.just(""), st.uuids().map(str), st.text(max_size=40))
text = st.text(max_size=60)
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)

# Each is well-formed protobuf but names things that do not exist, or is not a command.
wrong_messages = st.one_of(
    st.builds(
        lambda i, t: Msg(message_id=i, update_task=commands_pb2.UpdateTask(task_id=t)), ids, ids
    ),
    st.builds(
        lambda i, t, v: Msg(
            message_id=i, move_task=commands_pb2.MoveTask(task_id=t, base_version=v)
        ),
        ids,
        ids,
        ints,
    ),
    st.builds(
        lambda i, t: Msg(message_id=i, delete_task=commands_pb2.DeleteTask(task_id=t)), ids, ids
    ),
    st.builds(
        lambda i, t, b: Msg(message_id=i, add_comment=commands_pb2.AddComment(task_id=t, body=b)),
        ids,
        ids,
        text,
    ),
    st.builds(
        lambda i, p, t: Msg(
            message_id=i,
            create_task=commands_pb2.CreateTask(project_id=p, task=entities_pb2.Task(title=t)),
        ),
        ids,
        ids,
        text,
    ),
    st.builds(
        lambda i, s: Msg(message_id=i, start_sprint=commands_pb2.StartSprint(sprint_id=s)),
        ids,
        ids,
    ),
    st.builds(
        lambda i, p: Msg(message_id=i, delete_project=commands_pb2.DeleteProject(project_id=p)),
        ids,
        ids,
    ),
    st.builds(
        lambda i, p, s: Msg(
            message_id=i, subscribe=commands_pb2.Subscribe(project_id=p, since_seq=s)
        ),
        ids,
        ids,
        ints,
    ),
    st.builds(
        lambda i, v: Msg(message_id=i, hello=commands_pb2.Hello(protocol_version=v)),
        ids,
        st.integers(min_value=-(2**31), max_value=2**31 - 1),
    ),
    st.builds(
        lambda i, p, f: Msg(
            message_id=i,
            update_presence=commands_pb2.UpdatePresence(project_id=p, editing_field=f),
        ),
        ids,
        ids,
        text,
    ),
    st.builds(
        lambda i, p, s: Msg(message_id=i, task_created=events_pb2.TaskCreated(project_id=p, seq=s)),
        ids,
        ids,
        ints,
    ),
    st.builds(lambda i: Msg(message_id=i), ids),
)
frames = st.one_of(st.binary(max_size=300), wrong_messages.map(lambda m: m.SerializeToString()))


@dataclass
class Running:
    url: str
    app: web.Application
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """The server on its own thread and loop, so each example can be a plain asyncio.run."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = create_app(ServerConfig(data_dir=tmp_path))
    runner = web.AppRunner(app)

    async def up() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"ws://{host}:{port}/ws"

    server = Running(asyncio.run_coroutine_threadsafe(up(), loop).result(30), app, loop)
    try:
        yield server
    finally:
        server.run(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def state_of(app: web.Application) -> list[bytes]:
    domain = app[DOMAIN]
    out = []
    for project in await domain.read(domain.list_projects):
        snap = await domain.read(domain.snapshot, project.id)
        # Saying hello registers the browser as a local member: that is not a change.
        snap.ClearField("members")
        out.append(snap.SerializeToString(deterministic=True))
    return out


async def seed(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = await WsClient.connect(session, url)
        reply = await client.request(
            create_project=commands_pb2.CreateProject(
                project=entities_pb2.Project(key="FUZ", name="f")
            )
        )
        task = entities_pb2.Task(title="keep me")
        await client.request(
            create_task=commands_pb2.CreateTask(project_id=reply.ack.project.id, task=task)
        )
        await client.close()


async def feed(url: str, batch: list[bytes], say_hello: bool) -> None:
    async with aiohttp.ClientSession() as session:
        client = await WsClient.connect(session, url, hello=say_hello)
        for frame in batch:
            if client.closed.is_set():
                break
            try:
                await client.ws.send_bytes(frame)
            except ConnectionError:
                break
        if not client.closed.is_set():
            # Everything before it was answered or the socket closed: the probe shows which.
            try:
                probe = await client.request(
                    "probe", unsubscribe=commands_pb2.Unsubscribe(subscription_id="x")
                )
            except ConnectionError:
                pass  # closed with a code for a bad frame: allowed
            else:
                assert probe.HasField("reject")
        await client.ws.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(frames, min_size=1, max_size=4), say_hello=st.booleans())
def test_random_frames_never_harm_the_server_or_the_data(
    running: Running, batch: list[bytes], say_hello: bool
) -> None:
    if not running.run(state_of(running.app)):
        asyncio.run(seed(running.url))
    before = running.run(state_of(running.app))
    asyncio.run(feed(running.url, batch, say_hello))
    assert running.run(state_of(running.app)) == before
    # The server still answers a well-behaved client.
    asyncio.run(feed(running.url, [], True))
