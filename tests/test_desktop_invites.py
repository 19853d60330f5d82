"""The tray's "Manage invites…": the list of invites, and revoking one from it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from app.autostart import Autostart
from app.controller import TrayController
from app.invites import InviteRole
from app.manage_invites import (
    ACTION,
    CREATED,
    LAST_USED,
    NAME,
    ROLE,
    STATUS,
    ManageInvitesDialog,
)
from app.settings import DesktopSettings
from server.config import ServerConfig
from tests.desktop_support import (
    BackgroundLoop,
    LanPeerRecorder,
    lan_peer_get,
    lan_peer_websocket,
    token_of,
)
from tests.fixtures import LAN_PEER

pytestmark = pytest.mark.desktop


@pytest.fixture
def tray(tmp_path: Path, qtbot: QtBot) -> Iterator[TrayController]:
    data_dir = tmp_path / "data"
    DesktopSettings(port=0).save(data_dir)
    controller = TrayController(
        data_dir,
        base_config=ServerConfig(data_dir=data_dir, lan_host=LAN_PEER),
        starter=LanPeerRecorder(),
        open_url=lambda _url: None,
        autostart=Autostart(home=tmp_path / "home", platform="linux", command=["tandem"]),
    )
    controller.start()
    yield controller
    controller.shutdown()


@pytest.fixture
def clients() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


def text(dialog: ManageInvitesDialog, row: int, column: int) -> str:
    item = dialog.table.item(row, column)
    assert item is not None
    return item.text()


def cells(dialog: ManageInvitesDialog, row: int) -> list[str]:
    return [text(dialog, row, column) for column in (NAME, ROLE, STATUS)]


def test_manage_invites_lists_them_and_revoking_one_cuts_that_person_off(
    tray: TrayController, qtbot: QtBot, clients: BackgroundLoop
) -> None:
    assert tray.actions["manage_invites"].text() == "Manage invites…"
    ana_link = tray.invite_link(InviteRole.VIEWER, "Ana")
    ben_link = tray.invite_link(InviteRole.EDITOR, "Ben")
    assert tray.handle is not None
    [lan_url] = tray.handle.lan_urls
    ana, ben = token_of(ana_link), token_of(ben_link)
    # Ana is on the board from another computer, live.
    assert lan_peer_get(lan_url, ana) == 200
    session, ana_ws = clients.run(lan_peer_websocket(lan_url, ana))

    tray.actions["manage_invites"].trigger()
    [dialog] = [d for d in tray._dialogs if isinstance(d, ManageInvitesDialog)]
    assert dialog.isVisible() and not dialog.empty.isVisible()
    assert dialog.table.rowCount() == 2
    assert cells(dialog, 0) == ["Ana", "Viewer", "Active"]
    assert cells(dialog, 1) == ["Ben", "Editor", "Active"]
    assert text(dialog, 0, CREATED)[:2] == "20"
    assert text(dialog, 0, LAST_USED) != "Never"
    assert text(dialog, 1, LAST_USED) == "Never"
    [ana_invite, ben_invite] = dialog.invites

    # Revoking asks first; saying no changes nothing.
    revoke = dialog.revoke_button(ana_invite.id)
    assert isinstance(revoke, QPushButton)
    revoke.click()
    assert dialog.confirmation is not None and "Ana" in dialog.confirmation.text()
    dialog.confirmation.reject()
    qtbot.waitUntil(lambda: dialog.confirmation is None, timeout=5000)
    assert cells(dialog, 0)[2] == "Active"
    assert lan_peer_get(lan_url, ana) == 200

    revoke.click()
    confirm = dialog.confirm_button()
    assert confirm is not None and confirm.text() == "Revoke"
    confirm.click()
    qtbot.waitUntil(lambda: cells(dialog, 0)[2].startswith("Revoked "), timeout=5000)
    assert cells(dialog, 1) == ["Ben", "Editor", "Active"]
    assert dialog.revoke_button(ana_invite.id) is None
    assert dialog.table.cellWidget(0, ACTION) is None
    assert dialog.revoke_button(ben_invite.id) is not None
    assert "Ana was revoked" in dialog.status.text()

    # Ana's open connection was closed, and her invite no longer lets her in.
    assert clients.run(ana_ws.wait_closed()) == 4403
    clients.run(session.close())
    assert lan_peer_get(lan_url, ana) == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        clients.run(lan_peer_websocket(lan_url, ana))
    assert refused.value.status == 401
    # Ben is not affected.
    assert lan_peer_get(lan_url, ben) == 200
    # A dialog opened afterwards reads the same from the database.
    again = tray.show_manage_invites()
    assert again is not None
    assert [cells(again, row)[2][:7] for row in range(2)] == ["Revoked", "Active"]
    dialog.close()
    again.close()


def test_manage_invites_says_when_there_are_none(tray: TrayController, qtbot: QtBot) -> None:
    dialog = tray.show_manage_invites()
    assert dialog is not None
    assert dialog.table.rowCount() == 0
    assert dialog.empty.isVisible() and not dialog.table.isVisible()
    assert "Invite someone" in dialog.empty.text()
    dialog.close()
