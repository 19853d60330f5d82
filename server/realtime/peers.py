"""The hub's seam to other instances of one team server (``server.cluster``).

A desktop Tandem has none: the hub then hears commits from the domain itself. With
``tandem serve --bus-url``, the cluster is the hub's source of events (its own and other
instances' commits, in seq order, each once), hears which projects the hub's clients view,
and carries presence both ways. Every method runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from aiohttp import web
from tandem.v1 import events_pb2


class Peers(Protocol):
    def watch(self, project_id: str) -> None:
        """The hub's first subscriber to this project arrived."""

    def unwatch(self, project_id: str) -> None:
        """The hub's last subscriber to this project left."""

    def ready(self, project_id: str) -> Awaitable[None] | None:
        """Awaited before a subscriber reads its snapshot or replay: from then on, every
        event after what it reads reaches the hub. None when already so."""

    def presence_out(self, diff: events_pb2.PresenceDiff) -> None:
        """A tick's presence changes of this instance's viewers of a project."""

    def presence_of(self, project_id: str) -> list[bytes]:
        """The other instances' viewers of the project, each an encoded ONLINE
        ``UserPresence``."""


PEERS: web.AppKey[Peers] = web.AppKey("peers")
