"""The seam between committed changes and whoever delivers them (the real-time hub).

The domain calls ``EventSink.publish`` after each commit, in commit order, from the
thread that committed. The real-time layer hops to its event loop from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Generic, TypeVar

from tandem.v1 import websocket_pb2

from server.wire import varint

# Each payload's tag in the envelope (field number, length-delimited).
_PAYLOAD_TAGS = {
    field.name: varint(field.number << 3 | 2)
    for field in websocket_pb2.WebSocketMessage.DESCRIPTOR.oneofs_by_name["payload"].fields
}


def envelope_frame(kind: str, body: bytes) -> bytes:
    """The encoded WebSocketMessage holding only the payload ``kind`` encoded as ``body``.

    Such an envelope is the payload's tag, its length and its bytes, so it is joined as that
    without copying the payload into an envelope message first.
    """
    return _PAYLOAD_TAGS[kind] + varint(len(body)) + body


@dataclass(frozen=True)
class CommittedEvent:
    project_id: str
    # Position in the project's change log; 0 for events outside the log (presence).
    seq: int
    # The serialized WebSocketMessage, made once and sent as-is to every subscriber.
    frame: bytes

    def message(self) -> websocket_pb2.WebSocketMessage:
        msg = websocket_pb2.WebSocketMessage()
        msg.ParseFromString(self.frame)
        return msg


class Delivery:
    """A change to one member's inbox, for that member's connections only (not in any log).

    Its frame (the serialized ``inbox_update`` WebSocketMessage) is given, or made from
    ``make`` the first time it is asked for: most of the members an upkeep run makes items
    for are not connected, and no one asks for theirs. ``make`` must only read what it was
    made with, never the database: it runs wherever the frame is first wanted (the hub's
    loop, a bus publisher), outside the transaction that made the items.
    """

    __slots__ = ("_frame", "_make", "member_id")

    def __init__(
        self, member_id: str, frame: bytes = b"", *, make: Callable[[], bytes] | None = None
    ) -> None:
        self.member_id = member_id
        self._frame = frame
        self._make = make

    @property
    def frame(self) -> bytes:
        make = self._make
        if make is not None:
            self._frame, self._make = make(), None
        return self._frame

    def message(self) -> websocket_pb2.WebSocketMessage:
        msg = websocket_pb2.WebSocketMessage()
        msg.ParseFromString(self.frame)
        return msg

    def __repr__(self) -> str:  # never encodes: what it shows is what is there
        return (
            f"Delivery({self.member_id!r}, {'(not encoded yet)' if self._make else self._frame!r})"
        )


log = logging.getLogger(__name__)

E = TypeVar("E")
Listener = Callable[[Sequence[E]], None]


class EventSink(Generic[E]):
    """A list of listeners called with each commit's events (or deliveries), in commit order."""

    def __init__(self) -> None:
        self._listeners: list[Listener[E]] = []
        self._lock = Lock()

    def add_listener(self, listener: Listener[E]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def publish(self, events: Sequence[E]) -> None:
        if not events:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            # The change is committed whatever a listener does: one failing must neither
            # undo its "saved" answer nor keep the others from hearing of it.
            try:
                listener(events)
            except Exception:
                log.exception("an event listener failed")
