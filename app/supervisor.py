"""Starting and stopping the server for the tray: the preferred port first, then the next.

The board's address should stay the same from one launch to the next (bookmarks, open
tabs), so the port that worked last time is tried first; when another program holds it,
the next few, and finally any free port. Which port was taken is reported, so the tray
can say why the address changed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QUrl

from server.config import ServerConfig
from server.handle import (
    InboxObserver,
    PeopleObserver,
    ServerHandle,
    Starter,
    is_port_in_use,
)
from server.monitoring.recording import RecordingSummary

log = logging.getLogger(__name__)

# Ports after the preferred one tried before asking the system for any free port.
PORT_ATTEMPTS = 10


@dataclass(frozen=True)
class Started:
    handle: ServerHandle
    url: str
    # The port it answers on, when the URL names one.
    port: int | None
    # Preferred ports that were in use, in the order tried.
    taken: list[int] = field(default_factory=list)


def start_server(
    config: ServerConfig,
    preferred_port: int,
    *,
    on_inbox: InboxObserver,
    on_people: PeopleObserver,
    on_recording_end: Callable[[RecordingSummary], None] | None = None,
    starter: Starter | None = None,
    port_attempts: int = PORT_ATTEMPTS,
    timeout: float = 15.0,
) -> Started:
    """Start a server on the preferred port, the next ones, or any free one."""
    candidates = (
        [preferred_port + i for i in range(port_attempts) if preferred_port + i < 65536]
        if preferred_port
        else []
    )
    candidates.append(0)
    taken: list[int] = []
    for port in candidates:
        handle = ServerHandle(dataclasses.replace(config, port=port), starter=starter)
        handle.add_inbox_observer(on_inbox)
        handle.add_people_observer(on_people)
        if on_recording_end is not None:
            handle.add_recording_observer(on_recording_end)
        try:
            url = handle.start(timeout)
        except Exception as error:
            if is_port_in_use(error) and port != 0:
                log.warning("port %d is in use, trying the next one", port)
                taken.append(port)
                continue
            raise
        return Started(handle, url, _port_of(url), taken)
    raise RuntimeError("no port could be bound")  # pragma: no cover - port 0 binds or raises


def _port_of(url: str) -> int | None:
    return QUrl(url).port() if QUrl(url).port() > 0 else None
