"""A deadline and a thread that waits for it: what runs "soon after", off the caller's
thread (the domain's upkeep, the WAL's checkpoints)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Alarm:
    """Calls ``ring`` once the earliest deadline set (``time.monotonic``) passes, unless
    cleared first, from a thread of its own (named ``name``) that only waits.

    Not ``threading.Timer``: that starts a thread per deadline, and a steady stream of
    commands sets one per interval; this keeps one thread for the owner's life.
    """

    def __init__(self, ring: Callable[[], None], *, name: str) -> None:
        self._ring = ring
        self._name = name
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._ringing = False

    def set(self, deadline: float) -> None:
        with self._cond:
            if self._closed or (self._deadline is not None and self._deadline <= deadline):
                return
            self._deadline = deadline
            if self._thread is None:
                self._thread = threading.Thread(target=self._wait, name=self._name, daemon=True)
                self._thread.start()
            else:
                self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._deadline = None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no deadline is set and ``ring`` is not running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._deadline is not None or self._ringing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """No more rings; waits for one running to end (but on the alarm's own thread)."""
        with self._cond:
            self._closed = True
            self._deadline = None
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _wait(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._deadline = None
                self._ringing = True
                self._cond.release()
                try:
                    self._ring()
                except Exception:  # keep the alarm going
                    log.exception("the %s alarm failed", self._name)
                finally:
                    self._cond.acquire()
                    self._ringing = False
                    self._cond.notify_all()
