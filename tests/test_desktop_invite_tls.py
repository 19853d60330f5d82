"""The tray's invite dialog shows the certificate fingerprint when the LAN listener uses TLS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pytestqt.qtbot import QtBot

from app.autostart import Autostart
from app.controller import TrayController
from app.invites import InviteRole
from server.config import ServerConfig
from server.security import tls
from tests.desktop_support import Recorder

pytestmark = pytest.mark.desktop


def controller(tmp_path: Path, *, lan_tls: bool) -> TrayController:
    data_dir = tmp_path / "data"
    return TrayController(
        data_dir,
        log_path=tmp_path / "logs" / "tandem.log",
        base_config=ServerConfig(data_dir=data_dir, lan_host="127.0.0.2", lan_tls=lan_tls),
        starter=Recorder(),
        open_url=lambda _url: None,
        autostart=Autostart(home=tmp_path / "home", platform="linux", command=["tandem"]),
    )


def test_invite_dialog_shows_the_fingerprint_under_the_link_with_tls(
    tmp_path: Path, qtbot: QtBot
) -> None:
    tray = controller(tmp_path, lan_tls=True)
    tray.start()
    try:
        dialog = tray.show_invite_dialog()
        assert not dialog.fingerprint.isVisible()
        dialog.role.setCurrentIndex(dialog.role.findData(InviteRole.EDITOR))
        dialog.name.setText("Sam")
        dialog.create_button.click()
        assert tray.handle is not None
        [lan_url] = tray.handle.lan_urls
        assert lan_url.startswith("https://127.0.0.2:")
        assert dialog.link.text().startswith(f"{lan_url}join?token=")
        fingerprint = tls.known_fingerprint(tmp_path / "data")
        assert fingerprint and tray.handle.lan_fingerprint() == fingerprint
        assert dialog.fingerprint.isVisible()
        caption, *rows = dialog.fingerprint.text().splitlines()
        assert caption == "Certificate fingerprint:" and ":".join(rows) == fingerprint
        assert "fingerprint" in dialog.status.text()
        dialog.close()
    finally:
        tray.shutdown()


def test_invite_dialog_shows_no_fingerprint_over_plain_http(tmp_path: Path, qtbot: QtBot) -> None:
    tray = controller(tmp_path, lan_tls=False)
    tray.start()
    try:
        dialog = tray.show_invite_dialog()
        dialog.name.setText("Sam")
        dialog.create_button.click()
        assert dialog.link.text().startswith("http://127.0.0.2:")
        assert not dialog.fingerprint.isVisible() and dialog.fingerprint.text() == ""
        assert tray.handle is not None and tray.handle.lan_fingerprint() == ""
        dialog.close()
    finally:
        tray.shutdown()
