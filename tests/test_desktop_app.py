"""The tray app's controller under pytest-qt (QT_QPA_PLATFORM=offscreen, no real tray)."""

from __future__ import annotations

import json
import os
import plistlib
import sqlite3
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from tandem.v1 import commands_pb2, entities_pb2, inbox_pb2, websocket_pb2

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

import server
from app.autostart import RUN_KEY, RUN_VALUE, Autostart
from app.controller import TrayController
from app.invites import InviteRole
from app.settings import DesktopSettings
from server.appkeys import DOMAIN
from server.config import ServerConfig
from server.monitoring.recording import read_recording
from tests.desktop_support import (
    BackgroundLoop,
    BoardPerson,
    Recorder,
    hold_database_thread,
    port_is_listening,
    taken_port,
)
from tests.ws_client import WsClient

pytestmark = pytest.mark.desktop


def health(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url + "api/health", timeout=5) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


Kind = inbox_pb2.InboxItemKind


class Opened(list[str]):
    """Stands in for the desktop's URL opener (browser, file manager)."""


class Harness:
    def __init__(self, tmp_path: Path, qtbot: QtBot, port: int = 0, **config: Any) -> None:
        self.data_dir = tmp_path / "data"
        self.home = tmp_path / "home"
        self.opened = Opened()
        self.notices: list[tuple[str, str]] = []
        self.recorder = Recorder()
        DesktopSettings(port=port).save(self.data_dir)
        self.controller = TrayController(
            self.data_dir,
            log_path=tmp_path / "logs" / "tandem.log",
            base_config=ServerConfig(data_dir=self.data_dir, lan_host="127.0.0.2", **config),
            starter=self.recorder,
            open_url=self.opened.append,
            autostart=Autostart(home=self.home, platform="linux", command=["/opt/tandem/tandem"]),
        )
        self.controller.notice_shown.connect(lambda t, m: self.notices.append((t, m)))


@pytest.fixture
def harness(tmp_path: Path, qtbot: QtBot) -> Iterator[Harness]:
    h = Harness(tmp_path, qtbot)
    h.controller.start()
    yield h
    h.controller.shutdown()


def test_start_serves_and_open_tandem_opens_the_board(harness: Harness) -> None:
    url = harness.controller.url
    assert url is not None and health(url)["status"] == "ok"
    assert harness.opened == []
    harness.controller.actions["open"].trigger()
    assert harness.opened == [url]
    assert url in harness.controller.tray.toolTip()
    assert "0 people connected" in harness.controller.tray.toolTip()


def test_shutdown_stops_the_server_and_is_idempotent(tmp_path: Path, qtbot: QtBot) -> None:
    h = Harness(tmp_path, qtbot)
    url = h.controller.start()
    h.controller.shutdown()
    assert not port_is_listening("127.0.0.1", port_of(url))
    assert h.controller.url is None
    h.controller.shutdown()


def test_a_taken_port_is_reported_and_the_next_one_used(tmp_path: Path, qtbot: QtBot) -> None:
    sock, taken = taken_port()
    try:
        h = Harness(tmp_path, qtbot, port=taken)
        url = h.controller.start()
        try:
            assert port_of(url) != taken and health(url)["status"] == "ok"
            assert h.notices and f"port {taken}" in h.notices[0][1]
            assert url in h.notices[0][1]
            # The port that worked is kept for next time.
            assert DesktopSettings.load(h.data_dir).port == port_of(url)
        finally:
            h.controller.shutdown()
    finally:
        sock.close()


def test_share_on_lan_changes_what_the_server_listens_on(harness: Harness) -> None:
    lan = harness.controller.actions["lan"]
    address = harness.controller.actions["lan_address"]
    assert not lan.isChecked() and not address.isVisible()
    lan.setChecked(True)
    handle = harness.controller.handle
    assert handle is not None
    [lan_url] = handle.lan_urls
    assert lan_url.startswith("http://127.0.0.2:")
    assert port_is_listening("127.0.0.2", port_of(lan_url))
    assert address.isVisible() and lan_url in address.text()
    assert f"Shared on LAN: {lan_url}" in harness.controller.tray.toolTip()
    address.trigger()
    assert QGuiApplication.clipboard().text() == lan_url
    lan.setChecked(False)
    assert handle.lan_urls == [] and not address.isVisible()
    assert not port_is_listening("127.0.0.2", port_of(lan_url))


