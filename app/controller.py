"""The tray app's logic: the server's lifecycle, the tray menu and what each entry does.

Everything here runs on the Qt thread. The server lives on its own thread behind a
``ServerHandle``; its callbacks only emit this object's signals, which Qt queues onto
the Qt thread. Working out a notification reads the server, so that runs on a worker
thread of its own and hands the result back by a signal too. Nothing needs a real
system tray, so tests drive this directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices, QFont, QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QMessageBox, QSystemTrayIcon
from tandem.v1 import entities_pb2, websocket_pb2

import server
from app import resources
from app.autostart import Autostart
from app.invite_dialog import InviteDialog
from app.invites import InviteRole, create_invite
from app.manage_invites import ManageInvitesDialog
from app.notify import Notifier
from app.settings import DesktopSettings
from app.updates import UpdateChecker
from server.config import ServerConfig
from server.handle import (
    ServerHandle,
    ServerNotRunningError,
    Starter,
    is_desktop_member,
    is_port_in_use,
)

log = logging.getLogger(__name__)

# Ports after the preferred one tried before asking the system for any free port.
PORT_ATTEMPTS = 10


def open_in_desktop(url: str) -> None:
    QDesktopServices.openUrl(QUrl(url))


class TrayController(QObject):
    """Owns the server handle and the tray icon with its menu."""

    # From the server's thread; connected (queued) to slots on the Qt thread.
    _event_arrived = Signal(bytes)
    _people_changed = Signal(list)
    _backup_done = Signal(str, str)  # (path, error): exactly one of them is empty
    # From the notice worker: (frame, title, message); title is empty when no notice.
    _event_handled = Signal(bytes, str, str)
    # A tray message was shown (title, message): for anyone who wants to know.
    notice_shown = Signal(str, str)

    def __init__(
        self,
        data_dir: Path,
        *,
        log_path: Path | None = None,
        base_config: ServerConfig | None = None,
        starter: Starter | None = None,
        open_url: Callable[[str], None] = open_in_desktop,
        autostart: Autostart | None = None,
        port_attempts: int = PORT_ATTEMPTS,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.log_path = log_path
        self.settings = DesktopSettings.load(data_dir)
        self._base_config = base_config or ServerConfig(data_dir=data_dir)
        self._starter = starter
        self._open_url = open_url
        self.autostart = autostart or Autostart()
        self._port_attempts = port_attempts
        self.handle: ServerHandle | None = None
        self.people: list[str] = []
        self._notifier: Notifier | None = None
        self._dialogs: list[QObject] = []
        self._stopped = False
        self._backup: Future[Path] | None = None
        # One worker, so events are judged in the order they were committed.
        self._notice_worker = ThreadPoolExecutor(1, thread_name_prefix="tandem-notices")

        self._event_arrived.connect(self._on_event)
        self._people_changed.connect(self._on_people)
        self._backup_done.connect(self._on_backup_done)
        self._event_handled.connect(self._on_event_handled)

        self.tray = QSystemTrayIcon(resources.app_icon())
        self.tray.setToolTip("Tandem (starting…)")
        self.tray.activated.connect(self._on_activated)
        self.menu = QMenu()
        self.actions: dict[str, QAction] = {}
        self._build_menu()
        self.tray.setContextMenu(self.menu)

    # Menu ---------------------------------------------------------------------------

    def _add(self, key: str, text: str, slot: Callable[..., object] | None = None) -> QAction:
        action = QAction(text, self.menu)
        if slot is not None:
            action.triggered.connect(slot)
        self.menu.addAction(action)
        self.actions[key] = action
        return action

    def _build_menu(self) -> None:
        open_board = self._add("open", "Open Tandem", self.open_board)
        font = QFont(open_board.font())
        font.setBold(True)
        open_board.setFont(font)
        self.menu.addSeparator()
        lan = self._add("lan", "Share on LAN")
        lan.setCheckable(True)
        lan.toggled.connect(self.set_lan)
        lan_address = self._add("lan_address", "", self.copy_lan_address)
        lan_address.setVisible(False)
        lan_tls = self._add("lan_tls", "Encrypt LAN connections (TLS)")
        lan_tls.setCheckable(True)
        lan_tls.setChecked(self.settings.lan_tls)
        lan_tls.setToolTip("Others on your network connect over HTTPS (self-signed certificate)")
        lan_tls.toggled.connect(self.set_lan_tls)
        self._add("invite", "Invite someone…", self.show_invite_dialog)
        self._add("manage_invites", "Manage invites…", self.show_manage_invites)
        people = self._add("people", "No one else connected")
        people.setEnabled(False)
        self.menu.addSeparator()
        login = self._add("autostart", "Start at login")
        login.setCheckable(True)
        login.setChecked(self.autostart.supported and self.autostart.is_enabled())
        login.setEnabled(self.autostart.supported)
        login.toggled.connect(self.set_autostart)
        notes = self._add("notifications", "Notifications")
        notes.setCheckable(True)
        notes.setChecked(self.settings.notifications)
        notes.toggled.connect(self.set_notifications)
        self._add("data_folder", "Open data folder", self.open_data_folder)
        self._add("backup", "Back up now", self.backup_now)
        self.updates = UpdateChecker(
            self.menu,
            enabled=self.settings.check_updates,
            on_toggle=self.set_check_updates,
            notify=self.notify,
            open_url=self._open_url,
        )
        self.menu.addSeparator()
        self._add("about", "About Tandem", self.show_about)
        self._add("quit", "Quit Tandem", self.quit)

    # Server lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> str:
        """Start the server (preferred port first, then the next ones); return its URL."""
        preferred = self.settings.port
        candidates = (
            [preferred + i for i in range(self._port_attempts) if preferred + i < 65536]
            if preferred
            else []
        )
        candidates.append(0)
        taken: list[int] = []
        for port in candidates:
            config = dataclasses.replace(
                self._base_config, port=port, lan_tls=self.settings.lan_tls
            )
            handle = ServerHandle(config, starter=self._starter)
            handle.add_event_observer(lambda m: self._event_arrived.emit(m.SerializeToString()))
            handle.add_people_observer(self._people_changed.emit)
            try:
                url = handle.start(timeout)
            except Exception as error:
                if is_port_in_use(error) and port != 0:
                    log.warning("port %d is in use, trying the next one", port)
                    taken.append(port)
                    continue
                raise
            self.handle = handle
            break
        else:  # pragma: no cover - port 0 either binds or raises
            raise RuntimeError("no port could be bound")
        bound = _port_of(url)
        if taken:
            self.notify(
                f"Port {taken[0]} is in use",
                f"Another program is using port {taken[0]}, so Tandem is at {url} instead.",
                QSystemTrayIcon.MessageIcon.Warning,
            )
        if bound and bound != self.settings.port:
            # Keep the address that worked, so bookmarks stay valid next time.
            self.settings.port = bound
            self.settings.save(self.data_dir)
        log.info("Tandem is running at %s", url)
        self.refresh()
        return url

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop the server gracefully and join its thread (safe to call twice)."""
        if self._stopped:
            return
        self._stopped = True
        self.updates.close()
        self._notice_worker.shutdown(wait=False, cancel_futures=True)
        for dialog in self._dialogs:
            dialog.deleteLater()
        self._dialogs.clear()
        self.tray.hide()
        if self.handle is not None:
            log.info("stopping the server")
            if not self.handle.stop(timeout):
                log.error("the server thread did not end within %g s", timeout)
        # Its last job, if any, ends quickly now: the server's calls fail once it stopped.
        self._notice_worker.shutdown(wait=True)

    @property
    def url(self) -> str | None:
        return self.handle.url if self.handle is not None and self.handle.is_running else None

    # Actions -----------------------------------------------------------------------------

    @Slot()
    def open_board(self) -> None:
        if self.url:
            self._open_url(self.url)

    @Slot(bool)
    def set_lan(self, enabled: bool) -> None:
        if self.handle is None:
            return
        try:
            self.handle.set_lan(enabled, tls=self.settings.lan_tls)
        except Exception as error:
            log.exception("Share on LAN failed")
            self.notify(
                "Could not change LAN sharing", str(error), QSystemTrayIcon.MessageIcon.Warning
            )
        self.refresh()

    @Slot(bool)
    def set_lan_tls(self, enabled: bool) -> None:
        """Remember the choice; while sharing, share again at once with it."""
        self.settings.lan_tls = enabled
        self.settings.save(self.data_dir)
        if self.handle is None or not self.handle.lan_urls:
            return
        try:
            # Everyone connected from the network is disconnected: nobody carries on
            # unencrypted. Links keep the address and port; only the scheme changes.
            self.handle.set_lan(True, tls=enabled)
        except Exception as error:
            log.exception("Switching TLS failed")
            self.settings.lan_tls = not enabled
            self.settings.save(self.data_dir)
            self.notify(
                "Could not change LAN encryption", str(error), QSystemTrayIcon.MessageIcon.Warning
            )
        self.refresh()

    @Slot()
    def copy_lan_address(self) -> None:
        urls = self.handle.lan_urls if self.handle is not None else []
        if urls:
            QGuiApplication.clipboard().setText(urls[0])

    @Slot(bool)
    def set_autostart(self, enabled: bool) -> None:
        try:
            self.autostart.set_enabled(enabled)
        except OSError as error:
            log.exception("Start at login failed")
            self.notify("Could not change Start at login", str(error))
        action = self.actions["autostart"]
        action.blockSignals(True)
        action.setChecked(self.autostart.is_enabled())
        action.blockSignals(False)

    @Slot(bool)
    def set_notifications(self, enabled: bool) -> None:
        self.settings.notifications = enabled
        self.settings.save(self.data_dir)

    def set_check_updates(self, enabled: bool) -> None:
        self.settings.check_updates = enabled
        self.settings.save(self.data_dir)

    @Slot()
    def open_data_folder(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._open_url(self.data_dir.as_uri())

    @Slot()
    def backup_now(self) -> Future[Path] | None:
        """Start an online backup and return at once; a notification says where it went.

        The backup runs on the server's database thread, so the tray stays responsive
        however large the database is. Returns the backup's future (None if none started).
        """
        if self.handle is None or self._backup is not None:
            return None
        try:
            future = self.handle.start_backup()
        except Exception as error:
            log.exception("backup failed")
            self._on_backup_done("", str(error) or type(error).__name__)
            return None
        self._backup = future
        action = self.actions["backup"]
        action.setEnabled(False)
        action.setText("Backing up…")
        future.add_done_callback(self._backup_settled)
        return future

    def _backup_settled(self, future: Future[Path]) -> None:
        # Called on the server's thread: hand the outcome to the Qt thread, do nothing else.
        if future.cancelled():
            self._backup_done.emit("", "the backup was cancelled")
            return
        error = future.exception()
        if error is not None:
            log.error("backup failed", exc_info=error)
            self._backup_done.emit("", str(error) or type(error).__name__)
        else:
            self._backup_done.emit(str(future.result()), "")

    @Slot(str, str)
    def _on_backup_done(self, path: str, error: str) -> None:
        self._backup = None
        action = self.actions["backup"]
        action.setText("Back up now")
        action.setEnabled(True)
        if error:
            self.notify("Backup failed", error, QSystemTrayIcon.MessageIcon.Critical)
        else:
            self.notify("Backup saved", path)

    def invite_link(self, role: InviteRole, name: str = "") -> str:
        """Turn on LAN sharing if needed, then make an invite link."""
        assert self.handle is not None
        if not self.handle.lan_urls:
            self.actions["lan"].setChecked(True)
        return create_invite(self.handle, role, name)

    @Slot()
    def show_invite_dialog(self) -> InviteDialog:
        shared = bool(self.handle and self.handle.lan_urls)
        note = "" if shared else "Creating a link turns on Share on LAN."
        dialog = InviteDialog(
            self.invite_link,
            lan_note=note,
            icon=resources.app_icon(),
            fingerprint=lambda: self.handle.lan_fingerprint() if self.handle is not None else "",
        )
        self._present(dialog)
        return dialog

    @Slot()
    def show_manage_invites(self) -> ManageInvitesDialog | None:
        handle = self.handle
        if handle is None:
            return None
        dialog = ManageInvitesDialog(
            handle.list_invites, handle.revoke_invite, icon=resources.app_icon()
        )
        self._present(dialog)
        return dialog

    def _present(self, dialog: QDialog) -> None:
        """Show a dialog in front and keep it alive until it closes."""
        dialog.finished.connect(lambda _: self._forget(dialog))
        self._dialogs.append(dialog)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def about_text(self) -> str:
        log_path = str(self.log_path) if self.log_path else "(not logging to a file)"
        return (
            f"<b>Tandem {server.__version__}</b><br>A project board, shared live on your "
            f"network.<br><br>Board: {self.url or 'not running'}<br>"
            f"Data: {self.data_dir}<br>Log: {log_path}"
        )

    @Slot()
    def show_about(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "About Tandem", self.about_text())
        box.setIconPixmap(resources.app_icon().pixmap(64, 64))
        box.setWindowIcon(resources.app_icon())
        box.finished.connect(lambda _: self._forget(box))
        self._dialogs.append(box)
        box.open()
        return box

    @Slot()
    def quit(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.quit()
        else:
            self.shutdown()

    def _forget(self, dialog: QObject) -> None:
        if dialog in self._dialogs:
            self._dialogs.remove(dialog)
        dialog.deleteLater()

    # Tray state ------------------------------------------------------------------------

    def notify(
        self,
        title: str,
        message: str,
        icon: QSystemTrayIcon.MessageIcon = QSystemTrayIcon.MessageIcon.Information,
    ) -> None:
        log.info("notice: %s: %s", title, message)
        if self.tray.isVisible():
            self.tray.showMessage(title, message, icon, 8000)
        self.notice_shown.emit(title, message)

    def refresh(self) -> None:
        """Bring the icon, tooltip and menu in line with the server's state."""
        lan_urls = self.handle.lan_urls if self.handle is not None else []
        shared = bool(lan_urls)
        lan = self.actions["lan"]
        lan.blockSignals(True)
        lan.setChecked(shared)
        lan.blockSignals(False)
        address = self.actions["lan_address"]
        address.setVisible(shared)
        address.setText(f"On your network: {lan_urls[0]}" if shared else "")
        address.setToolTip("Click to copy")
        lan_tls = self.actions["lan_tls"]
        lan_tls.blockSignals(True)
        lan_tls.setChecked(self.settings.lan_tls)
        lan_tls.blockSignals(False)
        self.tray.setIcon(resources.app_icon(shared_on_lan=shared))
        people = self.actions["people"]
        if self.people:
            count = len(self.people)
            names = ", ".join(self.people[:5]) + ("…" if count > 5 else "")
            people.setText(f"{count} connected now: {names}")
        else:
            people.setText("No one connected now")
        self.tray.setToolTip(self.tooltip())

    def tooltip(self) -> str:
        if self.url is None:
            return "Tandem (not running)"
        lines = [f"Tandem at {self.url}"]
        lan_urls = self.handle.lan_urls if self.handle is not None else []
        if lan_urls:
            lines.append(f"Shared on LAN: {lan_urls[0]}")
        count = len(self.people)
        lines.append(f"{count} {'person' if count == 1 else 'people'} connected")
        return "\n".join(lines)

    @Slot(list)
    def _on_people(self, names: list[str]) -> None:
        self.people = list(names)
        self.refresh()

    @Slot(bytes)
    def _on_event(self, frame: bytes) -> None:
        handle = self.handle
        if self._stopped or handle is None:
            return
        if not self.settings.notifications:
            self._event_handled.emit(frame, "", "")
            return
        notifier = self._notifier or self._make_notifier(handle)
        # Reading tasks and members waits on the server: never on the Qt thread.
        # A worker already shut down means the app is quitting.
        with contextlib.suppress(RuntimeError):
            self._notice_worker.submit(self._judge, notifier, frame)

    def _judge(self, notifier: Notifier, frame: bytes) -> None:
        """On the notice worker: work out the notice, then hand it to the Qt thread."""
        message = websocket_pb2.WebSocketMessage()
        message.ParseFromString(frame)
        title = body = ""
        try:
            notice = notifier.notice_for(message)
        except ServerNotRunningError:
            notice = None
        except Exception:
            log.exception("could not make a notification")
            notice = None
        if notice is not None:
            title, body = notice.title, notice.message
        self._event_handled.emit(frame, title, body)

    @Slot(bytes, str, str)
    def _on_event_handled(self, _frame: bytes, title: str, message: str) -> None:
        if title and self.settings.notifications and not self._stopped:
            self.notify(title, message)

    def _make_notifier(self, handle: ServerHandle) -> Notifier:
        def get_task(task_id: str) -> entities_pb2.Task | None:
            try:
                return handle.get_task(task_id)
            except Exception:
                return None

        self._notifier = Notifier(
            members=handle.members, is_desktop_member=is_desktop_member, get_task=get_task
        )
        return self._notifier

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # A left click opens the board (Windows, Linux); macOS shows the menu itself.
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.open_board()


def _port_of(url: str) -> int | None:
    return QUrl(url).port() if QUrl(url).port() > 0 else None
