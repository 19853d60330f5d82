"""The tray menu: its entries in order, and how they show the app's state.

What each entry does is the controller's (``MenuActions``); this module only lays the
entries out and keeps their checks, texts and visibility in line with the state it is
shown. Entries are reached by key in ``actions`` ("open", "lan", "backup", ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import QMenu

from app.autostart import Autostart
from app.settings import DesktopSettings


class MenuActions(Protocol):
    """What the menu's entries call."""

    def open_board(self) -> None: ...
    def set_lan(self, enabled: bool) -> None: ...
    def copy_lan_address(self) -> None: ...
    def set_lan_tls(self, enabled: bool) -> None: ...
    def show_invite_dialog(self) -> object: ...
    def show_manage_invites(self) -> object: ...
    def set_autostart(self, enabled: bool) -> None: ...
    def set_notifications(self, enabled: bool) -> None: ...
    def open_data_folder(self) -> None: ...
    def backup_now(self) -> object: ...
    def choose_restore(self) -> object: ...
    def set_recording(self, enabled: bool) -> None: ...
    def show_about(self) -> object: ...
    def quit(self) -> None: ...


class TrayMenu:
    """The menu behind the tray icon."""

    def __init__(
        self, actions: MenuActions, settings: DesktopSettings, autostart: Autostart
    ) -> None:
        self.menu = QMenu()
        self.actions: dict[str, QAction] = {}
        self._build(actions, settings, autostart)

    def _add(self, key: str, text: str, slot: Callable[..., object] | None = None) -> QAction:
        action = QAction(text, self.menu)
        if slot is not None:
            action.triggered.connect(slot)
        self.menu.addAction(action)
        self.actions[key] = action
        return action

    def _build(self, to: MenuActions, settings: DesktopSettings, autostart: Autostart) -> None:
        open_board = self._add("open", "Open Tandem", to.open_board)
        font = QFont(open_board.font())
        font.setBold(True)
        open_board.setFont(font)
        self.menu.addSeparator()
        lan = self._add("lan", "Share on LAN")
        lan.setCheckable(True)
        lan.toggled.connect(to.set_lan)
        lan_address = self._add("lan_address", "", to.copy_lan_address)
        lan_address.setVisible(False)
        lan_tls = self._add("lan_tls", "Encrypt LAN connections (TLS)")
        lan_tls.setCheckable(True)
        lan_tls.setChecked(settings.lan_tls)
        lan_tls.setToolTip("Others on your network connect over HTTPS (self-signed certificate)")
        lan_tls.toggled.connect(to.set_lan_tls)
        self._add("invite", "Invite someone…", to.show_invite_dialog)
        self._add("manage_invites", "Manage invites…", to.show_manage_invites)
        people = self._add("people", "No one else connected")
        people.setEnabled(False)
        self.menu.addSeparator()
        login = self._add("autostart", "Start at login")
        login.setCheckable(True)
        login.setChecked(autostart.supported and autostart.is_enabled())
        login.setEnabled(autostart.supported)
        login.toggled.connect(to.set_autostart)
        notes = self._add("notifications", "Notifications")
        notes.setCheckable(True)
        notes.setChecked(settings.notifications)
        notes.toggled.connect(to.set_notifications)
        self._add("data_folder", "Open data folder", to.open_data_folder)
        self._add("backup", "Back up now", to.backup_now)
        self._add("restore", "Restore…", to.choose_restore)
        record = self._add("record", "Record traffic (1 minute)")
        record.setCheckable(True)
        record.setToolTip("Write the board's WebSocket traffic to a file, to decode later")
        record.toggled.connect(to.set_recording)
        self.menu.addSeparator()
        self._add("about", "About Tandem", to.show_about)
        self._add("quit", "Quit Tandem", to.quit)

    def set_checked_quietly(self, key: str, checked: bool) -> None:
        """Show a check without running the entry's action (the state changed elsewhere)."""
        action = self.actions[key]
        action.blockSignals(True)
        action.setChecked(checked)
        action.blockSignals(False)

    def show_state(self, *, lan_urls: Sequence[str], lan_tls: bool, people: Sequence[str]) -> None:
        """Bring the entries in line with the sharing state and who is connected."""
        shared = bool(lan_urls)
        self.set_checked_quietly("lan", shared)
        address = self.actions["lan_address"]
        address.setVisible(shared)
        address.setText(f"On your network: {lan_urls[0]}" if shared else "")
        address.setToolTip("Click to copy")
        self.set_checked_quietly("lan_tls", lan_tls)
        entry = self.actions["people"]
        if people:
            count = len(people)
            names = ", ".join(people[:5]) + ("…" if count > 5 else "")
            entry.setText(f"{count} connected now: {names}")
        else:
            entry.setText("No one connected now")

    def show_backup_running(self, running: bool) -> None:
        action = self.actions["backup"]
        action.setEnabled(not running)
        action.setText("Backing up…" if running else "Back up now")
