"""When someone's access ends while they are connected: the security layer says so here, and
whoever holds connections open (the WebSocket hub, the parked long polls) has registered
to end theirs.

So the security layer decides *that* access ended (sharing switched off, an invite
revoked) without reaching into the parts that hold sockets, and those parts know nothing
of invites or sharing. This module sits below both and imports neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock

from aiohttp import web
from tandem.v1 import errors_pb2

log = logging.getLogger(__name__)


def _nobody_is_local(_remote: str | None) -> bool:
    return False


@dataclass(frozen=True)
class AccessEnded:
    """Whose access ended, and the words and code to end their connections with."""

    reason: str
    # The refusal a request cut off this way answers with (a parked long poll's error).
    code: errors_pb2.ErrorCode.ValueType
    # A member whose invite was revoked; empty when sharing was switched off, which ends
    # every connection not from this machine.
    member_id: str = ""
    # Which peer addresses are this machine (spared when sharing is switched off).
    is_local: Callable[[str | None], bool] = _nobody_is_local

    def ends(self, *, remote: str | None, member_id: str | None) -> bool:
        """Whether a connection from ``remote``, acting as ``member_id``, must end."""
        if self.member_id:
            return member_id == self.member_id
        return not self.is_local(remote)


#: Ends the connections an ``AccessEnded`` covers; returns how many it ended.
EndConnections = Callable[[AccessEnded], int]


class AccessWatch:
    """The callbacks to run when access ends, in the order they registered."""

    def __init__(self) -> None:
        self._callbacks: list[EndConnections] = []
        self._lock = Lock()
        # How many times access has ended: what was allowed when it read some other value
        # may no longer be.
        self.epoch = 0

    def register(self, callback: EndConnections) -> Callable[[], None]:
        """Run ``callback`` whenever access ends; returns the function that unregisters it."""
        with self._lock:
            self._callbacks.append(callback)

        def unregister() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unregister

    def end(self, ended: AccessEnded) -> int:
        """End every connection ``ended`` covers; returns how many were ended."""
        with self._lock:
            self.epoch += 1
            callbacks = list(self._callbacks)
        closed = 0
        for callback in callbacks:
            # One holder failing must not leave the others' connections open.
            try:
                closed += callback(ended)
            except Exception:
                log.exception("ending connections for %r failed", ended.reason)
        return closed


ACCESS_WATCH = web.AppKey("access_watch", AccessWatch)


def access_watch(app: web.Application) -> AccessWatch:
    """The application's watch, made on first use (during set-up, before the app starts)."""
    watch = app.get(ACCESS_WATCH)
    if watch is None:
        watch = app[ACCESS_WATCH] = AccessWatch()
    return watch


def access_epoch(app: web.Application) -> int:
    """Changes whenever access ends: a credential checked while it read one value needs
    checking again once it reads another (what ends access cannot reach a connection that
    it has not registered yet)."""
    watch = app.get(ACCESS_WATCH)
    return watch.epoch if watch is not None else 0


def end_access(app: web.Application, ended: AccessEnded) -> int:
    """End the connections ``ended`` covers, through whatever registered on ``app``."""
    watch = app.get(ACCESS_WATCH)
    return watch.end(ended) if watch is not None else 0
