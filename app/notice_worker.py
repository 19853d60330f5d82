"""Working out tray notifications off the Qt thread.

Deciding whether an inbox item deserves a notice may read the server (the members), which
must never block the Qt thread; one worker thread judges the inbox updates in the order
they were committed and hands each outcome back by the ``handled`` signal.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal
from tandem.v1 import websocket_pb2

from app.notify import Notifier
from server.handle import ServerHandle, ServerNotRunningError, is_desktop_member

log = logging.getLogger(__name__)


class NoticeWorker(QObject):
    # (member id, frame, notices as [title, message] pairs) once an inbox update is judged.
    handled = Signal(str, bytes, list)

    def __init__(self) -> None:
        super().__init__()
        self._notifier: Notifier | None = None
        # One worker, so updates are judged in the order they were committed.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="tandem-notices")

    def judge(self, handle: ServerHandle, member_id: str, frame: bytes) -> None:
        """Work out the notices for one member's inbox update, on the worker."""
        notifier = self._notifier or self._make_notifier(handle)
        # A worker already shut down means the app is quitting.
        with contextlib.suppress(RuntimeError):
            self._worker.submit(self._judge, notifier, member_id, frame)

    def pass_over(self, member_id: str, frame: bytes) -> None:
        """Report an update as handled without a notice (notifications are off)."""
        self.handled.emit(member_id, frame, [])

    def shutdown(self, *, wait: bool) -> None:
        self._worker.shutdown(wait=wait, cancel_futures=True)

    def _judge(self, notifier: Notifier, member_id: str, frame: bytes) -> None:
        message = websocket_pb2.WebSocketMessage.FromString(frame)
        try:
            notices = notifier.notices_for(member_id, message.inbox_update)
        except ServerNotRunningError:
            notices = []
        except Exception:
            log.exception("could not make a notification")
            notices = []
        self.handled.emit(member_id, frame, [[n.title, n.message] for n in notices])

    def _make_notifier(self, handle: ServerHandle) -> Notifier:
        self._notifier = Notifier(members=handle.members, is_desktop_member=is_desktop_member)
        return self._notifier
