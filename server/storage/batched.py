"""Lookups that arrive together make one trip to the database thread.

After the owner's laptop restarts, every invitee's browser reconnects at once, and each
connection's upgrade presents its credential. One trip to the database thread each made a
storm of N cost N hand-offs between threads, each waiting for the GIL behind the event
loop's work: 500 invitees took over a second to get in. Instead
each lookup is queued here; the first queued starts a drain on the database thread, which
takes everything queued by the time it runs and answers it with one call (``run``, in one
transaction there), and lookups queued meanwhile go with the next drain. Each answer is
settled on its caller's own loop.

The hellos of this machine's browsers find their members the same way (domain/hellos.py).
This is ``domain.group_commit`` without its commands, acks and staging: lookups need none
of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from threading import Lock
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# How work reaches the database thread; raises RuntimeError once that thread is gone.
Submit = Callable[[Callable[[], None]], object]


class Batched(Generic[K, V]):
    """``await batched(item)``: ``run([item, ...])``'s answer for it, ``run`` taking all the
    items queued together (its answers in their order; an exception it raises is each of
    theirs)."""

    def __init__(self, submit: Submit, run: Callable[[list[K]], list[V]]) -> None:
        self._submit = submit
        self._run = run
        self._lock = Lock()
        self._pending: list[tuple[K, asyncio.AbstractEventLoop, asyncio.Future[V]]] = []
        # A drain is queued and has not taken the pending items yet.
        self._scheduled = False

    @property
    def waiting(self) -> int:
        """Lookups queued for the next drain."""
        with self._lock:
            return len(self._pending)

    async def __call__(self, item: K) -> V:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[V] = loop.create_future()
        with self._lock:
            self._pending.append((item, loop, answer))
            start = not self._scheduled
            self._scheduled = True
        if start:
            try:
                self._submit(self._drain)
            except RuntimeError:  # the database thread is gone (shutting down)
                with self._lock:
                    self._scheduled = False
                    stranded, self._pending = self._pending, []
                for _item, their_loop, theirs in stranded:
                    their_loop.call_soon_threadsafe(_settle, theirs, None, _closed())
        return await answer

    def _drain(self) -> None:  # on the database thread
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        if not batch:
            return
        answers: list[V] | None = None
        failure: BaseException | None = None
        try:
            answers = self._run([item for item, _loop, _answer in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers for {len(batch)} lookups")
        except Exception as exc:  # each caller gets it, and the thread serves on
            failure = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[V], V | None]]] = {}
        for i, (_item, loop, answer) in enumerate(batch):
            by_loop.setdefault(loop, []).append((answer, None if answers is None else answers[i]))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                loop.call_soon_threadsafe(_settle_all, settled, failure)


class Closed(RuntimeError):
    """The database thread is gone (the store closed): nothing more is looked up."""


def _closed() -> Closed:
    return Closed("the database is closed")


def _settle_all(
    settled: list[tuple[asyncio.Future[V], V | None]], failure: BaseException | None
) -> None:
    for answer, value in settled:
        _settle(answer, value, failure)


def _settle(answer: asyncio.Future[V], value: V | None, failure: BaseException | None) -> None:
    if answer.done():  # the caller went away (its connection closed)
        return
    if failure is not None:
        answer.set_exception(failure)
    else:
        answer.set_result(value)  # type: ignore[arg-type]  # a value whenever no failure
