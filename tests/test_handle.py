"""ServerHandle: a server on its own thread and loop, driven from another thread."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import sqlite3
import ssl
import threading
import urllib.request
from pathlib import Path

import pytest
from tandem.v1 import entities_pb2, websocket_pb2

from server.appkeys import DOMAIN
from server.config import ServerConfig
from server.handle import (
    ServerHandle,
    ServerNotRunningError,
    is_desktop_member,
    is_port_in_use,
)
from server.runner import PortInUseError, RunningServer
from server.security import tls
from tests.desktop_support import (
    BackgroundLoop,
    BoardPerson,
    LanPeerRecorder,
    Recorder,
    hold_database_thread,
    lan_peer_get,
    lan_peer_websocket,
    port_is_listening,
    taken_port,
    token_of,
)
from tests.fixtures import LAN_PEER


def health(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url + "api/health", timeout=5) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def make_handle(tmp_path: Path, port: int = 0) -> ServerHandle:
    # 127.0.0.2 stands in for a LAN address: tests only ever use loopback.
    config = ServerConfig(data_dir=tmp_path, host="127.0.0.1", port=port, lan_host="127.0.0.2")
    return ServerHandle(config)


def test_start_answers_then_stop_closes_the_port(tmp_path: Path) -> None:
    handle = make_handle(tmp_path)
    url = handle.start(timeout=15)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert health(url)["status"] == "ok"
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert handle.status().running
    finally:
        assert handle.stop(timeout=15)
    assert not port_is_listening("127.0.0.1", port)
    assert not handle.status().running
    with pytest.raises(ServerNotRunningError):
        handle.set_lan(True)
    # A second stop is harmless.
    assert handle.stop(timeout=5)


def test_port_in_use_is_raised_from_start(tmp_path: Path) -> None:
    sock, port = taken_port()
    try:
        handle = make_handle(tmp_path, port=port)
        with pytest.raises(PortInUseError) as caught:
            handle.start(timeout=15)
        assert is_port_in_use(caught.value)
        # The failed thread is gone, nothing to stop.
        assert handle.stop(timeout=5)
    finally:
        sock.close()


def test_lan_toggle_changes_what_the_server_listens_on(tmp_path: Path) -> None:
    handle = make_handle(tmp_path)
    handle.start(timeout=15)
    try:
        urls = handle.set_lan(True)
        assert len(urls) == 1 and urls[0].startswith("http://127.0.0.2:")
        lan_port = int(urls[0].rstrip("/").rsplit(":", 1)[1])
        assert port_is_listening("127.0.0.2", lan_port)
        assert health(urls[0])["status"] == "ok"
        assert handle.status().lan_urls == urls
        assert handle.set_lan(False) == []
        assert not port_is_listening("127.0.0.2", lan_port)
    finally:
        handle.stop(timeout=15)


def test_backup_is_a_valid_database(tmp_path: Path) -> None:
    handle = make_handle(tmp_path / "data")
    handle.start(timeout=15)
    try:
        first = handle.backup(tmp_path / "backups")
        second = handle.backup(tmp_path / "backups")
    finally:
        handle.stop(timeout=15)
    assert first != second
    for path in (first, second):
        assert path.parent == tmp_path / "backups" and path.name.startswith("tandem-")
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_start_backup_returns_at_once_and_resolves_on_the_server_thread(tmp_path: Path) -> None:
    recorder = Recorder()
    handle = ServerHandle(ServerConfig(data_dir=tmp_path / "data", port=0), starter=recorder)
    handle.start(timeout=15)
    settled: list[str] = []
    # The database thread is busy, so the backup waits its turn behind that work.
    gate = hold_database_thread(recorder)
    try:
        future = handle.start_backup(tmp_path / "backups")
        future.add_done_callback(lambda _: settled.append(threading.current_thread().name))
        assert not future.done()
        gate.set()
        path = future.result(30)
    finally:
        gate.set()
        handle.stop(timeout=15)
    assert path.parent == tmp_path / "backups"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert settled == ["tandem-server"]
    with pytest.raises(ServerNotRunningError):
        handle.start_backup()


def test_calls_cross_from_many_threads(tmp_path: Path) -> None:
    handle = make_handle(tmp_path)
    handle.start(timeout=15)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                results.append(handle.status().url or "")
                handle.members()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        handle.stop(timeout=15)
    assert not errors
    assert len(results) == 20 and len(set(results)) == 1


def test_start_twice_is_refused(tmp_path: Path) -> None:
    handle = make_handle(tmp_path)
    handle.start(timeout=15)
    try:
        with pytest.raises(RuntimeError):
            handle.start(timeout=1)
    finally:
        handle.stop(timeout=15)


def test_committed_events_reach_observers_off_the_database_thread(tmp_path: Path) -> None:
    recorder = Recorder()
    handle = ServerHandle(ServerConfig(data_dir=tmp_path, port=0), starter=recorder)
    seen: list[tuple[str, str]] = []
    got_comment = threading.Event()

    def observe(message: websocket_pb2.WebSocketMessage) -> None:
        seen.append((message.WhichOneof("payload") or "", threading.current_thread().name))
        if message.HasField("comment_added"):
            got_comment.set()

    handle.add_event_observer(observe)
    handle.start(timeout=15)
    try:
        sam = BoardPerson.invited(recorder, "Sam")
        project = sam.create_project("Website", "WEB")
        task = sam.create_task(project.id, "Fix the login page", assignee_id=sam.member_id)
        sam.comment(task.id, "On it")
        assert got_comment.wait(15)
        assert handle.get_task(task.id).assignee_id == sam.member_id
        assert {m.display_name for m in handle.members()} >= {"Sam"}
    finally:
        handle.stop(timeout=15)
    kinds = [kind for kind, _ in seen]
    assert kinds.index("task_created") < kinds.index("comment_added")
    # Observers run on the server's loop thread, never the database thread.
    assert {thread for _, thread in seen} == {"tandem-server"}


def test_inbox_updates_reach_observers_on_the_servers_thread(tmp_path: Path) -> None:
    """The tray's notifications: each member's update, its frame encoded on the server's
    loop (where the observers run), not on the thread that committed it."""
    recorder = Recorder()
    handle = ServerHandle(ServerConfig(data_dir=tmp_path, port=0), starter=recorder)
    seen: list[tuple[str, websocket_pb2.WebSocketMessage, str]] = []
    told = threading.Event()

    def observe(member_id: str, frame: bytes) -> None:
        seen.append(
            (
                member_id,
                websocket_pb2.WebSocketMessage.FromString(frame),
                threading.current_thread().name,
            )
        )
        told.set()

    handle.add_inbox_observer(observe)
    handle.start(timeout=15)
    try:
        sam = BoardPerson.invited(recorder, "Sam")
        kim = BoardPerson.invited(recorder, "Kim")
        project = sam.create_project("Website", "WEB")
        sam.create_task(project.id, "Fix the login page", assignee_id=kim.member_id)
        assert told.wait(15)
    finally:
        handle.stop(timeout=15)
    ((member_id, message, thread),) = seen
    assert member_id == kim.member_id and thread == "tandem-server"
    (item,) = message.inbox_update.items
    assert item.task_title == "Fix the login page" and message.inbox_update.unread_count == 1


def test_desktop_members_are_the_owner_and_this_machines_browsers(tmp_path: Path) -> None:
    recorder = Recorder()
    handle = ServerHandle(ServerConfig(data_dir=tmp_path, port=0), starter=recorder)
    handle.start(timeout=15)
    try:
        domain = recorder.servers[-1].app[DOMAIN]
        owner_id = domain.owner_actor().member_id
        assert [m.id for m in handle.desktop_members()] == [owner_id]
        assert recorder.loop is not None
        # Two browsers on this machine say hello, each with its own client id.
        ana, firefox = (
            asyncio.run_coroutine_threadsafe(
                domain.local_member(client_id, "Ana Lee"), recorder.loop
            ).result(15)
            for client_id in ("ana-chromium", "ana-firefox")
        )
        BoardPerson.invited(recorder, "Sam", "editor")
        BoardPerson.invited(recorder, "Bo", "viewer")
        me = {m.id: m.display_name for m in handle.desktop_members()}
        everyone = {m.display_name for m in handle.members()}
    finally:
        handle.stop(timeout=15)
    assert me == {owner_id: "Owner", ana.id: "Ana Lee", firefox.id: "Ana Lee"}
    assert everyone == {"Owner", "Ana Lee", "Sam", "Bo"}
    # Invitees on the LAN are never the person at this computer.
    role = entities_pb2.MemberRole
    assert not is_desktop_member(entities_pb2.Member(id="x", role=role.MEMBER_ROLE_EDITOR))
    assert not is_desktop_member(entities_pb2.Member(id="x", role=role.MEMBER_ROLE_VIEWER))


def lan_handle(tmp_path: Path) -> ServerHandle:
    """A handle whose server takes only 127.0.0.1 for this machine (127.0.0.2 is a peer)."""
    config = ServerConfig(data_dir=tmp_path, port=0, lan_host=LAN_PEER)
    return ServerHandle(config, starter=LanPeerRecorder())


def test_invites_are_listed_and_revoked_through_the_handle(tmp_path: Path) -> None:
    handle = lan_handle(tmp_path)
    handle.start(timeout=15)
    try:
        [lan_url] = handle.set_lan(True)
        assert handle.list_invites() == []
        ana = token_of(handle.create_invite("viewer", "Ana"))
        ben = token_of(handle.create_invite("editor", "Ben"))
        listed = handle.list_invites()
        assert [(i.name, i.role, i.active) for i in listed] == [
            ("Ana", "viewer", True),
            ("Ben", "editor", True),
        ]
        assert lan_peer_get(lan_url, ana) == 200
        handle.revoke_invite(listed[0].id)
        after = {invite.name: invite for invite in handle.list_invites()}
        assert not after["Ana"].active and after["Ana"].revoked_at is not None
        assert after["Ana"].last_used_at is not None
        assert after["Ben"].active and after["Ben"].last_used_at is None
        assert lan_peer_get(lan_url, ana) == 401
        assert lan_peer_get(lan_url, ben) == 200
    finally:
        handle.stop(timeout=15)
    with pytest.raises(ServerNotRunningError):
        handle.list_invites()


def test_lan_tls_is_switched_at_run_time_on_the_same_address(tmp_path: Path) -> None:
    handle = lan_handle(tmp_path)
    handle.start(timeout=15)
    clients = BackgroundLoop()
    try:
        [plain] = handle.set_lan(True)
        assert plain.startswith(f"http://{LAN_PEER}:") and handle.lan_fingerprint() == ""
        token = token_of(handle.create_invite("editor", "Sam"))
        session, sam = clients.run(lan_peer_websocket(plain, token))

        [secure] = handle.set_lan(True, tls=True)
        assert secure == plain.replace("http://", "https://")
        fingerprint = handle.lan_fingerprint()
        assert fingerprint and fingerprint == tls.known_fingerprint(tmp_path)
        pem = ssl.get_server_certificate((LAN_PEER, port_of(secure)), timeout=10)
        served = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
        assert served.upper() == fingerprint.replace(":", "")
        # Nobody carries on unencrypted: the plain WebSocket was closed.
        assert clients.run(sam.wait_closed()) == 4403
        clients.run(session.close())
        assert lan_peer_get(secure, token) == 200
        with pytest.raises((http.client.HTTPException, OSError)):
            lan_peer_get(plain, token)

        # Off and on again keeps TLS; switching it off serves plain HTTP again.
        assert handle.set_lan(False) == []
        assert handle.set_lan(True) == [secure]
        assert handle.set_lan(True, tls=False) == [plain]
        assert handle.lan_fingerprint() == ""
        assert lan_peer_get(plain, token) == 200
    finally:
        handle.stop(timeout=15)
        clients.close()


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


class SlowStarter(Recorder):
    """A recording starter that binds the port, then waits for the test to let it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.bound = threading.Event()
        self.ports: list[int] = []

    async def __call__(self, config: ServerConfig) -> RunningServer:
        server = await super().__call__(config)
        self.ports.append(port_of(server.url))
        self.bound.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return server


