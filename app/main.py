"""Entry point of the desktop app: one tray icon, the server on a background thread.

``main()`` raises ``NoTrayError`` where there is no system tray (a server, a minimal
desktop, ``QT_QPA_PLATFORM=offscreen``) so the ``tandem`` command can run the server
alone instead. A second launch opens the board of the instance already running.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from PySide6.QtCore import QSocketNotifier
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from app import resources
from app.controller import TrayController, open_in_desktop
from app.instance import QuitListener, SingleInstance
from app.logs import setup_logging
from server import paths
from server.storage.health import DatabaseUnusableError
from server.storage.migrations import DatabaseTooNewError

log = logging.getLogger(__name__)


class NoTrayError(RuntimeError):
    """This desktop has no system tray, so the tray app cannot run here."""


def has_display(environ: Mapping[str, str] | None = None, platform: str = sys.platform) -> bool:
    """Whether Qt can reach a display (always on Windows and macOS)."""
    env = os.environ if environ is None else environ
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return True
    return any(env.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def open_running_instance(
    instance: SingleInstance, open_url: Callable[[str], None], timeout: float = 15.0
) -> bool:
    """Open the board of the instance holding the lock; False if it never answered."""
    url = instance.wait_for_running(timeout)
    if url is None:
        return False
    open_url(url)
    return True


def install_signal_handlers(app: QApplication, on_signal: Callable[[], None]) -> None:
    """Run ``on_signal`` on the Qt thread on SIGTERM/SIGINT (and SIGHUP on POSIX).

    Python runs signal handlers only when the interpreter gets control, which Qt's
    event loop does not give it; a wakeup socket watched by Qt does.
    """
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, app)

    def drain() -> None:
        try:
            reader.recv(64)
        except OSError:
            return
        on_signal()

    notifier.activated.connect(drain)
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            # The handler itself does nothing; the wakeup byte is what Qt sees.
            signal.signal(signum, lambda *_: None)
    # Keep both ends alive as long as the application.
    app._tandem_wakeup = (reader, writer, notifier)  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None, *, log_level: str = "info") -> int:
    """Run the tray app until Quit; returns the exit status."""
    argv = list(sys.argv if argv is None else argv)
    if not has_display():
        # Qt aborts the process (not an exception) when it cannot reach a display.
        raise NoTrayError("No display is available.")
    data_dir = paths.default_data_dir()
    log_path = setup_logging(paths.default_log_dir(), level=log_level)
    app = QApplication.instance() or QApplication(argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Tandem")
    app.setOrganizationName("Tandem")
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(resources.app_icon())

    instance = SingleInstance(data_dir)
    if not instance.acquire():
        log.info("Tandem is already running; opening its board")
        if open_running_instance(instance, open_in_desktop):
            return 0
        QMessageBox.warning(
            None,
            "Tandem",
            "Tandem seems to be running already but does not answer. "
            "If it keeps happening, log out and in again.",
        )
        return 1
    try:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            raise NoTrayError("No system tray is available on this desktop.")
        return _run(app, instance, data_dir, log_path)
    finally:
        instance.release()


def _run(app: QApplication, instance: SingleInstance, data_dir: Path, log_path: Path) -> int:
    controller = TrayController(data_dir, log_path=log_path)
    try:
        url = controller.start()
    except (DatabaseUnusableError, DatabaseTooNewError) as error:
        # Already the one line to show: what is wrong and what to do; no traceback.
        log.error("Tandem could not start: %s", error)
        QMessageBox.critical(None, "Tandem could not start", str(error))
        return 1
    except Exception as error:
        log.exception("the server did not start")
        QMessageBox.critical(None, "Tandem could not start", f"The server did not start:\n{error}")
        return 1
    instance.publish(url)
    controller.tray.show()
    # Session end (log out, shut down) and Quit both end up here; SIGTERM quits too.
    app.commitDataRequest.connect(lambda _manager: controller.shutdown())
    app.aboutToQuit.connect(controller.shutdown)
    install_signal_handlers(app, app.quit)
    # `tandem --quit` (installers, before an upgrade) ends the app as Quit in the menu does.
    quit_listener = QuitListener(data_dir, app.quit)
    controller.open_board()
    controller.updates.start()  # only when the person turned update checks on
    status = app.exec()
    quit_listener.close()
    controller.shutdown()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
