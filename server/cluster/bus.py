"""The message bus between instances: core NATS, through nats-py.

Why NATS, and why core NATS (at most once) rather than JetStream: docs/team-server.md.
In short, the change log in the database is already the durable, ordered stream (a gap is
read from it, see ``ordering``), so the bus only has to be fast and come back by itself:
nats-py reconnects and subscribes again on its own and says when it is away and back.

Subjects: ``PREFIX.events.PROJECT`` (committed events) and ``PREFIX.presence.PROJECT``
(who is viewing), a project id being one subject token (ids are checked by ``token``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from yarl import URL

log = logging.getLogger(__name__)

#: The schemes --bus-url takes.
SCHEMES = ("nats", "tls")
DEFAULT_PREFIX = "tandem"
#: How long the first connection may take before the start gives up.
CONNECT_TIMEOUT_SECONDS = 3
#: Between two attempts to reach the bus again after it went away.
RECONNECT_WAIT_SECONDS = 0.5
# A subject token: no dots, spaces or wildcards.
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")


class BusUrlError(ValueError):
    """--bus-url is not one Tandem can use (said in one line, credentials left out)."""


class BusUnreachableError(OSError):
    """The bus could not be reached at start."""


@dataclass(frozen=True)
class BusAddress:
    url: str
    # Subjects start with this (``?prefix=`` in the URL; default "tandem").
    prefix: str

    @property
    def shown(self) -> str:
        """The URL without its credentials, for logs and messages."""
        return shown_url(self.url)


def shown_url(url: str) -> str:
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return "[the given URL]"
    if parsed.user is not None or parsed.password is not None:
        parsed = parsed.with_user(None).with_password(None)
        return str(parsed.with_query(None)).replace("://", "://[redacted]@", 1)
    return str(parsed.with_query(None))


def parse_bus_url(url: str) -> BusAddress:
    """``nats://[user:password@]host[:port][?prefix=NAME]`` (``tls://`` for NATS over TLS)."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError) as exc:
        raise BusUrlError(f"--bus-url {shown_url(url)} is not a URL") from exc
    if parsed.scheme not in SCHEMES or not parsed.host:
        raise BusUrlError(
            f"--bus-url {shown_url(url)} is not a NATS URL; give nats://HOST[:PORT] "
            "(the bus Tandem uses is NATS)"
        )
    prefix = parsed.query.get("prefix", DEFAULT_PREFIX)
    if not _TOKEN.match(prefix):
        raise BusUrlError(f"--bus-url prefix {prefix!r} may have letters, digits, - and _ only")
    return BusAddress(url=str(parsed.with_query(None)), prefix=prefix)


def token(project_id: str) -> str | None:
    """The project id as a subject token, or None for one that cannot be (never made by
    Tandem: its ids are UUIDs)."""
    return project_id if _TOKEN.match(project_id) else None


Handler = Callable[[bytes, Mapping[str, str]], Awaitable[None]]


class Bus:
    """One connection to NATS for the instance; ``on_state(up)`` hears it leave and return."""

    def __init__(self, address: BusAddress, name: str, on_state: Callable[[bool], None]) -> None:
        self.address = address
        self._name = name
        self._on_state = on_state
        self._nc: Client | None = None
        self._closing = False

    @property
    def up(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def subject(self, kind: str, project_id: str) -> str | None:
        part = token(project_id)
        return None if part is None else f"{self.address.prefix}.{kind}.{part}"

    async def connect(self) -> None:
        """Connect, or raise ``BusUnreachableError`` saying why in one line.

        The first attempt is one try with a short timeout, so that a wrong address ends the
        start at once; the connection kept then reconnects on its own, for ever.
        """
        shown = self.address.shown
        errors: list[BaseException] = []

        async def note(exc: Exception) -> None:
            errors.append(exc)

        try:
            # One server, one retry at most: then nats-py gives up (NoServersError).
            probe = await asyncio.wait_for(
                nats.connect(
                    self.address.url,
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.1,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    error_cb=note,
                    name=self._name,
                ),
                timeout=3 * CONNECT_TIMEOUT_SECONDS,
            )
            await probe.close()
        except Exception as exc:
            why = _why(errors[-1] if errors else exc)
            raise BusUnreachableError(f"the bus at {shown} cannot be reached: {why}") from None
        self._nc = await nats.connect(
            self.address.url,
            name=self._name,
            # An instance hears its own commits from its domain, not back from the bus.
            no_echo=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            reconnect_time_wait=RECONNECT_WAIT_SECONDS,
            max_reconnect_attempts=-1,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
            error_cb=self._error,
        )
        log.info("connected to the bus at %s", shown)

    async def close(self) -> None:
        self._closing = True
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.close(), timeout=2)
            except Exception as exc:  # closing anyway
                log.debug("closing the bus connection: %s", exc)

    async def publish(self, subject: str, payload: bytes, headers: Mapping[str, str]) -> bool:
        """Publish if the bus is there; False when it is not (then the log carries it:
        the others poll it while the bus is away)."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            return False
        try:
            await nc.publish(subject, payload, headers=dict(headers))
        except Exception as exc:
            log.debug("publishing on the bus failed: %s", exc)
            return False
        return True

    async def subscribe(self, subject: str, handler: Handler) -> Subscription | None:
        nc = self._nc
        if nc is None:
            return None

        async def on_message(msg: Msg) -> None:
            try:
                await handler(msg.data, msg.headers or {})
            except Exception:
                log.exception("a bus message on %s could not be handled", msg.subject)

        try:
            return await nc.subscribe(subject, cb=on_message)
        except Exception as exc:
            # While the bus is away the subscription is not made; the caller polls, and
            # subscribes again when it returns.
            log.debug("subscribing to %s failed: %s", subject, exc)
            return None

    async def _disconnected(self) -> None:
        if not self._closing:
            log.warning(
                "the bus at %s went away; reading the change log until it returns",
                self.address.shown,
            )
            self._on_state(False)

    async def _reconnected(self) -> None:
        log.info("the bus at %s is back", self.address.shown)
        self._on_state(True)

    async def _error(self, exc: Exception) -> None:
        if not self._closing:
            log.debug("bus: %s", _why(exc))


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__
