"""Group commit: commands that arrive while the database is busy are committed together.

Callers on any event loop queue a request and await its answer; one drain takes everything
queued so far and hands it to ``commit`` as one batch (one transaction, one fsync). Each
answer is settled back on its caller's own loop.

Where the database takes turns (SQLite, ``Staged``), a drain runs on the loop that queued
the first request, in the connection's turn: ``stage`` runs the batch in a transaction left
open, and ``finish`` commits it (the fsync) on the committer thread, which gives the turn
back. The next drain starts once the batch's answers are settled, with what queued
meanwhile. When the database thread holds the turn (a read, the upkeep), the batch goes to
it instead and ``commit`` runs there whole, as it always does on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from tandem.v1 import websocket_pb2

from server.domain.actor import Actor
from server.domain.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)

_SHUTTING_DOWN = DomainError(ErrorCode.ERROR_CODE_UNAVAILABLE, "the server is shutting down")

Outcome = websocket_pb2.Ack | DomainError


@dataclass(frozen=True)
class CommandRequest:
    """One command as the domain receives it: who, what, and the client's id for it."""

    actor: Actor
    command: Message
    # The client's id for this command (a WebSocket message id, a scoped REST
    # Idempotency-Key); empty when the client gave none. Scoped to the actor's client.
    request_id: str = ""


# What a drain hands over: commit one batch, answering each request in order.
Commit = Callable[[list[CommandRequest]], list[Outcome]]
# How work reaches the database thread; raises RuntimeError once that thread is gone.
Submit = Callable[[Callable[[], None]], object]

S = TypeVar("S")

#: Commands a loop stages at most at once (at ~0.1-0.2 ms each here: a stall of the loop of
#: 10-25 ms at worst); more wait for the next drain, right after.
STAGE_AT_ONCE = 128


@dataclass(frozen=True)
class Staged(Generic[S]):
    """How a batch is committed in two steps on a database whose connection threads use in
    turn: ``stage`` runs it in an open transaction (on the loop, holding ``turn``), and
    ``finish`` commits it and answers (on the thread ``hand_off`` runs it on, to which the
    turn passes). ``stage`` then ``finish`` does what ``commit`` does."""

    turn: Any  # storage.turn.Turn
    stage: Callable[[list[CommandRequest]], S]
    finish: Callable[[S], list[Outcome]]
    hand_off: Callable[[Callable[[], None]], None]
    #: Whether a request may be staged on a loop (its work is bounded); a batch with any
    #: other runs whole on the database thread.
    stages: Callable[[CommandRequest], bool]


@dataclass
class _Pending:
    request: CommandRequest
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[websocket_pb2.Ack]


