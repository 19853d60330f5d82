"""Group commit: commands that arrive while the database thread is busy are committed together.

Callers on any event loop queue a request and await its answer; one drain on the database
thread takes everything queued so far and hands it to ``commit`` as one batch (one
transaction, one fsync). Each answer is settled back on its caller's own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import Any

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


@dataclass
class _Pending:
    request: CommandRequest
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[websocket_pb2.Ack]


class GroupCommit:
    def __init__(self, submit: Submit, commit: Commit) -> None:
        self._submit = submit
        self._commit = commit
        self._pending: list[_Pending] = []
        self._lock = Lock()
        self._drain_scheduled = False
        # Told each group's commit time and size, on the database thread (the metrics).
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
            try:
                self._submit(self._drain)
            except RuntimeError:  # the database thread is gone (shutting down)
                with self._lock:
                    self._drain_scheduled = False
                    stranded, self._pending = self._pending, []
                for pending in stranded:
                    pending.loop.call_soon_threadsafe(_settle, pending.answer, _SHUTTING_DOWN)
        return answer

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._drain_scheduled = False
        outcomes: list[Outcome]
        started = time.perf_counter()
        try:
            outcomes = self._commit([p.request for p in batch])
        except Exception:  # never leave a caller waiting forever
            log.exception("a group of %d commands failed", len(batch))
            failure = DomainError(ErrorCode.ERROR_CODE_INTERNAL, "internal error; not saved")
            outcomes = [failure for _ in batch]
        if self.observe is not None:
            self.observe(time.perf_counter() - started, len(batch))
        # One wake-up per caller loop for the whole batch, not one per command.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Outcome]]] = {}
        for pending, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(pending.loop, []).append((pending.answer, outcome))
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                loop.call_soon_threadsafe(_settle_all, answers)


def _settle_all(answers: list[tuple[Any, Outcome]]) -> None:
    for answer, outcome in answers:
        _settle(answer, outcome)


def _settle(answer: asyncio.Future[websocket_pb2.Ack], outcome: Outcome) -> None:
    if answer.done():  # the caller went away (connection closed); the change stands
        return
    if isinstance(outcome, DomainError):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)
