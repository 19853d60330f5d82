"""The tray app's logic: what each menu entry does, and the tray icon kept up to date.

Everything here runs on the Qt thread. The server lives on its own thread behind a
``ServerHandle`` (started by ``app.supervisor``); its callbacks only emit this object's
signals, which Qt queues onto the Qt thread. The menu's layout is ``app.tray_menu``'s,
backups are ``app.backup``'s and notices are worked out by ``app.notice_worker`` off the
Qt thread. Nothing needs a real system tray, so tests drive this directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox, QSystemTrayIcon

import server
from app import resources, supervisor
from app.autostart import Autostart
from app.backup import BackupJob
from app.invite_dialog import InviteDialog
from app.invites import InviteRole, create_invite
from app.manage_invites import ManageInvitesDialog
from app.notice_worker import NoticeWorker
from app.settings import DesktopSettings
from app.tray_menu import TrayMenu
from app.updates import UpdateChecker
from server.config import ServerConfig
from server.handle import ServerHandle, Starter
from server.transfer import backups, restore

log = logging.getLogger(__name__)

PORT_ATTEMPTS = supervisor.PORT_ATTEMPTS
#: The tray's "Record traffic" records this long (it also stops at its size limit).
RECORD_SECONDS = 60.0
#: The diagnostics page, under the board's URL.
DIAGNOSTICS_FRAGMENT = "#/diagnostics"


def open_in_desktop(url: str) -> None:
    QDesktopServices.openUrl(QUrl(url))


class TrayController(QObject):
    """Owns the server handle and the tray icon with its menu."""

    # From the server's thread; connected (queued) to slots on the Qt thread.
    # (member id, inbox_update frame), from the server's thread.
    _inbox_arrived = Signal(str, bytes)
    _people_changed = Signal(list)
    # A traffic recording ended: its path, frames, and why.
    _recording_ended = Signal(str, int, str)
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
        self._dialogs: list[QObject] = []
        self._stopped = False
        self._backup = BackupJob()
        self._notices = NoticeWorker()
        # Judged inbox updates come back here first, then to anyone else listening.
        self._inbox_handled = self._notices.handled

        self._inbox_arrived.connect(self._on_inbox)
        self._people_changed.connect(self._on_people)
        self._backup.done.connect(self._on_backup_done)
        self._recording_ended.connect(self._on_recording_ended)
        self._inbox_handled.connect(self._on_inbox_handled)

        self.tray = QSystemTrayIcon(resources.app_icon())
        self.tray.setToolTip("Tandem (starting…)")
        self.tray.activated.connect(self._on_activated)
        self.tray_menu = TrayMenu(self, self.settings, self.autostart)
        self.menu = self.tray_menu.menu
        self.actions = self.tray_menu.actions
        self.updates = UpdateChecker(
            self.menu,
            before=self.actions["about"],
            enabled=self.settings.check_updates,
            on_toggle=self.set_check_updates,
            notify=self.notify,
            open_url=self._open_url,
        )
        self.tray.setContextMenu(self.menu)

    # Server lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> str:
        """Start the server (preferred port first, then the next ones); return its URL."""
        recording_ended = self._from_server("_recording_ended")
        started = supervisor.start_server(
            dataclasses.replace(self._base_config, lan_tls=self.settings.lan_tls),
            self.settings.port,
            on_inbox=self._from_server("_inbox_arrived"),
            on_people=self._from_server("_people_changed"),
            on_recording_end=lambda ended: recording_ended(
                str(ended.path), ended.frames, ended.reason
            ),
            starter=self._starter,
            port_attempts=self._port_attempts,
            timeout=timeout,
        )
        self.handle = started.handle
        url, taken = started.url, started.taken
        bound = started.port
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

    def _from_server(self, signal: str) -> Callable[..., None]:
        """A callback for the server's thread that emits one of this object's signals.

        It holds this object weakly. The server's objects end up in reference cycles, and the
        cyclic collector frees a cycle on whichever thread it happens to run. A QObject whose
        last reference went that way would be destroyed off the Qt thread, where its destructor
        waits for the GIL while holding Qt's locks: a deadlock with the Qt thread.
        """
        owner = weakref.ref(self)

        def emit(*args: object) -> None:
            alive = owner()
            if alive is not None:
                getattr(alive, signal).emit(*args)

        return emit

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop the server gracefully and join its thread (safe to call twice)."""
        if self._stopped:
            return
        self._stopped = True
        self.updates.close()
        self._notices.shutdown(wait=False)
        for dialog in self._dialogs:
            dialog.deleteLater()
        self._dialogs.clear()
        self.tray.hide()
        if self.handle is not None:
            log.info("stopping the server")
            if not self.handle.stop(timeout):
                log.error("the server thread did not end within %g s", timeout)
        # Its last job, if any, ends quickly now: the server's calls fail once it stopped.
        self._notices.shutdown(wait=True)

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
        self.tray_menu.set_checked_quietly("autostart", self.autostart.is_enabled())

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

        Returns the backup's future (None if none started: one is running already, or it
        could not start, which a notification then says).
        """
        if self.handle is None or self._backup.running:
            return None
        # Shown before it starts: a backup that ends at once reports back within start().
        self.tray_menu.show_backup_running(True)
        return self._backup.start(self.handle)

    @Slot(bool)
    def set_recording(self, enabled: bool) -> None:
        """Record the WebSocket traffic for RECORD_SECONDS into the log folder, or stop."""
        handle = self.handle
        if handle is None:
            self.tray_menu.set_checked_quietly("record", False)
            return
        if not enabled:
            handle.stop_recording()  # the observer unticks and says where it went
            return
        folder = self.log_path.parent if self.log_path is not None else self.data_dir
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            path = handle.start_recording(folder / f"traffic-{stamp}.rec", RECORD_SECONDS)
        except (OSError, RuntimeError) as error:
            self.tray_menu.set_checked_quietly("record", False)
            self.notify("Recording failed", str(error), QSystemTrayIcon.MessageIcon.Critical)
            return
        self.notify("Recording traffic", f"For {RECORD_SECONDS:.0f} seconds, into {path}")

    @Slot(str, int, str)
    def _on_recording_ended(self, path: str, frames: int, reason: str) -> None:
        self.tray_menu.set_checked_quietly("record", False)
        self.notify(
            "Traffic recording saved",
            f"{frames} frames in {path}. Read it with: tandem decode --recording {path}",
        )

    @Slot(str, str)
    def _on_backup_done(self, path: str, error: str) -> None:
        self.tray_menu.show_backup_running(False)
        if error:
            self.notify("Backup failed", error, QSystemTrayIcon.MessageIcon.Critical)
        else:
            self.notify("Backup saved", path)

    @Slot()
    def choose_restore(self) -> bool:
        """Pick a backup, confirm, and restore it (``restore_from``)."""
        chosen, _ = QFileDialog.getOpenFileName(
            None, "Restore a backup", str(backups.folder(self.data_dir)),
            "Tandem backups (*.sqlite3 *.bak);;All files (*)",
        )  # fmt: skip
        if not chosen:
            return False
        answer = QMessageBox.question(
            None, "Restore this backup?",
            f"Tandem restarts with the board of {chosen}. The board it has now is kept as a"
            " backup; everyone connected reloads the board.",
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Yes and self.restore_from(Path(chosen))

    def restore_from(self, path: Path) -> bool:
        """Stop the server, put the backup back (as ``tandem restore`` does), start again."""
        try:
            restore.check(path)  # before stopping anything
        except restore.RestoreRefused as refused:
            self.notify("Restore refused", str(refused), QSystemTrayIcon.MessageIcon.Warning)
            return False
        if self.handle is not None:
            self.handle.stop()
        try:
            kept = restore.restore(self.data_dir, path)
        except restore.RestoreRefused as refused:
            self.notify("Restore refused", str(refused), QSystemTrayIcon.MessageIcon.Warning)
            return False
        finally:
            self.start()
        where = f"; the board it replaced is kept as {kept}" if kept else ""
        self.notify("Backup restored", f"{path} is back{where}")
        return True

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
        box.addButton(QMessageBox.StandardButton.Close)
        diagnostics = box.addButton("Diagnostics…", QMessageBox.ButtonRole.ActionRole)
        diagnostics.setEnabled(self.url is not None)
        # An action button closes the box too; the page opens in the browser.
        diagnostics.clicked.connect(self.open_diagnostics)
        box.finished.connect(lambda _: self._forget(box))
        self._dialogs.append(box)
        box.open()
        return box

    @Slot()
    def open_diagnostics(self) -> None:
        if self.url:
            self._open_url(self.url + DIAGNOSTICS_FRAGMENT)

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
        self.tray_menu.show_state(
            lan_urls=lan_urls, lan_tls=self.settings.lan_tls, people=self.people
        )
        self.tray.setIcon(resources.app_icon(shared_on_lan=bool(lan_urls)))
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

    @Slot(str, bytes)
    def _on_inbox(self, member_id: str, frame: bytes) -> None:
        handle = self.handle
        if self._stopped or handle is None:
            return
        if not self.settings.notifications:
            self._notices.pass_over(member_id, frame)
            return
        # Reading the members waits on the server: never on the Qt thread.
        self._notices.judge(handle, member_id, frame)

    @Slot(str, bytes, list)
    def _on_inbox_handled(self, _member_id: str, _frame: bytes, notices: list[list[str]]) -> None:
        if not self.settings.notifications or self._stopped:
            return
        for title, message in notices:
            self.notify(title, message)

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # A left click opens the board (Windows, Linux); macOS shows the menu itself.
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.open_board()
