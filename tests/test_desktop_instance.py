"""One Tandem per data folder, a stale lock after a crash, and the no-tray fallback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pytestqt.qtbot import QtBot

from app.instance import LOCK_FILE, SingleInstance
from app.main import open_running_instance

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parent.parent

HOLD_LOCK = """
import sys, time
from PySide6.QtCore import QLockFile
lock = QLockFile(sys.argv[1])
assert lock.tryLock(0)
print("locked", flush=True)
time.sleep(120)
"""


def test_second_instance_opens_the_running_board(tmp_path: Path) -> None:
    first = SingleInstance(tmp_path)
    assert first.acquire()
    first.publish("http://127.0.0.1:8765/")
    second = SingleInstance(tmp_path)
    assert not second.acquire()
    # The running board is taken to answer; the check itself is the health probe.
    assert second.wait_for_running(5, check=lambda url: True) == "http://127.0.0.1:8765/"
    first.release()
    assert second.acquire()
    second.release()


def test_open_running_instance_uses_the_published_address(tmp_path: Path, qtbot: QtBot) -> None:
    from app.controller import TrayController

    controller = TrayController(tmp_path / "data", open_url=lambda _: None)
    url = controller.start()
    try:
        first = SingleInstance(tmp_path / "data")
        assert first.acquire()
        first.publish(url)
        second = SingleInstance(tmp_path / "data")
        assert not second.acquire()
        opened: list[str] = []
        assert open_running_instance(second, opened.append, timeout=10)
        assert opened == [url]
        first.release()
    finally:
        controller.shutdown()


def test_no_answer_from_the_lock_holder_gives_up(tmp_path: Path) -> None:
    first = SingleInstance(tmp_path)
    assert first.acquire()
    second = SingleInstance(tmp_path)
    assert not second.acquire()
    assert not open_running_instance(second, lambda _: None, timeout=0.3)
    first.release()


def test_stale_lock_from_a_crash_does_not_block_start(tmp_path: Path) -> None:
    lock_path = tmp_path / LOCK_FILE
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert not SingleInstance(tmp_path).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)
    assert lock_path.exists()
    instance = SingleInstance(tmp_path)
    assert instance.acquire()
    instance.release()


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        TANDEM_DATA_DIR=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        # The fallback's --open must not start a real browser.
        BROWSER="true",
    )
    env.pop("DISPLAY", None)
    return env


def test_no_tray_raises_no_tray_error(tmp_path: Path) -> None:
    code = (
        "from app.main import main, NoTrayError\n"
        "try:\n    main()\nexcept NoTrayError as e:\n    print('NoTrayError:', e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "NoTrayError: No system tray" in done.stdout, done.stderr
    # The lock was released on the way out.
    assert SingleInstance(tmp_path / "data").acquire()


def test_tandem_without_a_tray_runs_the_server_instead(tmp_path: Path) -> None:
    tandem = Path(sys.executable).with_name("tandem")
    if not tandem.exists():
        pytest.skip("the tandem command is not installed in this environment")
    proc = subprocess.Popen(
        [str(tandem)],
        env=_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Tandem is running at http://"), line
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "running as `tandem serve --open` instead" in err
    assert proc.returncode == 0