def test_start_at_login_writes_and_removes_the_xdg_entry(harness: Harness) -> None:
    entry = harness.home / ".config" / "autostart" / "tandem.desktop"
    action = harness.controller.actions["autostart"]
    assert not action.isChecked()
    action.setChecked(True)
    text = entry.read_text()
    assert "Exec=/opt/tandem/tandem" in text and "Type=Application" in text
    action.setChecked(False)
    assert not entry.exists()


def test_macos_launch_agent(tmp_path: Path) -> None:
    auto = Autostart(home=tmp_path, platform="darwin", command=["/Applications/Tandem.app/x"])
    auto.set_enabled(True)
    plist = tmp_path / "Library" / "LaunchAgents" / "app.tandem.Tandem.plist"
    data = plistlib.loads(plist.read_bytes())
    assert data["ProgramArguments"] == ["/Applications/Tandem.app/x"] and data["RunAtLoad"]
    assert auto.is_enabled()
    auto.set_enabled(False)
    assert not plist.exists() and not auto.is_enabled()


class DictRegistry:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def get(self, key: str, name: str) -> str | None:
        return self.values.get((key, name))

    def set(self, key: str, name: str, value: str) -> None:
        self.values[(key, name)] = value

    def delete(self, key: str, name: str) -> None:
        self.values.pop((key, name), None)


def test_windows_run_key(tmp_path: Path) -> None:
    registry = DictRegistry()
    auto = Autostart(
        home=tmp_path,
        platform="win32",
        command=[r"C:\Program Files\Tandem\Tandem.exe"],
        registry=registry,
    )
    auto.set_enabled(True)
    assert registry.values[(RUN_KEY, RUN_VALUE)] == r'"C:\Program Files\Tandem\Tandem.exe"'
    assert auto.is_enabled()
    auto.set_enabled(False)
    assert not auto.is_enabled()


def test_back_up_now_makes_a_valid_copy_and_says_where(harness: Harness, qtbot: QtBot) -> None:
    action = harness.controller.actions["backup"]
    action.trigger()
    qtbot.waitUntil(lambda: bool(harness.notices), timeout=30000)
    title, message = harness.notices[-1]
    assert title == "Backup saved"
    path = Path(message)
    assert path.parent == harness.data_dir / "backups"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert action.isEnabled() and action.text() == "Back up now"


def test_back_up_now_leaves_the_qt_thread_free(harness: Harness, qtbot: QtBot) -> None:
    controller = harness.controller
    action = controller.actions["backup"]
    # Keep the database thread busy, so the backup queued behind it cannot finish yet.
    gate = hold_database_thread(harness.recorder)
    try:
        future = controller.backup_now()
        assert future is not None and not future.done()
        assert not action.isEnabled() and action.text() == "Backing up…"
        assert controller.backup_now() is None  # one backup at a time
        # The Qt thread still runs its event loop: a queued signal gets through meanwhile.
        threading.Thread(target=controller._people_changed.emit, args=[["Ann"]]).start()
        qtbot.waitUntil(lambda: controller.actions["people"].text().startswith("1 "), timeout=5000)
        assert harness.notices == [] and not future.done()
    finally:
        gate.set()
    qtbot.waitUntil(lambda: bool(harness.notices), timeout=30000)
    assert harness.notices[-1][0] == "Backup saved"
    assert Path(harness.notices[-1][1]) == future.result(0)
    assert action.isEnabled()


def test_a_failed_backup_says_why(harness: Harness, qtbot: QtBot) -> None:
    # A file where the backups folder should be: the folder cannot be made.
    (harness.data_dir / "backups").write_text("not a folder")
    harness.controller.actions["backup"].trigger()
    qtbot.waitUntil(lambda: bool(harness.notices), timeout=30000)
    title, message = harness.notices[-1]
    assert title == "Backup failed" and "backups" in message
    assert harness.controller.actions["backup"].isEnabled()


