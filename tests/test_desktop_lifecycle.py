"""The desktop app stops gracefully: sockets closed with 1001, acknowledged changes kept,
the WAL checkpointed, and (under SIGTERM) the process exits 0.

One test drives the controller's shutdown in-process (offscreen Qt); the other runs the
real ``tandem`` command under Xvfb with a tray host and sends it SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pytestqt.qtbot import QtBot

from app.autostart import Autostart
from app.controller import TrayController
from app.settings import DesktopSettings
from server import paths
from server.config import ServerConfig
from tests.desktop_support import (
    BackgroundLoop,
    missing_x_tools,
    opened_urls,
    port_is_listening,
    recording_opener,
    wait_for,
    x_screen_with_tray,
)
from tests.ws_client import WsClient, make_project

pytestmark = pytest.mark.desktop

GOING_AWAY = 1001


@pytest.fixture
def clients() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


async def connect(url: str, name: str) -> tuple[aiohttp.ClientSession, WsClient]:
    session = aiohttp.ClientSession()
    client = await WsClient.connect(session, url.replace("http://", "ws://") + "ws", name=name)
    return session, client


async def create_project(client: WsClient, name: str, key: str) -> str:
    """A change made over the socket; returns its id once the server acknowledged it."""
    return str((await make_project(client, key, name)).id)


def assert_stopped_cleanly(data_dir: Path, project_id: str) -> None:
    database = paths.database_path(data_dir)
    wal = database.with_name(database.name + "-wal")
    # Checked before opening the database: a reader in WAL mode makes a new -wal file.
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL was not checkpointed"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        found = db.execute("SELECT name FROM project WHERE id = ?", (project_id,)).fetchall()
    assert found == [("Launch",)]


def test_shutdown_closes_sockets_with_1001_and_checkpoints(
    tmp_path: Path, qtbot: QtBot, clients: BackgroundLoop
) -> None:
    data_dir = tmp_path / "data"
    DesktopSettings(port=0).save(data_dir)
    controller = TrayController(
        data_dir,
        base_config=ServerConfig(data_dir=data_dir),
        open_url=lambda _: None,
        autostart=Autostart(home=tmp_path / "home", platform="linux", command=["tandem"]),
    )
    url = controller.start()
    session, client = clients.run(connect(url, "Ann"))
    try:
        project_id = clients.run(create_project(client, "Launch", "LCH"))
        controller.shutdown()
        assert clients.run(client.wait_closed()) == GOING_AWAY
    finally:
        controller.shutdown()
        clients.run(session.close())
    assert not port_is_listening("127.0.0.1", int(url.rstrip("/").rsplit(":", 1)[1]))
    assert_stopped_cleanly(data_dir, project_id)


@pytest.fixture
def x_with_tray() -> Iterator[dict[str, str]]:
    missing = missing_x_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb trayer x11-utils)")
    with x_screen_with_tray() as env:
        yield env


def tandem_command() -> Path:
    command = Path(sys.executable).with_name("tandem")
    if not command.exists():
        pytest.skip("the tandem command is not installed (pip install -e .)")
    return command


def test_sigterm_stops_the_tray_app_gracefully(
    x_with_tray: dict[str, str], tmp_path: Path, clients: BackgroundLoop
) -> None:
    data_dir = tmp_path / "data"
    DesktopSettings(port=0, notifications=False).save(data_dir)
    # Opening the board records the address instead of starting a real browser.
    opener, opened = recording_opener(tmp_path / "opener")
    env = dict(
        x_with_tray,
        **opener,
        TANDEM_DATA_DIR=str(data_dir),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    proc = subprocess.Popen(
        [str(tandem_command())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        instance = data_dir / "instance.json"

        def published() -> bool:
            if proc.poll() is not None:
                return True
            try:
                return bool(json.loads(instance.read_text())["url"])
            except (OSError, ValueError, KeyError):
                return False

        assert wait_for(published, 60), "the tray app did not publish its address"
        assert proc.poll() is None, proc.communicate(timeout=10)
        url = json.loads(instance.read_text())["url"]
        # Once ready, the app opened the board.
        assert wait_for(lambda: opened_urls(opened) == [url], 30), opened_urls(opened)
        session, client = clients.run(connect(url, "Ann"))
        try:
            project_id = clients.run(create_project(client, "Launch", "LCH"))
            proc.send_signal(signal.SIGTERM)
            assert clients.run(client.wait_closed()) == GOING_AWAY
        finally:
            clients.run(session.close())
        # communicate() waits for the exit, draining the pipes meanwhile.
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert_stopped_cleanly(data_dir, project_id)
    # The lock and address of a stopped instance are gone, so the next start is clean.
    assert not instance.exists() and not (data_dir / "tandem.lock").exists()
