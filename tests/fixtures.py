"""How tests start Tandem: one builder, ``start_tandem``, and what is built on it.

``start_tandem(data_dir, **overrides)`` starts the whole application (``create_app``) on a
real socket, 127.0.0.1 port 0 unless told otherwise, with its SQLite file in ``data_dir``.
Every keyword is a ``ServerConfig`` field (``lan``, ``lan_tls``, ``web_root``,
``heartbeat_seconds``, the limits, ...) except the few that shape the test itself, listed
on the builder. It returns a ``TandemServer``: the production ``RunningServer`` (so LAN
sharing, invites and ``close()`` are the real ones) plus URLs for tests.

Built on it: the ``new_server``, ``server`` and ``lan_server`` fixtures (conftest.py),
``ServerThread`` (the same server on its own loop thread, for blocking callers such as
Playwright's sync API, schemathesis and the WebSocket fuzzer), the end-to-end
``LiveServer`` and the desktop tests' recording starters. Tests of the production start
itself (``server.runner.start_server``, the desktop ``ServerHandle``) call it directly.
``start_process`` is the other door on purpose: a real ``tandem serve`` process, for tests
that kill it and benchmarks that measure it from outside.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2

from server import security
from server.api.polls import waiting_polls
from server.config import ServerConfig
from server.domain import members
from server.domain.actor import Actor
from server.runner import RunningServer, start_server_as
from server.security.state import SECURITY

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
WEB_DIST = ROOT / "web" / "dist"

#: This machine, as the server sees it when ``lan_peers_on_loopback`` is set.
LOCAL = "127.0.0.1"
#: Other computers on the network, played from other loopback addresses: no traffic ever
#: leaves loopback.
LAN_PEER = "127.0.0.2"
OTHER_PEER = "127.0.0.3"

# Debian's Chromium, driven by Playwright (sync in the end-to-end tests, async elsewhere).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class TandemServer(RunningServer):
    """A started server (the production handle) with the URLs tests ask for."""

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def host(self) -> str:
        """The loopback listener's address."""
        return self.config.host

    @property
    def base_url(self) -> str:
        """``url`` without its trailing slash: the value of an ``Origin`` header."""
        return self.url.rstrip("/")

    def make_url(self, path: str = "/") -> str:
        """The loopback URL of ``path`` (which starts with a slash)."""
        return self.base_url + path

    async def share(self, enabled: bool = True) -> None:
        """Switch sharing on (or off) with the loopback listener standing in for the LAN one,
        so peers on other loopback addresses reach it (``lan_peers_on_loopback``)."""
        urls = [self.make_url("/")] if enabled else []
        await security.sharing_changed(self.app, enabled, urls)


async def start_tandem(
    data_dir: Path,
    *,
    lan_peers_on_loopback: bool = False,
    lan_addresses: Callable[[], Sequence[str]] | None = None,
    access_log: bool = False,
    **overrides: Any,
) -> TandemServer:
    """Start Tandem on a real socket; ``overrides`` are ``ServerConfig`` fields.

    ``lan_peers_on_loopback``: only 127.0.0.1 is this machine, so a client from 127.0.0.2
    is a LAN peer (needing an invite once sharing is on).
    ``lan_addresses``: this machine's LAN addresses, for a LAN listener on all interfaces.
    ``access_log``: log every request, as aiohttp does by default (the log-scrubbing tests
    read it); the real runner logs none.

    It is the production start itself (``server.runner.start_server_as``), returning a
    ``TandemServer``; no test ever announces a board over mDNS.
    """

    def prepare(app: web.Application) -> None:
        state = app[SECURITY]
        state.announce = False
        if lan_peers_on_loopback:
            state.is_local = lambda address: address == LOCAL

    return await start_server_as(
        TandemServer,
        ServerConfig(data_dir=data_dir, **overrides),
        lan_addresses=lan_addresses,
        prepare=prepare,
        access_log=access_log,
    )


#: The ``new_server`` fixture: ``start_tandem`` with the test's data directory, closed after it.
NewServer = Callable[..., Awaitable[TandemServer]]


class ServerThread:
    """``start_tandem`` on an event loop of its own thread, for blocking callers.

    ``stop()`` then ``start()`` restarts it on the same port with the same data, as a
    desktop restart would.
    """

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self.data_dir = data_dir
        self.overrides = overrides
        self.port = int(overrides.pop("port", 0))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: TandemServer | None = None

    @property
    def server(self) -> TandemServer:
        assert self._server is not None, "the server is not running"
        return self._server

    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def app(self) -> web.Application:
        return self.server.app

    @property
    def url(self) -> str:
        """The loopback URL, without a trailing slash."""
        return f"http://{LOCAL}:{self.port}"

    def start(self) -> TandemServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._server = self.run(start_tandem(self.data_dir, port=self.port, **self.overrides))
        except BaseException:
            self._end_loop()
            raise
        self.port = self._server.port
        return self._server

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine on the server's loop (for what only the app object can do)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def stop(self) -> None:
        self.run(self.server.close())
        self._server = None
        self._end_loop()

    def _end_loop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = None


