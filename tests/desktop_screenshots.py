"""Screenshots of the real tray menu and the invite dialog (run under an X server with a tray).

Usage: ``DISPLAY=:91 python -m tests.desktop_screenshots OUT_DIR DATA_DIR``. Uses the
real server on loopback (127.0.0.2 stands in for the LAN address) and ImageMagick's
``import`` to grab the screen. Prints one line per file written.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QPoint, QTimer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from app.autostart import Autostart
from app.controller import TrayController
from server.config import ServerConfig
from server.runner import RunningServer, start_server


class PreviewInvites(RunningServer):
    """For the preview shot only: a link of the documented shape, until invites land."""

    async def create_invite(self, role: str, name: str = "") -> str:
        return f"{self.lan_urls[0]}join#invite=preview-{role}"


async def start_with_preview_invites(config: ServerConfig) -> RunningServer:
    running = await start_server(config)
    if not hasattr(running, "create_invite"):
        running.__class__ = PreviewInvites
    return running


def pump(app: QApplication, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def grab(out: Path, crop: str | None = None) -> None:
    cmd = ["import", "-window", "root"]
    if crop:
        cmd += ["-crop", crop]
    subprocess.run([*cmd, str(out)], check=True, timeout=30)
    print(out, flush=True)


def main() -> int:
    out_dir, data_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    if not QSystemTrayIcon.isSystemTrayAvailable():
        print("no system tray", file=sys.stderr)
        return 2
    controller = TrayController(
        data_dir,
        log_path=data_dir / "tandem.log",
        base_config=ServerConfig(data_dir=data_dir, lan_host="127.0.0.2"),
        starter=start_with_preview_invites,
        open_url=lambda _: None,
        autostart=Autostart(home=data_dir / "home"),
    )
    try:
        controller.start()
        controller.tray.show()
        controller.actions["lan"].setChecked(True)
        controller._on_people(["Ann", "Sam"])
        pump(app, 1.5)
        grab(out_dir / "tray-icon.png", "300x40+0+0")
        geometry = controller.tray.geometry()
        controller.menu.popup(geometry.bottomLeft() + QPoint(0, 4))
        pump(app, 1.0)
        grab(out_dir / "tray-menu.png", "560x420+0+0")
        controller.menu.hide()
        dialog = controller.show_invite_dialog()
        dialog.move(40, 60)
        pump(app, 0.5)
        dialog.name.setText("Sam")
        dialog.create_link()
        pump(app, 1.0)
        grab(out_dir / "invite-dialog.png", "640x720+0+0")
        dialog.close()
        QTimer.singleShot(0, app.quit)
    finally:
        controller.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
