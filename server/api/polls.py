"""Long polls: a request for the change log that waits for the next commit.

The polling fallback parks a ``GET .../events?wait=S`` until the project's log moves,
the wait elapses, the server shuts down, or the person's access ends. Access ending is
the security layer's to decide: it ends parked polls through ``server.access``, where
the long polls register, and answers ``LONG_POLL_CHECK`` when a poll wakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from tandem.v1 import api_pb2, errors_pb2

from server.access import AccessEnded, access_watch
from server.api.actor import REQUEST_ACTOR
from server.api.errors import ApiError
from server.appkeys import DOMAIN
from server.domain.actor import Actor


@dataclass(eq=False)
class ParkedPoll:
    """A long poll waiting for a change: who asked, and how it is ended without data."""

    request: web.Request
    # The peer's address from the socket, and the actor the security layer resolved for
    # it (None for the person at this machine).
    remote: str | None
    actor: Actor | None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    refusal: ApiError | None = None


#: Asked once more when a long poll wakes, before it reads anything: may this request
#: still see the board? None for yes, else the refusal to answer with. The security
#: layer sets it; without it every poll that got in may read.
PollCheck = Callable[[web.Request], Awaitable[ApiError | None]]
LONG_POLL_CHECK: web.AppKey[PollCheck] = web.AppKey("long_poll_check")


@dataclass
class LongPolls:
    """Long polls in progress, and the signal that ends them all at shutdown."""

    stop: asyncio.Event
    parked: set[ParkedPoll] = field(default_factory=set)

    @property
    def waiting(self) -> int:
        return len(self.parked)


LONG_POLLS = web.AppKey("long_polls", LongPolls)


def waiting_polls(app: web.Application) -> int:
    """How many long polls are waiting for a change (for status displays and tests)."""
    return app[LONG_POLLS].waiting


def end_polls(
    app: web.Application,
    predicate: Callable[[ParkedPoll], bool],
    code: errors_pb2.ErrorCode.ValueType,
    message: str,
) -> int:
    """End the parked long polls ``predicate`` picks with an error instead of data.

    For access that has just ended (an invite revoked, sharing switched off): a poll
    parked before would otherwise answer with whatever is committed next. Returns how
    many were ended.
    """
    polls = app.get(LONG_POLLS)
    if polls is None:
        return 0
    ended = 0
    for poll in list(polls.parked):
        if poll.refusal is None and predicate(poll):
            poll.refusal = ApiError(code, message)
            poll.ended.set()
            ended += 1
    return ended


def setup_polls(app: web.Application) -> None:
    """Keep the long polls of ``app``: ended at shutdown, and when their access ends."""
    app[LONG_POLLS] = LongPolls(asyncio.Event())

    async def stop_polls(app: web.Application) -> None:
        app[LONG_POLLS].stop.set()

    def access_ended(ended: AccessEnded) -> int:
        def covered(poll: ParkedPoll) -> bool:
            member = poll.actor.member_id if poll.actor is not None else None
            return ended.ends(remote=poll.remote, member_id=member)

        return end_polls(app, covered, ended.code, ended.reason)

    app.on_shutdown.append(stop_polls)
    access_watch(app).register(access_ended)


async def wait_for_events(
    request: web.Request, project_id: str, since: int, wait: float
) -> api_pb2.ListEventsResponse:
    """Hold the request until the project's log is past ``since`` (or ``wait`` elapses),
    then read the events after it."""
    domain = request.app[DOMAIN]
    polls = request.app[LONG_POLLS]
    parked = ParkedPoll(request, request.remote, request.get(REQUEST_ACTOR))
    # Shutdown ends the wait at once, so a long poll never holds up a graceful stop; the
    # security layer ends it when this person's access ends.
    waiter = asyncio.ensure_future(domain.wait_for_events(project_id, since, wait))
    stopper = asyncio.ensure_future(polls.stop.wait())
    ender = asyncio.ensure_future(parked.ended.wait())
    polls.parked.add(parked)
    try:
        await asyncio.wait({waiter, stopper, ender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        polls.parked.discard(parked)
        for task in (waiter, stopper, ender):
            task.cancel()
    if parked.refusal is not None:
        raise parked.refusal
    # Access may have ended while the poll waited without anyone ending it (a revocation
    # not yet noticed): ask again before reading anything.
    check = request.app.get(LONG_POLL_CHECK)
    refusal = await check(request) if check is not None else None
    if refusal is not None:
        raise refusal
    return await domain.read(domain.events_since, project_id, since)