def client_from(address: str, **kwargs: Any) -> aiohttp.ClientSession:
    """A client whose connections come from ``address`` (a loopback address)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
    return aiohttp.ClientSession(connector=connector, **kwargs)


async def make_project(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    key: str = "WEB",
    name: str = "Website",
    tasks: Iterable[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A project made over REST as the desktop owner, with ``tasks`` (REST bodies) in order.

    Every test that arranges a board over REST makes it here; the WebSocket tests make
    theirs over the WebSocket (``ws_client.make_project``), the domain tests in the domain.
    """
    base = base_url.rstrip("/")
    hdrs = dict(headers or {})
    async with session.post(
        f"{base}/api/v1/projects", json={"key": key, "name": name}, headers=hdrs
    ) as r:
        assert r.status == 201, await r.text()
        project: dict[str, Any] = await r.json()
    for task in tasks:
        url = f"{base}/api/v1/projects/{project['id']}/tasks"
        async with session.post(url, json=dict(task), headers=hdrs) as r:
            assert r.status == 201, await r.text()
    return project


async def until_polls_wait(app: web.Application, count: int, timeout: float = 10.0) -> None:
    """Wait (bounded) until ``count`` long polls are parked on the server."""
    async with asyncio.timeout(timeout):
        while True:
            if waiting_polls(app) == count:
                return
            await asyncio.sleep(0.01)


def start_process(
    data_dir: Path, *, stderr: int | None = None, args: Sequence[str] = ()
) -> tuple[subprocess.Popen[str], str]:
    """A real ``tandem serve`` process on port 0 (with more ``args`` for ``tandem serve``);
    returns it and its URL (no trailing slash).

    Its output is read to the end on a thread, so a chatty server never blocks on a full pipe.
    """
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "server.cli", "serve"),
            *("--port", "0", "--data-dir", str(data_dir), *args),
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+)/", line)
    if not match:
        proc.kill()
        proc.wait(timeout=30)
        raise RuntimeError(f"no ready line from tandem serve: {line!r}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, match.group(1)


def listen_queue(port: int) -> tuple[int, int] | None:
    """The kernel's queue size for the listener on ``port`` (``ss`` shows it as a listener's
    Send-Q) and the cap the kernel puts on it (net.core.somaxconn); None without ``ss``."""
    ss = shutil.which("ss")
    if ss is None:
        return None
    listed = subprocess.run(
        [ss, "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(listed[2]), int(Path("/proc/sys/net/core/somaxconn").read_text())


class DayClock:
    """A controlled clock for the server (``ServerConfig.clock``): microseconds since the
    epoch, moved by the test to an hour of a UTC day."""

    def __init__(self, day: str, hour: int = 9) -> None:
        self.micros = 0
        self.at(day, hour)

    def at(self, day: str, hour: int = 9) -> None:
        moment = dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)
        self.micros = int(moment.timestamp() * 1_000_000)

    def __call__(self) -> int:
        return self.micros


_EDITOR = entities_pb2.MemberRole.MEMBER_ROLE_EDITOR


def two_editors(domain: Any) -> tuple[Actor, Actor]:
    """Alice and Bob: two people on this machine, editors of ``domain`` (a Domain), each
    with a client of their own."""
    now = domain._clock()
    with domain.store.db.atomic():
        people = [members.local(f"browser-{n}", n, now) for n in ("alice", "bob")]
    alice, bob = (Actor(member_id=m.id, role=_EDITOR, client_key=m.id) for m in people)
    return alice, bob


def titled_tasks(domain: Any, *titles: str, key: str = "GRP") -> list[entities_pb2.Task]:
    """A project (``key``) with a task of each title, made by the owner of ``domain`` (a
    Domain)."""
    owner = domain.owner_actor()
    made = domain.execute(
        owner, commands_pb2.CreateProject(project=entities_pb2.Project(key=key, name="g"))
    ).project
    return [
        domain.execute(
            owner, commands_pb2.CreateTask(project_id=made.id, task=entities_pb2.Task(title=t))
        ).task
        for t in titles
    ]


def board(domain: Any, tasks: int) -> list[entities_pb2.Task]:
    """A project of ``tasks`` tasks (t0, t1, ...) made by the owner of ``domain``."""
    return titled_tasks(domain, *(f"t{n}" for n in range(tasks)))


def retitle(task_id: str, title: str, base_version: int = 0) -> commands_pb2.UpdateTask:
    return commands_pb2.UpdateTask(
        task_id=task_id,
        task=entities_pb2.Task(title=title),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        base_version=base_version,
    )
