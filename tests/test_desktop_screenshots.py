"""Screenshots of the tray menu, the invite dialog and the invites list under Xvfb with a
real tray host."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop_support import missing_x_tools, x_screen_with_tray

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "artifacts" / "screenshots"
SHOTS = (
    "tray-icon.png",
    "tray-menu.png",
    "invite-dialog.png",
    "revoke-question.png",
    "manage-invites.png",
)


@pytest.fixture
def x_with_tray() -> Iterator[dict[str, str]]:
    missing = missing_x_tools() + ([] if shutil.which("import") else ["import"])
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} (apt-get install xvfb trayer imagemagick x11-utils)"
        )
    with x_screen_with_tray() as env:
        yield env


def test_tray_menu_invite_dialog_and_invites_list_screenshots(
    x_with_tray: dict[str, str], tmp_path: Path
) -> None:
    for name in SHOTS:
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
    for name in SHOTS:
        assert (OUT / name).stat().st_size > 0
