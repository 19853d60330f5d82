"""Working out tray notifications off the Qt thread.

Deciding whether a committed event deserves a notice reads the server (the task, the
members), which must never block the Qt thread; one worker thread judges events in the
order they were committed and hands each outcome back by the ``handled`` signal.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal
from tandem.v1 import entities_pb2, websocket_pb2

from app.notify import Notifier
from server.handle import ServerHandle, ServerNotRunningError, is_desktop_member

log = logging.getLogger(__name__)


class NoticeWorker(QObject):
    # (frame, title, message) once an event is judged; title is empty when no notice.
    handled = Signal(bytes, str, str)

    def __init__(self) -> None:
        super().__init__()
        self._notifier: Notifier | None = None
        # One worker, so events are judged in the order they were committed.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="tandem-notices")

    def judge(self, handle: ServerHandle, frame: bytes) -> None:
        """Work out the notice for one committed event, on the worker."""
        notifier = self._notifier or self._make_notifier(handle)
        # A worker already shut down means the app is quitting.
        with contextlib.suppress(RuntimeError):
            self._worker.submit(self._judge, notifier, frame)

    def pass_over(self, frame: bytes) -> None:
        """Report an event as handled without a notice (notifications are off)."""
        self.handled.emit(frame, "", "")

    def shutdown(self, *, wait: bool) -> None:
        self._worker.shutdown(wait=wait, cancel_futures=True)

    def _judge(self, notifier: Notifier, frame: bytes) -> None:
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
        self.handled.emit(frame, title, body)

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
