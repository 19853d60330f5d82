"""Who views a project on the other instances, with expiry.

Each instance sends its presence diffs (one per tick per project, as the hub makes them)
and, every ``republish`` seconds, the whole list of its viewers of each project it serves.
An instance not heard of for ``expiry`` seconds is taken to be gone and its people leave:
with ``republish`` half a heartbeat and ``expiry`` one and a half, a killed instance's
people leave within two heartbeat intervals. What changes here reaches this instance's
viewers batched, one diff per tick per project.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tandem.v1 import events_pb2

from server.realtime.protocol import PRESENCE_TICK_SECONDS

UserPresence = events_pb2.UserPresence
OFFLINE = events_pb2.PresenceState.PRESENCE_STATE_OFFLINE


@dataclass
class _Instance:
    # Encoded ONLINE UserPresence by connection id.
    entries: dict[str, bytes] = field(default_factory=dict)
    seen: float = 0.0


class RemotePresence:
    """Other instances' viewers, per project and instance; ``deliver`` sends a diff to this
    instance's viewers of its project."""

    def __init__(
        self,
        deliver: Callable[[events_pb2.PresenceDiff], None],
        expiry: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deliver = deliver
        self.expiry = expiry
        self._clock = clock
        self._projects: dict[str, dict[str, _Instance]] = {}
        # Changes waiting for the next tick, by project and connection.
        self._changes: dict[str, dict[str, UserPresence]] = {}
        self._tick: asyncio.TimerHandle | None = None

    def entries(self, project_id: str) -> list[bytes]:
        out: list[bytes] = []
        for instance in self._projects.get(project_id, {}).values():
            out.extend(instance.entries.values())
        return out

    def diff(self, instance_id: str, diff: events_pb2.PresenceDiff) -> None:
        """An instance's changes to a project."""
        inst = self._instance(diff.project_id, instance_id)
        for change in diff.changes:
            if change.state == OFFLINE:
                if inst.entries.pop(change.connection_id, None) is not None:
                    self._note(diff.project_id, change)
            else:
                inst.entries[change.connection_id] = change.SerializeToString()
                self._note(diff.project_id, change)

    def full(self, instance_id: str, diff: events_pb2.PresenceDiff) -> None:
        """An instance's whole list of viewers of a project (its republish)."""
        project_id = diff.project_id
        inst = self._instance(project_id, instance_id)
        now = {c.connection_id: c for c in diff.changes}
        for conn_id in [c for c in inst.entries if c not in now]:
            self._leave(project_id, inst, conn_id)
        for conn_id, change in now.items():
            entry = change.SerializeToString()
            if inst.entries.get(conn_id) != entry:
                inst.entries[conn_id] = entry
                self._note(project_id, change)
        if not inst.entries:
            self._projects.get(project_id, {}).pop(instance_id, None)

    def expire(self) -> None:
        """People of instances not heard of for ``expiry`` seconds leave."""
        deadline = self._clock() - self.expiry
        for project_id, instances in list(self._projects.items()):
            for instance_id, inst in list(instances.items()):
                if inst.seen < deadline:
                    for conn_id in list(inst.entries):
                        self._leave(project_id, inst, conn_id)
                    del instances[instance_id]
            if not instances:
                del self._projects[project_id]

    def forget(self, project_ids: Iterable[str]) -> None:
        """This instance no longer serves these projects (its last viewer left)."""
        for project_id in project_ids:
            self._projects.pop(project_id, None)
            self._changes.pop(project_id, None)

    def close(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _instance(self, project_id: str, instance_id: str) -> _Instance:
        inst = self._projects.setdefault(project_id, {}).setdefault(instance_id, _Instance())
        inst.seen = self._clock()
        return inst

    def _leave(self, project_id: str, inst: _Instance, conn_id: str) -> None:
        entry = inst.entries.pop(conn_id)
        gone = UserPresence()
        gone.ParseFromString(entry)
        gone.state = OFFLINE
        self._note(project_id, gone)

    def _note(self, project_id: str, change: UserPresence) -> None:
        self._changes.setdefault(project_id, {})[change.connection_id] = change
        if self._tick is None:
            loop = asyncio.get_running_loop()
            self._tick = loop.call_later(PRESENCE_TICK_SECONDS, self._send)

    def _send(self) -> None:
        self._tick = None
        changes, self._changes = self._changes, {}
        for project_id, by_conn in changes.items():
            diff = events_pb2.PresenceDiff(project_id=project_id)
            diff.changes.extend(by_conn.values())
            self._deliver(diff)
