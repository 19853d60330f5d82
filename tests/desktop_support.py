"""Helpers for the handle and desktop tests: recording starters, ports, a person acting
on the board (a LAN invitee), clients from another computer on the network (played from
127.0.0.2), a client event loop on its own thread, and a virtual X screen with a tray."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.client
import os
import select
import shlex
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from tandem.v1 import entities_pb2, websocket_pb2

from server.appkeys import DOMAIN
from server.config import ServerConfig
from server.domain.actor import Actor
from server.runner import RunningServer
from server.security import invites
from tests.fixtures import LAN_PEER, start_tandem
from tests.ws_client import WsClient

T = TypeVar("T")


X_TOOLS = ("Xvfb", "trayer", "xwininfo")
TRAYER_ARGS = [
    "--edge",
    "top",
    "--align",
    "left",
    "--widthtype",
    "request",
    "--height",
    "32",
    "--SetDockType",
    "true",
    "--transparent",
    "false",
    "--tint",
    "0x444444",
]


class Recorder:
    """A starter (the one test builder, with the app's config) that remembers the servers it
    started and the loop they run on."""

    #: Extra ``start_tandem`` keywords for every server this starter starts.
    options: dict[str, Any] = {}

    def __init__(self) -> None:
        self.servers: list[RunningServer] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, config: ServerConfig) -> RunningServer:
        server = await start_tandem(**dataclasses.asdict(config), **self.options)
        self.servers.append(server)
        self.loop = asyncio.get_running_loop()
        return server


class LanPeerRecorder(Recorder):
    """A recording starter whose servers take only 127.0.0.1 for this machine, so a client
    from 127.0.0.2 is a LAN peer that needs an invite."""

    options = {"lan_peers_on_loopback": True}


def token_of(link: str) -> str:
    """The invite token in an invite link (``…/join?token=TOKEN``)."""
    return link.split("token=", 1)[1]


def lan_peer_get(base_url: str, token: str = "", path: str = "api/v1/projects") -> int:
    """The status of a GET from 127.0.0.2 (a LAN peer) with ``token`` as its Bearer
    credential; over HTTPS the self-signed certificate is accepted unchecked."""
    parts = urllib.parse.urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=10, source_address=(LAN_PEER, 0), context=context
        )
    else:
        connection = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=10, source_address=(LAN_PEER, 0)
        )
    try:
        connection.request("GET", "/" + path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


async def lan_peer_websocket(base_url: str, token: str) -> tuple[aiohttp.ClientSession, WsClient]:
    """A WebSocket from 127.0.0.2 (a LAN peer) presenting ``token``, that said hello.
    Raises ``aiohttp.WSServerHandshakeError`` when the server refuses it."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(LAN_PEER, 0), force_close=True)
    )
    url = base_url.replace("http://", "ws://", 1) + "ws"
    try:
        client = await WsClient.connect(
            session, url, name="Sam", headers={"Authorization": f"Bearer {token}"}
        )
    except BaseException:
        await session.close()
        raise
    return session, client


def hold_database_thread(recorder: Recorder, timeout: float = 60.0) -> threading.Event:
    """Keep the newest server's database thread busy until the returned event is set
    (work queued behind it, such as a backup, waits meanwhile)."""
    gate = threading.Event()

    def hold() -> None:
        gate.wait(timeout)

    recorder.servers[-1].app[DOMAIN].store.submit(hold)
    return gate


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