def test_restore_puts_a_backup_back_and_the_server_serves_it(
    harness: Harness, qtbot: QtBot
) -> None:
    controller = harness.controller
    url = controller.url
    assert url is not None
    saved = controller.handle.backup()  # type: ignore[union-attr]
    request = urllib.request.Request(
        url + "api/v1/projects", data=b'{"key": "NEW", "name": "After"}', method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=10).close()
    bad = harness.data_dir / "notes.sqlite3"
    bad.write_text("not a backup", encoding="utf-8")
    assert not controller.restore_from(bad)
    assert harness.notices[-1][0] == "Restore refused" and controller.url == url  # still up
    assert controller.restore_from(saved)
    title, message = harness.notices[-1]
    assert title == "Backup restored" and str(saved) in message
    new_url = controller.url
    assert new_url is not None
    with urllib.request.urlopen(new_url + "api/v1/projects", timeout=10) as reply:
        assert json.loads(reply.read()).get("projects", []) == []  # as it was backed up
    kept = Path(message.rsplit(" ", 1)[1])
    with sqlite3.connect(kept) as db:
        assert db.execute("SELECT key FROM project").fetchall() == [("NEW",)]
    assert "restore" in controller.actions


def test_open_data_folder(harness: Harness) -> None:
    harness.controller.actions["data_folder"].trigger()
    assert harness.opened == [harness.data_dir.as_uri()]


def test_about_names_version_data_and_log(harness: Harness) -> None:
    text = harness.controller.about_text()
    assert server.__version__ in text and str(harness.data_dir) in text
    assert "tandem.log" in text
    box = harness.controller.show_about()
    assert box.isVisible()
    box.close()


def test_people_connected_now_comes_from_the_server_thread(harness: Harness, qtbot: QtBot) -> None:
    people = harness.controller.actions["people"]
    assert people.text() == "No one connected now"
    # The handle calls observers on the server's thread; the signal hops to Qt's.
    thread = threading.Thread(target=harness.controller._people_changed.emit, args=[["Ann", "Sam"]])
    thread.start()
    thread.join(5)
    qtbot.waitUntil(lambda: people.text() == "2 connected now: Ann, Sam", timeout=5000)
    assert "2 people connected" in harness.controller.tray.toolTip()


def test_people_connected_now_from_real_websocket_clients(harness: Harness, qtbot: QtBot) -> None:
    controller = harness.controller
    people = controller.actions["people"]
    assert controller.url is not None
    ws = controller.url.replace("http://", "ws://") + "ws"
    clients = BackgroundLoop()
    try:
        session = clients.run(_session())
        ann = clients.run(WsClient.connect(session, ws, name="Ann Lee"))
        qtbot.waitUntil(lambda: people.text() == "1 connected now: Ann Lee", timeout=10000)
        assert "1 person connected" in controller.tray.toolTip()
        bo = clients.run(WsClient.connect(session, ws, name="Bo"))
        qtbot.waitUntil(lambda: people.text() == "2 connected now: Ann Lee, Bo", timeout=10000)
        assert "2 people connected" in controller.tray.toolTip()
        clients.run(ann.close())
        qtbot.waitUntil(lambda: people.text() == "1 connected now: Bo", timeout=10000)
        assert "1 person connected" in controller.tray.toolTip()
        clients.run(bo.close())
        qtbot.waitUntil(lambda: people.text() == "No one connected now", timeout=10000)
        assert "0 people connected" in controller.tray.toolTip()
        clients.run(session.close())
    finally:
        clients.close()


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


