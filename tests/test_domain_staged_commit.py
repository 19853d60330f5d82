"""On SQLite a group of edits runs on the event loop that queued it, and its commit (the
fsync) on the committer thread; the database thread keeps the reads, the long commands,
and any group that arrives while it holds the connection's turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

from server.command_table import COMMAND_TABLE
from server.config import ServerConfig
from server.domain import group_commit, service
from server.domain.errors import DomainError
from server.domain.service import Domain, open_domain
from server.storage.database import Store
from tests.fixtures import board, retitle

pytestmark = pytest.mark.sqlite_only("the connection shared in turn is SQLite's")


Seen = dict[str, list[tuple[str, int]]]
Opened = Callable[..., tuple[Domain, list[entities_pb2.Task], Seen]]


@pytest.fixture
def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``opened(tasks, *names)``: the domain with a board of ``tasks`` tasks, and the thread
    and batch size of each call of the Domain methods named, from after the board (whose
    commands run on this thread). The spies go in first: the domain's group commit keeps
    the methods it was made with."""
    made: list[Domain] = []

    def make(tasks: int, *names: str) -> tuple[Domain, list[entities_pb2.Task], Seen]:
        seen: Seen = {name: [] for name in names}
        for name in names:
            spy(monkeypatch, name, seen[name])
        made.append(open_domain(ServerConfig(data_dir=tmp_path)))
        made_tasks = board(made[-1], tasks)
        for calls in seen.values():
            calls.clear()
        return made[-1], made_tasks, seen

    yield make
    for d in made:
        d.close()


def spy(monkeypatch: pytest.MonkeyPatch, name: str, seen: list[tuple[str, int]]) -> None:
    """Record the thread (and batch size) of each call of Domain.<name>."""
    real: Callable[..., Any] = getattr(Domain, name)

    def recorded(self: Domain, arg: Any, **kw: Any) -> Any:
        size = len(arg) if isinstance(arg, list) else len(arg.outcomes)
        seen.append((threading.current_thread().name, size))
        return real(self, arg, **kw)

    monkeypatch.setattr(Domain, name, recorded)


async def edit_all(domain: Domain, edits: list[Any]) -> list[Any]:
    owner = domain.owner_actor()
    futures = [domain.submit(owner, cmd, f"id-{n}") for n, cmd in enumerate(edits)]
    return await asyncio.gather(*futures, return_exceptions=True)


def test_a_group_of_edits_is_staged_on_its_loop_and_committed_on_the_committer(
    opened: Opened,
) -> None:
    domain, tasks, seen = opened(3, "_stage", "_finish")
    staged, finished = seen["_stage"], seen["_finish"]
    heard: list[tuple[str, int]] = []
    domain.sink.add_listener(
        lambda events: heard.append((threading.current_thread().name, len(events)))
    )
    loop_thread = threading.current_thread().name

    acks = asyncio.run(edit_all(domain, [retitle(t.id, f"new {t.title}") for t in tasks]))

    assert all(isinstance(a, websocket_pb2.Ack) for a in acks)
    assert [a.task.title for a in acks] == [f"new {t.title}" for t in tasks]
    # One group: staged on the loop that queued it, committed and published on the committer.
    assert staged == [(loop_thread, 3)]
    assert [(name.startswith("tandem-commit"), n) for name, n in finished] == [(True, 3)]
    assert [(name.startswith("tandem-commit"), n) for name, n in heard] == [(True, 3)]
    # Saved: a fresh read (this thread's own connection) sees it.
    assert [domain.get_task(t.id).title for t in tasks] == [f"new {t.title}" for t in tasks]
    assert domain.store.turn.holder is None