def test_a_start_that_times_out_is_closed_once_it_comes_up(tmp_path: Path) -> None:
    starter = SlowStarter()
    handle = ServerHandle(ServerConfig(data_dir=tmp_path, port=0), starter=starter)
    try:
        with pytest.raises(TimeoutError):
            handle.start(timeout=0.2)
        assert starter.bound.wait(15)
        [port] = starter.ports
        # Still starting: the port is held until the starter returns.
        assert port_is_listening("127.0.0.1", port)
        assert not handle.is_running
    finally:
        starter.release.set()
    # Nobody calls stop: the abandoned start closes its server and its thread ends.
    thread = handle._thread
    assert thread is not None
    thread.join(15)
    assert not thread.is_alive()
    assert not port_is_listening("127.0.0.1", port)
    assert not handle.status().running
    assert handle.stop(timeout=5)


def test_stop_during_a_start_in_progress_closes_the_server(tmp_path: Path) -> None:
    starter = SlowStarter()
    handle = ServerHandle(ServerConfig(data_dir=tmp_path, port=0), starter=starter)
    outcome: list[BaseException | str] = []

    def start() -> None:
        try:
            outcome.append(handle.start(timeout=30))
        except BaseException as error:
            outcome.append(error)

    starting = threading.Thread(target=start)
    starting.start()
    try:
        assert starter.bound.wait(15)
        # Nothing runs yet, so this only asks the start to close what it brings up.
        assert not handle.stop(timeout=0)
    finally:
        starter.release.set()
    starting.join(15)
    assert handle.stop(timeout=15)
    assert not port_is_listening("127.0.0.1", starter.ports[0])
    [error] = outcome
    assert isinstance(error, ServerNotRunningError)


def test_a_call_that_times_out_is_cancelled(tmp_path: Path) -> None:
    handle = make_handle(tmp_path)
    handle.start(timeout=15)
    cancelled = threading.Event()

    async def never() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    try:
        with pytest.raises(TimeoutError):
            handle._call(never, timeout=0.05)
        assert cancelled.wait(15)
    finally:
        handle.stop(timeout=15)


def test_an_observer_added_after_start_hears_events(tmp_path: Path) -> None:
    recorder = Recorder()
    handle = ServerHandle(ServerConfig(data_dir=tmp_path, port=0), starter=recorder)
    handle.start(timeout=15)
    heard = threading.Event()

    def observe(message: websocket_pb2.WebSocketMessage) -> None:
        if message.HasField("task_created"):
            heard.set()

    try:
        handle.add_event_observer(observe)
        sam = BoardPerson.invited(recorder, "Sam")
        project = sam.create_project("Website", "WEB")
        sam.create_task(project.id, "Fix the login page")
        assert heard.wait(15)
    finally:
        handle.stop(timeout=15)