class BoardPerson:
    """Someone acting on the board through the real domain of the newest server, driven
    from a test's thread: a LAN invitee (see ``invited``) or any other actor."""

    def __init__(self, recorder: Recorder, actor: Actor, timeout: float = 15.0) -> None:
        assert recorder.loop is not None
        self.domain = recorder.servers[-1].app[DOMAIN]
        self.loop = recorder.loop
        self.actor = actor
        self.timeout = timeout

    @classmethod
    def invited(cls, recorder: Recorder, name: str, role: str = "editor") -> BoardPerson:
        """A person invited to the LAN with ``role``, as the tray's invite dialog makes one."""
        domain = recorder.servers[-1].app[DOMAIN]
        assert recorder.loop is not None
        made = asyncio.run_coroutine_threadsafe(
            domain.read(invites.create, name, role), recorder.loop
        ).result(15)
        return cls(recorder, Actor(member_id=made.invite.member_id, role=invites.ROLES[role]))

    @property
    def member_id(self) -> str:
        return self.actor.member_id

    def _command(self, msg: websocket_pb2.WebSocketMessage) -> websocket_pb2.Ack:
        command = getattr(msg, msg.WhichOneof("payload") or "")
        done = asyncio.run_coroutine_threadsafe(self.domain.command(self.actor, command), self.loop)
        return done.result(self.timeout)

    def create_project(self, name: str, key: str) -> entities_pb2.Project:
        msg = websocket_pb2.WebSocketMessage()
        msg.create_project.project.name = name
        msg.create_project.project.key = key
        return self._command(msg).project

    def create_task(self, project_id: str, title: str, assignee_id: str = "") -> entities_pb2.Task:
        msg = websocket_pb2.WebSocketMessage()
        msg.create_task.project_id = project_id
        msg.create_task.task.title = title
        msg.create_task.task.assignee_id = assignee_id
        return self._command(msg).task

    def assign(self, task: entities_pb2.Task, assignee_id: str) -> entities_pb2.Task:
        msg = websocket_pb2.WebSocketMessage()
        msg.update_task.task_id = task.id
        msg.update_task.base_version = task.version
        msg.update_task.update_mask.paths.append("assignee_id")
        msg.update_task.task.assignee_id = assignee_id
        return self._command(msg).task

    def comment(self, task_id: str, body: str) -> entities_pb2.Comment:
        msg = websocket_pb2.WebSocketMessage()
        msg.add_comment.task_id = task_id
        msg.add_comment.body = body
        return self._command(msg).comment


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class BackgroundLoop:
    """An asyncio loop on its own thread, for clients driven from a Qt test's thread
    (which must stay free to run Qt's event loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-clients")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(15)
        self.loop.close()


def missing_x_tools() -> list[str]:
    return [tool for tool in X_TOOLS if shutil.which(tool) is None]


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def x_screen_with_tray(timeout: float = 15.0) -> Iterator[dict[str, str]]:
    """Xvfb on a free display number with trayer as the tray host; yields an environment
    for programs to run there (DISPLAY set, QT_QPA_PLATFORM unset)."""
    read_fd, write_fd = os.pipe()
    try:
        # -displayfd: Xvfb picks a free display and writes its number once it accepts clients.
        xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(write_fd,),
        )
    finally:
        os.close(write_fd)
    procs: list[subprocess.Popen[Any]] = [xvfb]
    try:
        number = b""
        deadline = time.monotonic() + timeout
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:
                break
            number += chunk
        assert number.strip().isdigit(), f"Xvfb did not start ({number!r})"
        env = dict(os.environ, DISPLAY=f":{number.strip().decode()}")
        env.pop("QT_QPA_PLATFORM", None)
        trayer = subprocess.Popen(
            ["trayer", *TRAYER_ARGS],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(trayer)

        def tray_is_up() -> bool:
            tree = subprocess.run(
                ["xwininfo", "-root", "-children"], env=env, capture_output=True, text=True
            )
            return '"panel" "trayer"' in tree.stdout

        if not wait_for(lambda: trayer.poll() is not None or tray_is_up(), timeout):
            raise AssertionError("trayer did not come up")
        if trayer.poll() is not None:
            raise AssertionError(f"trayer ended: {trayer.communicate()[1]}")
        yield env
    finally:
        os.close(read_fd)
        for proc in reversed(procs):
            _stop(proc)


def recording_opener(folder: Path) -> tuple[dict[str, str], Path]:
    """Environment additions that make "open this URL" record it in a file instead of
    starting a real browser: an ``xdg-open`` first on PATH (Qt's route on Linux) and
    ``BROWSER`` (Python's ``webbrowser``). Returns them and the file, one URL a line."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    record = folder / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {shlex.quote(str(record))}\n')
    opener.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "BROWSER": str(opener),
    }
    return env, record


def opened_urls(record: Path) -> list[str]:
    try:
        return record.read_text().split()
    except OSError:
        return []
