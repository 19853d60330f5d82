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

import aiohttp
import pytest
from tandem.v1 import entities_pb2, websocket_pb2

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

import server
from app.autostart import RUN_KEY, RUN_VALUE, Autostart
from app.controller import TrayController
from app.invites import InviteRole
from app.settings import DesktopSettings
from server.config import ServerConfig
from tests.desktop_support import (
    BackgroundLoop,
    Recorder,
    hold_database_thread,
    port_is_listening,
    sam_assigns_and_mentions_owner,
    taken_port,
)
from tests.ws_client import WsClient

pytestmark = pytest.mark.desktop


def health(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url + "api/health", timeout=5) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


class Opened(list[str]):
    """Stands in for the desktop's URL opener (browser, file manager)."""


class Harness:
    def __init__(self, tmp_path: Path, qtbot: QtBot, port: int = 0) -> None:
        self.data_dir = tmp_path / "data"
        self.home = tmp_path / "home"
        self.opened = Opened()
        self.notices: list[tuple[str, str]] = []
        self.recorder = Recorder()
        DesktopSettings(port=port).save(self.data_dir)
        self.controller = TrayController(
            self.data_dir,
            log_path=tmp_path / "logs" / "tandem.log",
            base_config=ServerConfig(data_dir=self.data_dir, lan_host="127.0.0.2"),
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


def test_notifications_for_assignment_and_mention(harness: Harness, qtbot: QtBot) -> None:
    sam_assigns_and_mentions_owner(harness.recorder)
    qtbot.waitUntil(lambda: len(harness.notices) >= 2, timeout=10000)
    titles = [t for t, _ in harness.notices]
    assert any(t.startswith("Sam assigned you") for t in titles)
    assert any(t.startswith("Sam mentioned you on") and "Fix the login page" in t for t in titles)


def test_notifications_can_be_turned_off(harness: Harness, qtbot: QtBot) -> None:
    harness.controller.actions["notifications"].setChecked(False)
    assert DesktopSettings.load(harness.data_dir).notifications is False
    frames: list[bytes] = []
    harness.controller._event_arrived.connect(frames.append)
    sam_assigns_and_mentions_owner(harness.recorder)

    def comment_arrived() -> bool:
        return any(
            websocket_pb2.WebSocketMessage.FromString(f).HasField("comment_added") for f in frames
        )

    # The comment is the last event; once it reached the Qt thread, all of them have.
    qtbot.waitUntil(comment_arrived, timeout=10000)
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