class Browser:
    """A browser tab on this machine: a real WebSocket client that said hello with its
    own client id, as the board does, on a loop of its own."""

    def __init__(self, clients: BackgroundLoop, url: str, client_id: str, name: str) -> None:
        self.clients = clients
        self.session = clients.run(_session())
        ws = url.replace("http://", "ws://") + "ws"
        self.client = clients.run(
            WsClient.connect(self.session, ws, client_id=client_id, name=name)
        )
        self.member_id = self.client.hello_welcome.member.id

    def _ack(self, **payload: Any) -> websocket_pb2.Ack:
        reply = self.clients.run(self.client.request(**payload))
        assert reply.WhichOneof("payload") == "ack", reply
        return reply.ack

    def create_task(self, project_id: str, title: str, assignee_id: str = "") -> entities_pb2.Task:
        task = entities_pb2.Task(title=title, assignee_id=assignee_id)
        return self._ack(create_task=commands_pb2.CreateTask(project_id=project_id, task=task)).task

    def assign(self, task: entities_pb2.Task, assignee_id: str) -> entities_pb2.Task:
        update = commands_pb2.UpdateTask(
            task_id=task.id,
            base_version=task.version,
            update_mask=FieldMask(paths=["assignee_id"]),
            task=entities_pb2.Task(assignee_id=assignee_id),
        )
        return self._ack(update_task=update).task

    def comment(self, task_id: str, body: str) -> None:
        self._ack(add_comment=commands_pb2.AddComment(task_id=task_id, body=body))

    def close(self) -> None:
        self.clients.run(self.client.close())
        self.clients.run(self.session.close())


class HandledEvents(QObject):
    """The kinds of the inbox items the controller has handled, in order.

    It listens to the signal the controller's notice worker sends once it has judged an
    inbox update, after the controller, with a receiver on the Qt thread: Qt queues both
    deliveries and runs them in order, so an update seen here has already been through
    the controller's notifier, and any notice it made has been shown.
    """

    def __init__(self, controller: TrayController) -> None:
        super().__init__()
        self.kinds: list[int] = []
        controller._inbox_handled.connect(self._record)

    @Slot(str, bytes, list)
    def _record(self, _member_id: str, frame: bytes, _notices: list[list[str]]) -> None:
        message = websocket_pb2.WebSocketMessage.FromString(frame)
        self.kinds.extend(item.kind for item in message.inbox_update.items)


@pytest.fixture
def clients() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


def _ana(harness: Harness, clients: BackgroundLoop, client_id: str = "ana-chromium") -> Browser:
    assert harness.controller.url is not None
    return Browser(clients, harness.controller.url, client_id, "Ana Lee")


def _wait_for_notices(harness: Harness, qtbot: QtBot, count: int) -> list[str]:
    qtbot.waitUntil(lambda: len(harness.notices) >= count, timeout=10000)
    return [title for title, _ in harness.notices]


def test_notifications_reach_the_person_in_the_browser(
    harness: Harness, qtbot: QtBot, clients: BackgroundLoop
) -> None:
    ana = _ana(harness, clients)
    sam = BoardPerson.invited(harness.recorder, "Sam", "editor")
    bo = BoardPerson.invited(harness.recorder, "Bo", "editor")
    try:
        project = sam.create_project("Website", "WEB")
        login = sam.create_task(project.id, "Fix the login page", assignee_id=ana.member_id)
        sam.comment(login.id, "The error shows on Safari only.")
        pricing = sam.create_task(project.id, "Update the pricing table")
        sam.comment(pricing.id, "@Ana Lee could you check the numbers?")
        sam.comment(pricing.id, "and @ana, the footer too")
        sam.assign(pricing, ana.member_id)
        # None of these is about Ana: someone else's task, a longer name, a LAN invitee.
        footer = sam.create_task(project.id, "Footer links", assignee_id=bo.member_id)
        sam.comment(footer.id, "ping @Anabel and @Bo")
        bo.comment(footer.id, "Thanks, done.")
        # The owner member (REST calls without a client) is the person at the desktop too.
        owner_id = harness.recorder.servers[-1].app[DOMAIN].owner_actor().member_id
        sam.create_task(project.id, "Renew the domain", assignee_id=owner_id)
        titles = _wait_for_notices(harness, qtbot, 6)
    finally:
        ana.close()
    assert titles == [
        "Sam assigned you WEB-1",
        "Sam commented on WEB-1 Fix the login page",
        "Sam mentioned you on WEB-2 Update the pricing table",
        "Sam mentioned you on WEB-2 Update the pricing table",
        "Sam assigned you WEB-2",
        "Sam assigned you WEB-4",
    ]
    assert harness.notices[1][1] == "The error shows on Safari only."


