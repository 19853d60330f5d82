"""The tray's TLS switch, and the invite dialog showing the certificate fingerprint with TLS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pytestqt.qtbot import QtBot

from app.autostart import Autostart
from app.controller import TrayController
from app.invites import InviteRole
from app.settings import DesktopSettings
from server.config import ServerConfig
from server.security import tls
from tests.desktop_support import Recorder

pytestmark = pytest.mark.desktop


def controller(tmp_path: Path, *, lan_tls: bool) -> TrayController:
    data_dir = tmp_path / "data"
    DesktopSettings(port=0, lan_tls=lan_tls).save(data_dir)
    return TrayController(
        data_dir,
        log_path=tmp_path / "logs" / "tandem.log",
        base_config=ServerConfig(data_dir=data_dir, lan_host="127.0.0.2"),
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
        assert tray.actions["lan_tls"].isChecked()
        dialog = tray.show_invite_dialog()
        assert not dialog.fingerprint.isVisible()
        dialog.role.setCurrentIndex(dialog.role.findData(InviteRole.EDITOR))
        dialog.name.setText("Sam")
        dialog.create_button.click()
        assert tray.handle is not None
        [lan_url] = tray.handle.lan_urls
        assert lan_url.startswith("https://127.0.0.2:")
        assert dialog.link.text().startswith(f"{lan_url}join?token=")
        # The field shows the link's start (the address), not the end of the token.
        assert dialog.link.cursorPosition() == 0
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


def test_encrypt_lan_connections_switches_sharing_to_https_and_back(
    tmp_path: Path, qtbot: QtBot
) -> None:
    tray = controller(tmp_path, lan_tls=False)
    tray.start()
    try:
        assert tray.handle is not None
        encrypt, address = tray.actions["lan_tls"], tray.actions["lan_address"]
        assert encrypt.isCheckable() and not encrypt.isChecked()
        # Switched on while not sharing: remembered, and nothing is shared yet.
        encrypt.setChecked(True)
        assert DesktopSettings.load(tmp_path / "data").lan_tls
        assert tray.handle.lan_urls == []
        tray.actions["lan"].setChecked(True)
        [secure] = tray.handle.lan_urls
        assert secure.startswith("https://127.0.0.2:")
        assert address.text() == f"On your network: {secure}"

        # Switched off while sharing: sharing starts again at once, over plain HTTP,
        # on the same address and port.
        encrypt.setChecked(False)
        [plain] = tray.handle.lan_urls
        assert plain == secure.replace("https://", "http://")
        assert address.text() == f"On your network: {plain}"
        assert not DesktopSettings.load(tmp_path / "data").lan_tls
        dialog = tray.show_invite_dialog()
        dialog.name.setText("Sam")
        dialog.create_button.click()
        assert dialog.link.text().startswith(f"{plain}join?token=")
        assert not dialog.fingerprint.isVisible()

        # And on again: the scheme is https and the fingerprint appears with the link.
        encrypt.setChecked(True)
        assert tray.handle.lan_urls == [secure]
        assert address.text() == f"On your network: {secure}"
        fingerprint = tls.known_fingerprint(tmp_path / "data")
        assert fingerprint and tray.handle.lan_fingerprint() == fingerprint
        dialog.name.setText("Ana")
        dialog.create_button.click()
        assert dialog.link.text().startswith(f"{secure}join?token=")
        assert dialog.fingerprint.isVisible()
        assert ":".join(dialog.fingerprint.text().splitlines()[1:]) == fingerprint
        dialog.close()
    finally:
        tray.shutdown()
    # The next start shares with the choice made last.
    again = controller_from_saved(tmp_path)
    assert again.actions["lan_tls"].isChecked()
    again.shutdown()


def controller_from_saved(tmp_path: Path) -> TrayController:
    data_dir = tmp_path / "data"
    return TrayController(
        data_dir,
        base_config=ServerConfig(data_dir=data_dir, lan_host="127.0.0.2"),
        starter=Recorder(),
        open_url=lambda _url: None,
        autostart=Autostart(home=tmp_path / "home", platform="linux", command=["tandem"]),
    )