class GroupCommit:
    def __init__(self, submit: Submit, commit: Commit, staged: Staged[Any] | None = None) -> None:
        self._submit = submit
        self._commit = commit
        self._staged = staged
        self._pending: list[_Pending] = []
        self._lock = Lock()
        # Staged: a batch is in flight, from its drain until its answers are settled.
        self._drain_scheduled = False
        # Told each group's commit time and size, in the connection's turn (the metrics).
        self.observe: Callable[[float, int], None] | None = None

    async def run(self, request: CommandRequest) -> websocket_pb2.Ack:
        """Queue one command and wait for its answer; raises its DomainError when refused."""
        return await self.queue(request)

    def queue(self, request: CommandRequest) -> asyncio.Future[websocket_pb2.Ack]:
        """Queue one command; its answer (or DomainError) settles the future, on this loop."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[websocket_pb2.Ack] = loop.create_future()
        with self._lock:
            self._pending.append(_Pending(request, loop, answer))
            start = not self._drain_scheduled
            self._drain_scheduled = True
        if start:
            if self._staged is not None:
                # After the rest of this turn of the loop: what it reads joins the batch.
                loop.call_soon(self._drain_here)
                return answer
            try:
                self._submit(self._drain)
            except RuntimeError:  # the database thread is gone (shutting down)
                self._strand()
        return answer

    def _strand(self) -> None:
        with self._lock:
            self._drain_scheduled = False
            stranded, self._pending = self._pending, []
        for pending in stranded:
            pending.loop.call_soon_threadsafe(_settle, pending.answer, _SHUTTING_DOWN)

    # ---- staged: the batch runs on its loop, its commit on the committer -----------------

    def _drain_here(self) -> None:
        staged = self._staged
        assert staged is not None
        with self._lock:
            # At most STAGE_AT_ONCE: the loop serves no one else while it stages them.
            batch, self._pending = self._pending[:STAGE_AT_ONCE], self._pending[STAGE_AT_ONCE:]
            if not batch:  # stranded meanwhile
                self._drain_scheduled = False
                return
        requests = [p.request for p in batch]
        started = time.perf_counter()
        if not all(map(staged.stages, requests)) or not staged.turn.try_take():
            # A command that may take long, or the database thread holds the turn (or the
            # store is closed): the batch waits for that thread, and runs there.
            def there() -> None:
                self._answer(batch, self._run(requests, started))

            try:
                self._submit(there)
            except RuntimeError:
                with self._lock:
                    self._pending[:0] = batch
                self._strand()
            return
        try:
            done = staged.stage(requests)
        except BaseException as err:
            staged.turn.give_back()
            log.exception("a group of %d commands failed", len(batch))
            self._answer(batch, _failed(batch))
            if not isinstance(err, Exception):
                raise
            return

        def finish() -> None:
            staged.turn.pass_here()
            try:
                outcomes = staged.finish(done)
            except Exception:
                log.exception("a group of %d commands failed", len(batch))
                outcomes = _failed(batch)
            finally:
                self._observe(started, len(batch))
                staged.turn.give_back()
            self._answer(batch, outcomes)

        try:
            staged.hand_off(finish)
        except RuntimeError:  # the committer is gone (closing): commit here
            finish()

    def _answer(self, batch: list[_Pending], outcomes: list[Outcome]) -> None:
        """Settle a staged batch's answers on their loops; then the next drain, once they
        are settled, on the loop of the first request queued meanwhile."""
        with self._lock:
            following = self._pending[0].loop if self._pending else None
            if following is None:
                self._drain_scheduled = False
        for loop, answers in _by_loop(batch, outcomes).items():
            then = None
            if loop is following:
                then, following = self._drain_here, None
            try:
                loop.call_soon_threadsafe(_settle_all, answers, then)
            except RuntimeError:  # the caller's loop has closed
                if then is not None:
                    following = loop  # (closed: what waits on it is stranded below)
        if following is not None:
            try:
                following.call_soon_threadsafe(self._drain_here)
            except RuntimeError:
                self._strand()

    # ---- either way --------------------------------------------------------------------

    def _run(self, requests: list[CommandRequest], started: float) -> list[Outcome]:
        """``commit`` whole, in the turn (on the database thread)."""
        try:
            return self._commit(requests)
        except Exception:  # never leave a caller waiting forever
            log.exception("a group of %d commands failed", len(requests))
            return _failed(requests)
        finally:
            self._observe(started, len(requests))

    def _observe(self, started: float, size: int) -> None:
        # In the connection's turn: one observer at a time.
        if self.observe is not None:
            self.observe(time.perf_counter() - started, size)

    # ---- on the database thread ----------------------------------------------------------

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._drain_scheduled = False
        outcomes = self._run([p.request for p in batch], time.perf_counter())
        for loop, answers in _by_loop(batch, outcomes).items():
            with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                loop.call_soon_threadsafe(_settle_all, answers, None)


def _failed(batch: list[Any]) -> list[Outcome]:
    failure = DomainError(ErrorCode.ERROR_CODE_INTERNAL, "internal error; not saved")
    return [failure for _ in batch]


def _by_loop(
    batch: list[_Pending], outcomes: list[Outcome]
) -> dict[asyncio.AbstractEventLoop, list[tuple[Any, Outcome]]]:
    """The answers by the loop they settle on: one wake-up per loop for a whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Outcome]]] = {}
    for pending, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(pending.loop, []).append((pending.answer, outcome))
    return by_loop


def _settle_all(answers: list[tuple[Any, Outcome]], then: Callable[[], None] | None) -> None:
    for answer, outcome in answers:
        _settle(answer, outcome)
    if then is not None:
        # After the callers those answers wake (their acks go out first).
        asyncio.get_running_loop().call_soon(then)


def _settle(answer: asyncio.Future[websocket_pb2.Ack], outcome: Outcome) -> None:
    if answer.done():  # the caller went away (connection closed); the change stands
        return
    if isinstance(outcome, DomainError):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)