def test_no_notifications_for_ones_own_actions(
    harness: Harness, qtbot: QtBot, clients: BackgroundLoop
) -> None:
    handled = HandledEvents(harness.controller)
    ana = _ana(harness, clients)
    sam = BoardPerson.invited(harness.recorder, "Sam", "editor")
    firefox: Browser | None = None
    try:
        project = sam.create_project("Website", "WEB")
        mine = ana.create_task(project.id, "Write the release notes", assignee_id=ana.member_id)
        ana.comment(mine.id, "@Ana Lee note to self: add the screenshots")
        sams = sam.create_task(project.id, "Check the invoices")
        ana.assign(sams, ana.member_id)
        ana.comment(sams.id, "I'll take it, @Sam")
        # Let the notifier read who Ana is before her second browser exists (her mention of
        # Sam is the last inbox item so far, and it is Sam's).
        qtbot.waitUntil(lambda: Kind.INBOX_ITEM_KIND_MENTION in handled.kinds, timeout=10000)
        assert harness.notices == []
        # A second browser on this machine appears only now, after the first events were
        # read: it is the same person, so what it does to Ana is not news to her either.
        firefox = _ana(harness, clients, client_id="ana-firefox")
        firefox.create_task(project.id, "Draft the newsletter", assignee_id=ana.member_id)
        firefox.comment(mine.id, "@Ana remember the changelog")
        other = firefox.create_task(project.id, "Plan the launch", assignee_id=firefox.member_id)
        # Sam commenting on a task assigned to that second browser's member is for Ana, though.
        sam.comment(other.id, "Happy to review.")
        titles = _wait_for_notices(harness, qtbot, 1)
    finally:
        ana.close()
        if firefox is not None:
            firefox.close()
    # Events reach the Qt thread in order: once Sam's comment is in, Ana's are all behind it.
    assert titles == ["Sam commented on WEB-4 Plan the launch"]


def test_notifications_can_be_turned_off(
    harness: Harness, qtbot: QtBot, clients: BackgroundLoop
) -> None:
    harness.controller.actions["notifications"].setChecked(False)
    assert DesktopSettings.load(harness.data_dir).notifications is False
    handled = HandledEvents(harness.controller)
    ana = _ana(harness, clients)
    sam = BoardPerson.invited(harness.recorder, "Sam", "editor")
    try:
        project = sam.create_project("Website", "WEB")
        task = sam.create_task(project.id, "Fix the login page", assignee_id=ana.member_id)
        sam.comment(task.id, "@Ana Lee could you look at this today?")
    finally:
        ana.close()
    # The mention is the last item; once the controller handled it, it handled them all.
    qtbot.waitUntil(lambda: Kind.INBOX_ITEM_KIND_MENTION in handled.kinds, timeout=10000)
    assert handled.kinds == [Kind.INBOX_ITEM_KIND_ASSIGNED, Kind.INBOX_ITEM_KIND_MENTION]
    assert harness.notices == []


def test_invite_dialog_needs_a_name(harness: Harness) -> None:
    dialog = harness.controller.show_invite_dialog()
    dialog.name.setText("")
    dialog.create_link()
    assert "name" in dialog.status.text()
    assert not dialog.copy_button.isEnabled() and dialog.link.text() == ""
    dialog.close()


