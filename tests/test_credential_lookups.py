"""LAN credentials presented together are looked up together (server/storage/batched.py).

A reconnect storm of invitees presents a credential per upgrade and per hello; each used to
make a trip of its own to the database thread. These show the batching itself (with a
worker thread held busy while lookups queue), what a batch answers for each kind of
credential.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from server import paths
from server.security import invites
from server.storage.batched import Batched
from server.storage.database import Store
from tests.ws_client import poll_until


class Held:
    """A one-thread executor whose thread can be held busy while work queues behind it."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1)
        self.free = threading.Event()
        busy = threading.Event()
        self.pool.submit(self._hold, busy)
        assert busy.wait(30)

    def _hold(self, busy: threading.Event) -> None:
        busy.set()
        self.free.wait(30)

    def submit(self, fn: object) -> object:
        return self.pool.submit(fn)  # type: ignore[arg-type]


async def test_lookups_queued_while_the_thread_is_busy_go_in_one_batch() -> None:
    held = Held()
    batches: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        batches.append(items)
        return [item * 10 for item in items]

    lookups: Batched[int, int] = Batched(held.submit, run)
    asked = [asyncio.ensure_future(lookups(i)) for i in range(50)]
    await poll_until(lambda: lookups.waiting == 50)
    held.free.set()
    assert await asyncio.gather(*asked) == [i * 10 for i in range(50)]
    assert batches == [list(range(50))]
    # Once the thread is idle, the next lookup is a batch of its own.
    assert await lookups(7) == 70
    assert batches[-1] == [7]
    held.pool.shutdown()


async def test_a_failed_batch_fails_each_of_its_lookups_and_the_next_batch_runs() -> None:
    held = Held()
    calls = 0

    def run(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk gone")
        return [item.upper() for item in items]

    lookups: Batched[str, str] = Batched(held.submit, run)
    asked = [asyncio.ensure_future(lookups(s)) for s in "abc"]
    gone = asyncio.ensure_future(lookups("d"))
    await poll_until(lambda: lookups.waiting == 4)
    gone.cancel()  # its caller went away: the others are answered all the same
    held.free.set()
    outcomes = await asyncio.gather(*asked, return_exceptions=True)
    assert all(isinstance(o, OSError) for o in outcomes)
    assert await lookups("e") == "E"
    held.pool.shutdown()


async def test_a_lookup_after_the_thread_is_gone_is_refused() -> None:
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    lookups: Batched[int, int] = Batched(pool.submit, lambda items: items)
    with pytest.raises(RuntimeError):
        await lookups(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(paths.database_path(tmp_path / "data"))
    try:
        yield opened
    finally:
        opened.close()


def test_a_batch_answers_each_kind_of_credential_and_records_each_use_once(store: Store) -> None:
    ana, bo, cy = (invites.create(name, "editor") for name in ("Ana", "Bo", "Cy"))
    principal, secret = invites.open_session(bo.token, now=1_000) or (None, "")
    assert principal is not None
    invites.revoke(cy.invite.id)
    asked = [
        (invites.TOKEN, ana.token),
        (invites.SESSION, secret),
        (invites.TOKEN, cy.token),  # revoked
        (invites.TOKEN, "not a token"),
        (invites.SESSION, "not a session"),
        (invites.TOKEN, ana.token),  # the same again, in the same batch
    ]
    now = 1_000 + 2 * invites.LAST_USED_RESOLUTION_MICROS
    found = invites.principals(asked, now)
    assert [p.member.display_name if p else None for p in found] == [
        "Ana",
        "Bo",
        None,
        None,
        None,
        "Ana",
    ]
    first = found[0]
    assert first is not None and first.role == first.member.role
    assert not first.member.rest_caller
    used = {i.name: i.last_used_at for i in invites.list_all()}
    assert used["Ana"] == now and used["Bo"] == now and used["Cy"] is None