def test_a_group_waits_for_the_database_thread_while_it_holds_the_turn(
    opened: Opened,
) -> None:
    domain, (task,), seen = opened(1, "_commit")
    committed = seen["_commit"]
    holding, release = threading.Event(), threading.Event()

    def slow_read() -> int:
        holding.set()
        assert release.wait(30)
        return 1

    async def scenario() -> Any:
        read = asyncio.ensure_future(domain.read(slow_read))
        await asyncio.get_running_loop().run_in_executor(None, holding.wait, 30)
        answer = domain.submit(domain.owner_actor(), retitle(task.id, "later"), "id-1")
        for _ in range(20):  # the loop turns: the drain finds the turn taken
            await asyncio.sleep(0)
        waited = not answer.done()
        release.set()
        return waited, await answer, await read

    waited, ack, read = asyncio.run(scenario())
    assert waited and read == 1
    assert ack.task.title == "later"
    # It ran whole on the database thread, after the read.
    assert [(name.startswith("tandem-db"), n) for name, n in committed] == [(True, 1)]


def test_a_batch_with_a_command_that_may_take_long_runs_on_the_database_thread(
    opened: Opened,
) -> None:
    domain, (task,), seen = opened(1, "_stage", "_commit")
    staged, committed = seen["_stage"], seen["_commit"]
    make = commands_pb2.CreateProject(project=entities_pb2.Project(key="TWO", name="two"))

    acks = asyncio.run(edit_all(domain, [retitle(task.id, "x"), make]))

    assert all(isinstance(a, websocket_pb2.Ack) for a in acks)
    assert [(name.startswith("tandem-db"), n) for name, n in committed] == [(True, 2)]
    assert all(name.startswith("tandem-db") for name, _ in staged)


def test_a_loop_stages_at_most_stage_at_once_commands_then_the_rest(
    opened: Opened,
) -> None:
    domain, tasks, seen = opened(4, "_stage")
    staged = seen["_stage"]
    count = group_commit.STAGE_AT_ONCE + 2
    edits = [retitle(tasks[n % 4].id, f"v{n}") for n in range(count)]

    acks = asyncio.run(edit_all(domain, edits))

    assert all(isinstance(a, websocket_pb2.Ack) for a in acks)
    assert [n for _, n in staged] == [group_commit.STAGE_AT_ONCE, 2]
    # Each command saw the one before it on its task: the last titles stand.
    assert {domain.get_task(t.id).title for t in tasks} == {
        f"v{n}" for n in range(count - 4, count)
    }


def test_a_commit_that_fails_on_the_committer_saves_nothing_and_answers_every_command(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain, (a, b), _ = opened(2)
    real_commit = pw._transaction.commit

    def commit(self: Any, begin: bool = True) -> None:
        if threading.current_thread().name.startswith("tandem-commit"):
            raise pw.OperationalError("disk I/O error")
        real_commit(self, begin)

    monkeypatch.setattr(pw._transaction, "commit", commit)
    outcomes = asyncio.run(edit_all(domain, [retitle(a.id, "lost"), retitle(b.id, "lost")]))
    assert all(isinstance(o, DomainError) for o in outcomes)
    assert domain.store.turn.holder is None  # given back: the next group runs
    monkeypatch.setattr(pw._transaction, "commit", real_commit)
    assert [domain.get_task(t.id).title for t in (a, b)] == [a.title, b.title]
    (ack,) = asyncio.run(edit_all(domain, [retitle(a.id, "kept")]))
    assert ack.task.title == "kept"


def test_the_threads_that_take_turns_share_one_connection_and_others_have_their_own(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "turns.sqlite3")
    try:

        def connection() -> int:
            return id(store.db.connection())

        async def on_threads() -> tuple[int, int]:
            on_db = await store.call(connection)
            assert store.turn.try_take()
            try:
                on_loop = connection()
            finally:
                store.turn.give_back()
            return on_db, on_loop

        on_db, on_loop = asyncio.run(on_threads())
        assert on_db == on_loop
        assert connection() != on_db  # no turn: this thread's own
    finally:
        store.close()
    assert not store.turn.try_take()  # closed: no loop stages a group any more


def test_the_commands_a_loop_may_stage_are_commands_of_the_table() -> None:
    assert set(COMMAND_TABLE) >= service._STAGED_KINDS
    # None of the long ones.
    assert not service._STAGED_KINDS & {"import_workspace", "bulk_edit_tasks", "delete_project"}
