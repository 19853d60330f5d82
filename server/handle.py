"""A thread-safe handle on a Tandem server running on its own thread and event loop.

The desktop app (or any other host with its own main loop) talks to the server only
through this handle: start, stop, URL, LAN toggle (with or without TLS), invites,
status, backup, who is connected, and a stream of committed events. Every call
crosses into the server's loop with ``asyncio.run_coroutine_threadsafe``; callbacks
handed in are called on the server's thread, so a GUI must hop to its own thread from
there (a queued signal does).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tandem.v1 import entities_pb2, websocket_pb2

from server.appkeys import DOMAIN
from server.config import ServerConfig
from server.domain.events import CommittedEvent, Delivery
from server.domain.service import Domain
from server.monitoring import MONITOR
from server.monitoring.recording import RecordingSummary
from server.realtime.hub import HUB, ConnectionInfo
from server.runner import PortInUseError, RunningServer, start_server
from server.security import invites
from server.security.invites import Invite
from server.transfer import backups

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = [
    "EventObserver",
    "InboxObserver",
    "Invite",
    "PeopleObserver",
    "ServerHandle",
    "ServerNotRunningError",
    "ServerStatus",
    "Starter",
    "is_desktop_member",
    "is_port_in_use",
    "people_names",
]


Starter = Callable[[ServerConfig], Awaitable[RunningServer]]
EventObserver = Callable[[websocket_pb2.WebSocketMessage], None]
PeopleObserver = Callable[[list[str]], None]
# (member id, serialized inbox_update envelope): a change to that member's inbox.
InboxObserver = Callable[[str, bytes], None]


class ServerNotRunningError(RuntimeError):
    """A call that needs a running server was made before start or after stop."""


def is_port_in_use(error: BaseException) -> bool:
    """True when a start failed because the port is taken (the runner's error or a raw OSError)."""
    if isinstance(error, PortInUseError):
        return True
    return isinstance(error, OSError) and error.errno in (errno.EADDRINUSE, 10048)


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    url: str | None
    lan_urls: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    data_dir: Path | None = None


class ServerHandle:
    """Runs one server on a background thread with its own asyncio loop."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        starter: Starter | None = None,
        thread_name: str = "tandem-server",
    ) -> None:
        self.config = config
        self._starter: Starter = starter or start_server
        self._thread_name = thread_name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: RunningServer | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        # Set by stop(); a start still in progress closes its server as soon as it is up.
        self._stop_requested = False
        self._lock = threading.Lock()
        self._event_observers: list[EventObserver] = []
        self._people_observers: list[PeopleObserver] = []
        self._inbox_observers: list[InboxObserver] = []
        self._recording_observers: list[Callable[[RecordingSummary], None]] = []
        self._unhooks: list[Callable[[], None]] = []

    # Lifecycle -----------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> str:
        """Start the server; return its URL once the port is bound.

        Raises whatever the start raised (the runner's ``PortInUseError`` for a taken
        port), or ``TimeoutError`` when the server is not up within ``timeout``; a start
        that times out is abandoned: the server closes as soon as it comes up.
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the server was already started")
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
            self._thread.start()
        if not self._ready.wait(timeout):
            # Nobody will hold this handle, so nobody could stop the server later.
            self.stop(timeout=0)
            raise TimeoutError(f"the server did not start within {timeout:g} s")
        if self._start_error is not None:
            self._thread.join(timeout)
            raise self._start_error
        return self.url

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            try:
                running = loop.run_until_complete(self._starter(self.config))
            except BaseException as error:  # reported to the starting thread
                self._start_error = error
                self._ready.set()
                return
            with self._lock:
                abandoned = self._stop_requested
                if not abandoned:
                    self._running = running
            if abandoned:
                self._start_error = ServerNotRunningError("the server was stopped while starting")
                try:
                    loop.run_until_complete(running.close())
                except Exception:
                    log.exception("the server did not close cleanly")
                self._ready.set()
                return
            self._ready.set()
            loop.call_soon(self._hook_observers)
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop gracefully (the runner's close), then join the thread.

        Returns True when the thread ended within ``timeout``. Safe to call twice, or
        when the server never started. During a start still in progress, the server is
        closed as soon as it is up (the thread then ends by itself).
        """
        with self._lock:
            thread, loop, running = self._thread, self._loop, self._running
            self._stop_requested = True
            self._running = None
        if thread is None:
            return True
        if running is not None and loop is not None and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._close(running), loop).result(timeout)
            except Exception:
                log.exception("the server did not close cleanly")
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        return not thread.is_alive()

    async def _close(self, running: RunningServer) -> None:
        for unhook in self._unhooks:
            with contextlib.suppress(Exception):
                unhook()
        self._unhooks.clear()
        await running.close()

    @property
    def is_running(self) -> bool:
        return self._running is not None and self._thread is not None and self._thread.is_alive()

    # Queries and commands --------------------------------------------------------

    def _submit(self, make: Callable[[], Coroutine[object, object, T]]) -> Future[T]:
        """Schedule ``make()`` on the server's loop; the future completes on that thread."""
        loop = self._loop
        if self._running is None or loop is None or loop.is_closed():
            raise ServerNotRunningError("Tandem's server is not running")
        try:
            return asyncio.run_coroutine_threadsafe(make(), loop)
        except RuntimeError as error:  # the loop closed between the check and the call
            raise ServerNotRunningError("Tandem's server is not running") from error

    def _call(self, make: Callable[[], Coroutine[object, object, T]], timeout: float) -> T:
        future = self._submit(make)
        try:
            return future.result(timeout)
        except TimeoutError:
            # Nobody waits for the answer any more: do not leave the work running.
            future.cancel()
            raise

    def _server(self) -> RunningServer:
        if self._running is None:
            raise ServerNotRunningError("Tandem's server is not running")
        return self._running

    @property
    def url(self) -> str:
        return self._server().url

    @property
    def lan_urls(self) -> list[str]:
        server = self._running
        return list(server.lan_urls) if server is not None else []

    def lan_fingerprint(self) -> str:
        """SHA-256 fingerprint of the LAN listener's TLS certificate ("" without TLS or LAN)."""
        server = self._running
        return server.lan_fingerprint if server is not None else ""

    def set_lan(
        self, enabled: bool, *, tls: bool | None = None, timeout: float = 30.0
    ) -> list[str]:
        """Share on LAN on or off; returns the LAN URLs (empty when off).

        ``tls``: serve the LAN listener over TLS (None keeps the current setting); a
        change while sharing reopens the listener, ending everyone's connection from the
        network. The first switch to TLS makes the certificate, hence the longer timeout.
        """

        async def toggle() -> list[str]:
            server = self._server()
            await server.set_lan(enabled, tls=tls)
            return list(server.lan_urls)

        return self._call(toggle, timeout)

    def status(self) -> ServerStatus:
        server = self._running
        if server is None or not self.is_running:
            return ServerStatus(running=False, url=None, data_dir=self.config.data_dir)
        return ServerStatus(
            running=True,
            url=server.url,
            lan_urls=list(server.lan_urls),
            people=self.connected_people(),
            data_dir=self.config.data_dir,
        )

    def _domain(self) -> Domain:
        return self._server().app[DOMAIN]

    def backup(self, dest_dir: Path | None = None, timeout: float = 120.0) -> Path:
        """An online SQLite backup (see ``start_backup``); waits for it and returns its path."""
        return self.start_backup(dest_dir).result(timeout)

    def start_backup(self, dest_dir: Path | None = None) -> Future[Path]:
        """Start an online SQLite backup into ``dest_dir`` (the data folder's backups by
        default), named by the local time, and return at once.

        The future resolves to the file's path, or to the error, on the server's thread;
        a GUI keeps its own thread free by reacting in ``add_done_callback``.
        """
        folder = dest_dir if dest_dir is not None else backups.folder(self.config.data_dir)
        kept = self.config.backups_kept

        async def run() -> Path:
            return await backups.make_async(self._domain().store, folder, kept=kept)

        return self._submit(run)

    def start_recording(self, path: Path, seconds: float, timeout: float = 5.0) -> Path:
        """Record the WebSocket traffic into ``path`` for ``seconds`` (see
        ``server.monitoring.recording``); ``add_recording_observer`` hears when it ends."""

        async def run() -> Path:
            return self._server().app[MONITOR].recording.start(path, seconds=seconds).path

        return self._call(run, timeout)

    def stop_recording(self, timeout: float = 5.0) -> RecordingSummary | None:
        async def run() -> RecordingSummary | None:
            return self._server().app[MONITOR].recording.stop()

        return self._call(run, timeout)

    def add_recording_observer(self, observer: Callable[[RecordingSummary], None]) -> None:
        """Call ``observer`` when a recording ends (its time, its size, or stopped), on the
        server's thread. Takes effect for a server started after it is added."""
        self._recording_observers.append(observer)

    def connected_people(self, timeout: float = 5.0) -> list[str]:
        """Display names of the people connected now, one entry per person."""

        async def names() -> list[str]:
            hub = self._server().app.get(HUB)
            return people_names(hub.connections()) if hub is not None else []

        try:
            return self._call(names, timeout)
        except ServerNotRunningError:
            return []

    def members(self, timeout: float = 5.0) -> list[entities_pb2.Member]:
        """Every member, read on the server's thread."""

        async def run() -> list[entities_pb2.Member]:
            domain = self._domain()
            return list(await domain.read(domain.list_members))

        return self._call(run, timeout)

    def desktop_members(self, timeout: float = 5.0) -> list[entities_pb2.Member]:
        """The members who are the person at this computer (see ``is_desktop_member``)."""
        return [member for member in self.members(timeout) if is_desktop_member(member)]

    def get_task(self, task_id: str, timeout: float = 5.0) -> entities_pb2.Task:
        async def run() -> entities_pb2.Task:
            domain = self._domain()
            return await domain.read(domain.get_task, task_id)

        return self._call(run, timeout)

    def create_invite(self, role: str, name: str = "", timeout: float = 10.0) -> str:
        """A LAN invite link for a person with ``role`` ("viewer" or "editor")."""
        server = self._server()

        async def run() -> str:
            return await server.create_invite(role=role, name=name)

        return self._call(run, timeout)

    def list_invites(self, timeout: float = 5.0) -> list[Invite]:
        """Every invite, oldest first, revoked ones included (read on the database thread)."""

        async def run() -> list[Invite]:
            return await self._domain().read(invites.list_all)

        return self._call(run, timeout)

    def revoke_invite(self, invite_id: str, timeout: float = 10.0) -> None:
        """Revoke an invite; that person's connections close at once."""
        server = self._server()

        async def run() -> None:
            await server.revoke_invite(invite_id)

        self._call(run, timeout)

    # Observers -------------------------------------------------------------------

    def add_event_observer(self, observer: EventObserver) -> None:
        """Call ``observer`` with each committed event, on the server's thread."""
        self._event_observers.append(observer)

    def add_people_observer(self, observer: PeopleObserver) -> None:
        """Call ``observer`` with the connected people's names whenever they change,
        on the server's thread."""
        self._people_observers.append(observer)

    def add_inbox_observer(self, observer: InboxObserver) -> None:
        """Call ``observer`` with each change to any member's inbox, in commit order, on the
        server's thread (the tray's notifications come from here)."""
        self._inbox_observers.append(observer)

    def _hook_observers(self) -> None:
        loop, server = self._loop, self._running
        if loop is None or server is None:
            return
        # Hooked even without observers yet: one may be added while the server runs.

        def on_commit(events: Sequence[CommittedEvent]) -> None:
            # Called on the committing thread: only hop, never work, here.
            if not self._event_observers:
                return
            frames = [event.frame for event in events]
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._deliver_events, frames)

        self._unhooks.append(server.app[DOMAIN].sink.add_listener(on_commit))

        def on_inbox(deliveries: Sequence[Delivery]) -> None:
            if not self._inbox_observers:
                return
            # Their frames are encoded on the loop, when first asked for (Delivery.frame).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._deliver_inbox, list(deliveries))

        self._unhooks.append(server.app[DOMAIN].inbox_sink.add_listener(on_inbox))
        tap = server.app[MONITOR].recording
        for observer in self._recording_observers:
            tap.on_stop.append(observer)
        hub = server.app.get(HUB)
        if hub is not None:
            self._unhooks.append(hub.add_observer(self._deliver_people))

    def _deliver_events(self, frames: list[bytes]) -> None:
        for frame in frames:
            message = websocket_pb2.WebSocketMessage()
            message.ParseFromString(frame)
            for observer in list(self._event_observers):
                try:
                    observer(message)
                except Exception:
                    log.exception("an event observer failed")

    def _deliver_inbox(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            for observer in list(self._inbox_observers):
                try:
                    observer(delivery.member_id, delivery.frame)
                except Exception:
                    log.exception("an inbox observer failed")

    def _deliver_people(self, connections: list[ConnectionInfo]) -> None:
        names = people_names(connections)
        for observer in list(self._people_observers):
            try:
                observer(names)
            except Exception:
                log.exception("a people observer failed")


def is_desktop_member(member: entities_pb2.Member) -> bool:
    """Whether ``member`` is the person at this computer rather than someone on the LAN.

    That person is several members at once: the owner (REST calls that name no client)
    and one member per browser on this machine, since each browser says hello with its
    own client id. All of them, and only they, hold the owner role: LAN invitees are
    viewers or editors.
    """
    return member.role == entities_pb2.MemberRole.MEMBER_ROLE_OWNER


def people_names(connections: Sequence[ConnectionInfo]) -> list[str]:
    """One name per person (a person may have several tabs open), sorted."""
    names = {info.member_id: info.display_name or "Someone" for info in connections}
    return sorted(names.values(), key=str.casefold)
