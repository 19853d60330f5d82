"""Screenshots of the real tray menu, the invite dialog and the invites list (run under an X
server with a tray).

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
from app.invites import InviteRole
from server.config import ServerConfig


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
        open_url=lambda _: None,
        autostart=Autostart(home=data_dir / "home"),
    )
    try:
        controller.start()
        controller.tray.show()
        controller.actions["lan_tls"].setChecked(True)
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
        controller.invite_link(InviteRole.VIEWER, "Ana Lee")
        controller.invite_link(InviteRole.EDITOR, "Ben")
        invites = controller.show_manage_invites()
        assert invites is not None
        invites.move(40, 60)
        pump(app, 0.5)
        ana = next(i for i in invites.invites if i.name == "Ana Lee")
        invites.ask_to_revoke(ana)
        pump(app, 1.0)
        grab(out_dir / "revoke-question.png", "900x600+0+0")
        confirm = invites.confirm_button()
        assert confirm is not None
        confirm.click()
        pump(app, 1.0)
        grab(out_dir / "manage-invites.png", "900x600+0+0")
        invites.close()
        QTimer.singleShot(0, app.quit)
    finally:
        controller.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
