"""A connection's subscription to one project: ordered delivery and its presence there.

Until the snapshot or replay has been read and queued, live events wait in
``pending``; once live, an event is delivered only when its seq is above the last
one delivered. Together that is "no gap, no duplicate" between replay and live.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf import timestamp_pb2
from tandem.v1 import events_pb2, websocket_pb2

from server.realtime.codec import Joined, Outgoing
from server.realtime.identity import Identity
from server.realtime.protocol import CloseCode
from server.wire import varint


class Subscriber(Protocol):
    """What a subscription and its users need of the connection it belongs to (a
    ``server.realtime.connection.Connection``, which knows its subscriptions in turn)."""

    id: str
    identity: Identity | None
    queue_limit: int
    subscriptions: dict[str, Subscription]

    @property
    def open(self) -> bool: ...

    def offer(self, out: Outgoing) -> None: ...

    def offer_all(self, joined: Joined) -> None: ...

    async def send_out(self, out: Outgoing) -> None: ...

    def abort(self, code: int, reason: str) -> None: ...


@dataclass(eq=False, slots=True)
class Subscription:
    id: str
    project_id: str
    conn: Subscriber
    sprint_id: str = ""
    # The seq of the last change-log event queued to the client.
    last_seq: int = 0
    # Live events held back while the snapshot or replay is being read; None once live.
    pending: list[tuple[int, Outgoing]] | None = field(default_factory=list)
    # What this connection shows of itself to others viewing the project.
    viewing_task_id: str = ""
    editing_field: str = ""
    typing_comment: bool = False
    presence_sent_at: float = 0.0
    presence_timer: asyncio.TimerHandle | None = None
    # While a snapshot is being prepared: presence frames are not held back, as the
    # snapshot's own presence (taken when it is sent) already says what they say. A long
    # read in a storm would otherwise fill the queue with them and drop the joiner.
    presence_from_snapshot: bool = False
    # The ONLINE presence, encoded once per change (see presence_entry).
    _entry: bytes | None = None
    _framed_entry: bytes | None = None

    @property
    def live(self) -> bool:
        return self.pending is None

    def deliver(self, seq: int, out: Outgoing) -> None:
        """Called on the loop for each event of this project, in commit order."""
        if seq and seq <= self.last_seq:
            return
        pending = self.pending
        if pending is not None:
            if not seq and self.presence_from_snapshot:
                return  # the snapshot about to be sent carries presence as of sending it
            pending.append((seq, out))
            if len(pending) > self.conn.queue_limit:
                self.conn.abort(CloseCode.TOO_SLOW, "too slow: resume from your last seq")
            return
        if seq:
            self.last_seq = seq
        self.conn.offer(out)

    def go_live(self) -> None:
        """Queue what arrived while the snapshot or replay was read, then deliver directly."""
        pending, self.pending = self.pending or [], None
        for seq, out in pending:
            self.deliver(seq, out)

    def presence(self, state: events_pb2.PresenceState.ValueType) -> events_pb2.UserPresence:
        identity = self.conn.identity
        msg = events_pb2.UserPresence(
            project_id=self.project_id,
            connection_id=self.conn.id,
            state=state,
            viewing_sprint_id=self.sprint_id,
            viewing_task_id=self.viewing_task_id,
            editing_field=self.editing_field,
            typing_comment=self.typing_comment,
            update_time=_now(),
        )
        if identity is not None:
            msg.member.CopyFrom(identity.member)
        return msg

    def expect_snapshot(self) -> None:
        """A snapshot follows: drop held presence frames, and hold none until it is sent."""
        self.presence_from_snapshot = True
        if self.pending:
            self.pending = [(seq, out) for seq, out in self.pending if seq]

    def presence_changed(self) -> None:
        self._entry = None
        self._framed_entry = None

    def presence_entry(self, *, framed: bool = True) -> bytes:
        """This connection's ONLINE presence, encoded; ``framed``: as one element of
        Snapshot.presence (its field tag and length before it), ready to be joined."""
        entry = self._entry
        if entry is None:
            entry = self._entry = self.presence(
                events_pb2.PresenceState.PRESENCE_STATE_ONLINE
            ).SerializeToString()
        if not framed:
            return entry
        framed_entry = self._framed_entry
        if framed_entry is None:
            framed_entry = self._framed_entry = framed_presence(entry)
        return framed_entry

    def cancel_presence_timer(self) -> None:
        if self.presence_timer is not None:
            self.presence_timer.cancel()
            self.presence_timer = None


# The tag of Snapshot.presence (a length-delimited field).
_SNAPSHOT_PRESENCE_TAG = varint(
    websocket_pb2.Snapshot.DESCRIPTOR.fields_by_name["presence"].number << 3 | 2
)


def framed_presence(entry: bytes) -> bytes:
    """An encoded UserPresence as one element of Snapshot.presence, ready to be joined."""
    return _SNAPSHOT_PRESENCE_TAG + varint(len(entry)) + entry


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp
