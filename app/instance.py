"""One Tandem per data folder: a lock file plus the running instance's address.

The first instance holds ``tandem.lock`` (a ``QLockFile``: a lock left by a crashed
process is recognised as stale and taken over) and writes its board address to
``instance.json``. A second launch finds the lock held, reads the address, and opens
that board instead of starting another server.

The running instance also listens on a local socket (a Unix socket or a Windows named
pipe, reachable by the same user only) for ``tandem --quit``: installers ask the running
app to quit before they replace its files, then wait until it has released the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLockFile, QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

LOCK_FILE = "tandem.lock"
INSTANCE_FILE = "instance.json"
QUIT_REQUEST = b"quit\n"
QUIT_ACCEPTED = b"ok\n"


def is_answering(url: str, timeout: float = 1.0) -> bool:
    """True when a Tandem server answers its health check at ``url``."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/health", timeout=timeout) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


class SingleInstance:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = QLockFile(str(data_dir / LOCK_FILE))
        # Never call a live instance's lock stale for its age: only a dead owner counts.
        self._lock.setStaleLockTime(0)
        self._held = False

    def acquire(self) -> bool:
        """Take the lock; False when another live instance holds it."""
        self._held = self._lock.tryLock(0)
        if self._held:
            # A crashed instance may have left its address behind.
            (self.data_dir / INSTANCE_FILE).unlink(missing_ok=True)
        return self._held

    def is_free(self) -> bool:
        """True when no live instance holds the lock (it is taken and given back)."""
        if self._held:
            return False
        if not self._lock.tryLock(0):
            return False
        self._lock.unlock()
        return True

    def publish(self, url: str) -> None:
        """Record the running board's address for later launches."""
        path = self.data_dir / INSTANCE_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
        os.replace(tmp, path)

    def release(self) -> None:
        if self._held:
            (self.data_dir / INSTANCE_FILE).unlink(missing_ok=True)
            self._lock.unlock()
            self._held = False

    def running_url(self) -> str | None:
        """The address the instance holding the lock published, if any."""
        try:
            data = json.loads((self.data_dir / INSTANCE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        url = data.get("url") if isinstance(data, dict) else None
        return url if isinstance(url, str) and url.startswith("http") else None

    def wait_for_running(
        self,
        timeout: float = 15.0,
        *,
        check: Callable[[str], bool] = is_answering,
        poll: float = 0.1,
    ) -> str | None:
        """The running instance's address once it answers; None after ``timeout``.

        The other instance may still be starting, so this waits for its address.
        """
        deadline = time.monotonic() + timeout
        while True:
            url = self.running_url()
            if url is not None and check(url):
                return url
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll)


def quit_channel(data_dir: Path) -> str:
    """The local socket name of the instance running on ``data_dir``.

    Derived from the folder (one instance per data folder), short enough for a Unix
    socket path; Qt places it in the user's temporary folder or the pipe namespace.
    """
    digest = hashlib.sha256(str(data_dir.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"tandem-{digest}"


class QuitListener(QObject):
    """Calls ``on_quit`` (on the Qt thread) when ``tandem --quit`` asks this instance."""

    def __init__(self, data_dir: Path, on_quit: Callable[[], None]) -> None:
        super().__init__()
        self._on_quit = on_quit
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        name = quit_channel(data_dir)
        # Only the lock holder listens, so a socket left behind by a crash is stale.
        QLocalServer.removeServer(name)
        self.listening = self._server.listen(name)
        self._server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        if bytes(socket.readLine().data()) == QUIT_REQUEST:
            socket.write(QUIT_ACCEPTED)
            socket.flush()
            self._on_quit()
        socket.disconnectFromServer()

    def close(self) -> None:
        self._server.close()


def request_quit(
    data_dir: Path, timeout: float = 30.0, *, out: Callable[[str], None] | None = None
) -> int:
    """Ask the instance running on ``data_dir`` to quit and wait until it has.

    Exit status for ``tandem --quit``: 0 when no instance runs any more (including when
    none ran), 1 when one runs but did not quit within ``timeout`` seconds.
    """
    say = out or (lambda line: print(line, file=sys.stderr))
    if QCoreApplication.instance() is None:
        # Local sockets need Qt's core objects; a plain one is enough here.
        _app = QCoreApplication([sys.argv[0] if sys.argv else "tandem"])
    deadline = time.monotonic() + timeout
    socket = QLocalSocket()
    socket.connectToServer(quit_channel(data_dir))
    if not socket.waitForConnected(2000):
        if SingleInstance(data_dir).is_free():
            say("tandem: Tandem is not running")
            return 0
        say(f"tandem: Tandem is running but does not answer ({socket.errorString()})")
        return _wait_for_exit(data_dir, deadline, say)
    socket.write(QUIT_REQUEST)
    socket.waitForBytesWritten(2000)
    accepted = socket.waitForReadyRead(5000) and bytes(socket.readAll().data()) == QUIT_ACCEPTED
    socket.abort()
    if not accepted:
        say("tandem: the running Tandem did not accept the request to quit")
    return _wait_for_exit(data_dir, deadline, say)


def _wait_for_exit(data_dir: Path, deadline: float, say: Callable[[str], None]) -> int:
    instance = SingleInstance(data_dir)
    while not instance.is_free():
        if time.monotonic() >= deadline:
            say("tandem: Tandem is still running; quit it from its tray menu and try again")
            return 1
        time.sleep(0.1)
    say("tandem: Tandem has quit")
    return 0