def test_invite_dialog_makes_a_link_with_qr_and_copies_it(tmp_path: Path, qtbot: QtBot) -> None:
    h = Harness(tmp_path, qtbot)
    h.controller.start()
    try:
        dialog = h.controller.show_invite_dialog()
        dialog.role.setCurrentIndex(dialog.role.findData(InviteRole.VIEWER))
        dialog.name.setText("Sam")
        dialog.create_button.click()
        handle = h.controller.handle
        assert handle is not None
        # Creating a link turns LAN sharing on first.
        [lan_url] = handle.lan_urls
        link = dialog.link.text()
        assert link.startswith(f"{lan_url}join") and len(link) > len(lan_url) + 30
        # The invite made Sam a member, as a viewer.
        people = {m.display_name: m.role for m in handle.members()}
        assert people.get("Sam") == entities_pb2.MemberRole.MEMBER_ROLE_VIEWER
        assert dialog.qr.pixmap() is not None and not dialog.qr.pixmap().isNull()
        dialog.copy_button.click()
        assert QGuiApplication.clipboard().text() == dialog.link.text()
        dialog.close()
    finally:
        h.controller.shutdown()


def test_record_traffic_records_then_says_where_it_went(harness: Harness, qtbot: QtBot) -> None:
    controller = harness.controller
    record = controller.actions["record"]
    assert record.isCheckable() and not record.isChecked()
    record.setChecked(True)  # as a click on the entry does
    assert harness.notices[-1][0] == "Recording traffic"
    url = controller.url
    assert url is not None
    health(url)  # traffic of a kind; the socket traffic is what gets recorded
    record.setChecked(False)
    qtbot.waitUntil(lambda: harness.notices[-1][0] == "Traffic recording saved", timeout=5000)
    message = harness.notices[-1][1]
    path = Path(message.rsplit("--recording ", 1)[1])
    assert path.parent == harness.data_dir.parent / "logs" and path.suffix == ".rec"
    assert list(read_recording(path.read_bytes())) == []  # no socket was open meanwhile
    assert not record.isChecked()


def test_a_recording_that_ends_on_its_own_unticks_the_switch(
    harness: Harness, qtbot: QtBot
) -> None:
    controller = harness.controller
    assert controller.handle is not None
    controller.actions["record"].setChecked(True)
    # The server ends it (as when its time is up): the tray hears of it and unticks.
    controller.handle.stop_recording()
    qtbot.waitUntil(lambda: not controller.actions["record"].isChecked(), timeout=5000)
    assert harness.notices[-1][0] == "Traffic recording saved"


def test_about_opens_the_diagnostics_page(harness: Harness) -> None:
    box = harness.controller.show_about()
    (button,) = [b for b in box.buttons() if b.text() == "Diagnostics…"]
    button.click()
    assert harness.opened == [f"{harness.controller.url}#/diagnostics"]
    box.close()


def qt_objects_held_by(root: object) -> list[object]:
    """The Qt objects ``root`` holds strongly: through closures, defaults, bound methods and
    containers (not a function's module globals, nor weak references)."""
    import types

    found, seen, todo = [], set(), [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType, str, bytes, int)):
            continue
        seen.add(id(obj))
        if type(obj).__module__.split(".")[0] in ("PySide6", "shiboken6") or isinstance(
            obj, QObject
        ):
            found.append(obj)
            continue
        if isinstance(obj, types.FunctionType):
            todo += [c.cell_contents for c in obj.__closure__ or () if c.cell_contents is not None]
            todo += list(obj.__defaults__ or ())
        elif isinstance(obj, (types.MethodType, types.BuiltinMethodType)):
            todo.append(obj.__self__)
        elif isinstance(obj, (list, tuple, set, frozenset, dict)):
            todo += list(obj.values() if isinstance(obj, dict) else obj)
    return found


def test_what_the_server_calls_back_holds_no_qt_object(harness: Harness) -> None:
    """The server's objects end up in cycles that the collector frees on the server's thread:
    a Qt object among them would be destroyed there, and deadlock Qt."""
    handle = harness.controller.handle
    assert handle is not None
    observers = [
        handle._inbox_observers,
        handle._people_observers,
        handle._recording_observers,
    ]
    assert all(observers)
    assert qt_objects_held_by(observers) == []
    # The helper does see a Qt object held strongly, as the callbacks once were.
    assert qt_objects_held_by([harness.controller.notice_shown.emit]) != []
