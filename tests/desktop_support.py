"""Helpers for the handle and desktop tests: a recording starter, ports, another person."""

from __future__ import annotations

import asyncio
import socket
from contextlib import closing

from tandem.v1 import entities_pb2, websocket_pb2

from server.appkeys import DOMAIN
from server.config import ServerConfig
from server.domain.actor import Actor
from server.runner import RunningServer, start_server


class Recorder:
    """A starter that remembers the servers it started and the loop they run on."""

    def __init__(self) -> None:
        self.servers: list[RunningServer] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, config: ServerConfig) -> RunningServer:
        server = await start_server(config)
        self.servers.append(server)
        self.loop = asyncio.get_running_loop()
        return server


def taken_port() -> tuple[socket.socket, int]:
    """A loopback port held by a listening socket (close the socket when done)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, sock.getsockname()[1]


def port_is_listening(host: str, port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def sam_assigns_and_mentions_owner(recorder: Recorder, timeout: float = 15.0) -> str:
    """Another person ("Sam") makes a project, a task assigned to the owner, and a
    comment mentioning them, through the real domain; returns the task's id."""
    server, loop = recorder.servers[-1], recorder.loop
    assert loop is not None
    domain = server.app[DOMAIN]

    async def run() -> str:
        sam = await domain.local_member("sam-browser", "Sam")
        actor = Actor(member_id=sam.id, role=entities_pb2.MemberRole.MEMBER_ROLE_EDITOR)
        owner_id = domain.owner_actor().member_id
        msg = websocket_pb2.WebSocketMessage()
        msg.create_project.project.name = "Website"
        msg.create_project.project.key = "WEB"
        project = (await domain.command(actor, msg)).project
        msg = websocket_pb2.WebSocketMessage()
        msg.create_task.project_id = project.id
        msg.create_task.task.title = "Fix the login page"
        msg.create_task.task.assignee_id = owner_id
        task = (await domain.command(actor, msg)).task
        msg = websocket_pb2.WebSocketMessage()
        msg.add_comment.task_id = task.id
        msg.add_comment.body = "@Owner could you look at this today?"
        await domain.command(actor, msg)
        return task.id

    return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)
