"""Screenshots of the tray menu and the invite dialog under Xvfb with a real tray host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "artifacts" / "screenshots"
DISPLAY = ":91"


def _wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def x_with_tray() -> Iterator[dict[str, str]]:
    missing = [t for t in ("Xvfb", "trayer", "import", "xdpyinfo") if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} (apt-get install xvfb trayer imagemagick x11-utils)"
        )
    env = dict(os.environ, DISPLAY=DISPLAY)
    env.pop("QT_QPA_PLATFORM", None)
    xvfb = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
    procs = [xvfb]
    try:
        up = _wait_for(
            lambda: subprocess.run(["xdpyinfo"], env=env, capture_output=True).returncode == 0, 15
        )
        assert up, "Xvfb did not start"
        trayer = subprocess.Popen(
            [
                "trayer",
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
            ],
            env=env,
        )
        procs.append(trayer)
        yield env
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_tray_menu_and_invite_dialog_screenshots(
    x_with_tray: dict[str, str], tmp_path: Path
) -> None:
    for name in ("tray-icon.png", "tray-menu.png", "invite-dialog.png"):
        (OUT / name).unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "tests.desktop_screenshots", str(OUT), str(tmp_path / "data")],
        env=x_with_tray,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    for name in ("tray-icon.png", "tray-menu.png", "invite-dialog.png"):
        assert (OUT / name).stat().st_size > 0
