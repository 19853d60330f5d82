"""One Tandem per data folder: a lock file plus the running instance's address.

The first instance holds ``tandem.lock`` (a ``QLockFile``: a lock left by a crashed
process is recognised as stale and taken over) and writes its board address to
``instance.json``. A second launch finds the lock held, reads the address, and opens
that board instead of starting another server.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QLockFile

LOCK_FILE = "tandem.lock"
INSTANCE_FILE = "instance.json"


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
