"""``tandem --quit`` (what installers run before an upgrade) against an instance in this
process: the real command, over the real local socket, waiting for the lock to go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pytestqt.qtbot import QtBot

from app.instance import QuitListener, SingleInstance

pytestmark = pytest.mark.desktop


def tandem_quit(data_dir: Path, timeout: float = 5.0) -> subprocess.Popen[str]:
    command = Path(sys.executable).with_name("tandem")
    if not command.exists():
        pytest.skip("the tandem command is not installed (pip install -e .)")
    return subprocess.Popen(
        [str(command), "--quit"],
        env={**os.environ, "TANDEM_DATA_DIR": str(data_dir)},
        stderr=subprocess.PIPE,
        text=True,
    )


def test_quit_asks_the_running_instance_and_waits_until_it_is_gone(
    qtbot: QtBot, tmp_path: Path
) -> None:
    instance = SingleInstance(tmp_path)
    assert instance.acquire()
    asked: list[str] = []

    def on_quit() -> None:
        asked.append("quit")
        instance.release()

    listener = QuitListener(tmp_path, on_quit)
    try:
        assert listener.listening
        proc = tandem_quit(tmp_path)
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30_000)
        assert asked == ["quit"]
        assert proc.returncode == 0
        assert proc.stderr is not None and "Tandem has quit" in proc.stderr.read()
    finally:
        listener.close()
        instance.release()


def test_quit_reports_an_instance_that_will_not_quit(qtbot: QtBot, tmp_path: Path) -> None:
    instance = SingleInstance(tmp_path)
    assert instance.acquire()
    listener = QuitListener(tmp_path, lambda: None)  # accepts, but never lets go of the lock
    try:
        from app.instance import request_quit

        lines: list[str] = []
        # In this thread the listener cannot answer, so this also covers a hung instance.
        assert request_quit(tmp_path, timeout=1.0, out=lines.append) == 1
        assert lines[-1] == (
            "tandem: Tandem is still running; quit it from its tray menu and try again"
        )
    finally:
        listener.close()
        instance.release()


def test_quit_with_nothing_running_succeeds_at_once(tmp_path: Path) -> None:
    proc = tandem_quit(tmp_path)
    _, stderr = proc.communicate(timeout=30)
    assert (proc.returncode, stderr.strip()) == (0, "tandem: Tandem is not running")
