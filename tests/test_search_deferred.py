"""Search's index of changed texts is brought up to date after the command, not inside it
(V_SEARCH_DEFERRED): a search right after an acknowledgement still finds the new text,
whether the reindex ran after the group commit, later, or not yet. A real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from tandem.v1 import commands_pb2, entities_pb2

from server.domain import search
from server.domain.errors import DomainError
from server.domain.search import SearchQuery
from server.domain.service import CommandRequest, Domain
from server.storage import migrations
from tests.fixtures import retitle, titled_tasks

pytestmark = pytest.mark.sqlite_only("search_dirty is SQLite's (PostgreSQL reindexes by trigger)")


def make_tasks(domain: Domain, *titles: str) -> list[entities_pb2.Task]:
    return titled_tasks(domain, *titles, key="SRC")


def found(domain: Domain, text: str) -> list[str]:
    return sorted(hit.task.title for hit in domain.search(SearchQuery(text)).hits)


def dirty(domain: Domain) -> list[str]:
    conn = sqlite3.connect(domain.store.path)
    try:
        return sorted(r[0] for r in conn.execute("SELECT entity_id FROM search_dirty"))
    finally:
        conn.close()


def test_a_group_that_upkeep_is_not_due_in_leaves_its_reindex_and_a_search_still_finds_it(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = make_tasks(domain, "alpha one", "beta two", "gamma three")
    assert dirty(domain) == []  # execute's commands: reindexed in their own transactions
    # Upkeep ran a moment ago: this group's reindex is left for later.
    monkeypatch.setattr(domain.upkeep, "due", lambda _events: False)
    owner = domain.owner_actor()
    batch = [
        CommandRequest(owner, retitle(a.id, "zebra one"), "r1"),
        CommandRequest(owner, retitle(b.id, "zebra two"), "r2"),
        CommandRequest(owner, retitle(a.id, "zebra uno"), "r3"),  # twice: noted once
        CommandRequest(owner, retitle(c.id, "gamma three"), "r4"),  # the same text: not noted
    ]
    outcomes = domain._commit(batch)
    titles = [o.task.title for o in outcomes if not isinstance(o, DomainError)]
    assert titles == ["zebra one", "zebra two", "zebra uno", "gamma three"]
    assert dirty(domain) == sorted([a.id, b.id])
    # The acknowledged titles are found at once, the old ones no more.
    assert found(domain, "zebra") == ["zebra two", "zebra uno"]
    assert found(domain, "alpha") == []
    assert found(domain, "beta") == []
    assert dirty(domain) == []


def test_the_upkeep_alone_reindexes_what_a_group_left(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = make_tasks(domain, "old words")
    owner = domain.owner_actor()
    comment = domain.execute(
        owner, commands_pb2.AddComment(task_id=a.id, body="first remark")
    ).comment
    with monkeypatch.context() as not_due:
        not_due.setattr(domain.upkeep, "due", lambda _events: False)
        domain._commit(
            [
                CommandRequest(owner, retitle(a.id, "new words"), "r1"),
                CommandRequest(
                    owner,
                    commands_pb2.EditComment(comment_id=comment.id, body="second remark"),
                    "r2",
                ),
            ]
        )
    assert dirty(domain) == sorted([a.id, comment.id])
    domain.upkeep.run_alone()  # what the alarm runs, one interval after the last upkeep
    assert dirty(domain) == []
    conn = sqlite3.connect(domain.store.path)
    try:
        rows = conn.execute(
            "SELECT d.kind, s.title, s.body FROM search_text AS s"
            " JOIN search_doc AS d ON d.doc = s.rowid ORDER BY d.kind"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [("comment", "", "second remark"), ("task", "new words", "")]


async def test_search_after_acks_of_one_group_commit_finds_every_new_title(
    domain: Domain,
) -> None:
    titles = [f"task {n}" for n in range(24)]
    tasks = make_tasks(domain, *titles)
    groups: list[int] = []
    domain.observe_commits(lambda _seconds, commands: groups.append(commands))
    owner = domain.owner_actor()
    acks = await asyncio.gather(
        *(
            domain.command(owner, retitle(t.id, f"renamed quokka{n}"), f"q{n}")
            for n, t in enumerate(tasks)
        )
    )
    assert len(acks) == len(tasks)
    assert max(groups) > 1  # some of them shared a group commit
    hits = await domain.read(domain.search, SearchQuery("quokka", page_size=100))
    assert sorted(h.task.title for h in hits.hits) == sorted(
        f"renamed quokka{n}" for n in range(len(tasks))
    )
    assert (await domain.read(domain.search, SearchQuery("task"))).total_size == 0


def test_the_migration_notes_changed_texts_and_the_reindex_applies_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    before = migrations.MIGRATIONS.index(migrations.V_SEARCH_DEFERRED)
    migrations.migrate(path, conn, migrations.MIGRATIONS[:before])
    conn.executescript(
        """
        INSERT INTO project (id, key, name, version, created_at, updated_at)
            VALUES ('p', 'OLD', 'Old', 1, 0, 0);
        INSERT INTO task (id, project_id, number, title, description, status, priority, rank,
                          version, created_at, updated_at)
            VALUES ('t', 'p', 1, 'Ancient ticket', 'about zebras', 2, 1, 'a0', 1, 0, 0);
        INSERT INTO comment (id, task_id, project_id, author_id, body, version, created_at)
            VALUES ('c', 't', 'p', 'm', 'giraffes too', 1, 0);
        """
    )
    migrations.migrate(path, conn)
    assert migrations.user_version(conn) == migrations.LATEST

    def matches(word: str) -> list[str]:
        return [
            r[0]
            for r in conn.execute(
                "SELECT d.entity_id FROM search_text JOIN search_doc AS d"
                " ON d.doc = search_text.rowid WHERE search_text MATCH ?",
                (word,),
            )
        ]

    conn.execute("UPDATE task SET status = 3 WHERE id = 't'")  # no text changed
    assert conn.execute("SELECT count(*) FROM search_dirty").fetchone()[0] == 0
    conn.execute("UPDATE task SET title = 'Modern ticket' WHERE id = 't'")
    conn.execute("UPDATE task SET description = 'about lions' WHERE id = 't'")
    conn.execute("UPDATE comment SET body = 'otters' WHERE id = 'c'")
    assert sorted(r[0] for r in conn.execute("SELECT entity_id FROM search_dirty")) == ["c", "t"]
    assert matches("ancient") == ["t"]  # noted, not yet reindexed
    for sql in (search._REINDEX_TASKS, search._REINDEX_COMMENTS, search._CLEAR_DIRTY):
        conn.execute(sql, (-1,))  # every noted row (no batch limit)
    assert matches("ancient") == [] and matches("zebras") == [] and matches("giraffes") == []
    assert matches("modern") == ["t"] and matches("lions") == ["t"] and matches("otters") == ["c"]
    # A noted row deleted before its reindex leaves nothing behind.
    conn.execute("UPDATE comment SET body = 'seals' WHERE id = 'c'")
    conn.execute("DELETE FROM comment WHERE id = 'c'")
    for sql in (search._REINDEX_TASKS, search._REINDEX_COMMENTS, search._CLEAR_DIRTY):
        conn.execute(sql, (-1,))  # every noted row (no batch limit)
    assert matches("seals") == [] and matches("otters") == []
    assert conn.execute("SELECT count(*) FROM search_dirty").fetchone()[0] == 0
    conn.close()


def test_a_backlog_is_reindexed_a_batch_at_a_time_and_a_search_sees_all_of_it(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "REINDEX_BATCH", 2)
    tasks = make_tasks(domain, *(f"plain {n}" for n in range(5)))
    owner = domain.owner_actor()
    # One group's bulk of changed titles, left for later (upkeep not due, the alarm silent).
    with monkeypatch.context() as held:
        held.setattr(domain.upkeep, "due", lambda _events: False)
        held.setattr(domain.upkeep._alarm, "set", lambda _deadline: None)
        batch = [
            CommandRequest(owner, retitle(t.id, f"heron {n}"), f"h{n}") for n, t in enumerate(tasks)
        ]
        domain._commit(batch)
        assert len(dirty(domain)) == 5
        # An upkeep reindexes one batch, and says more is left.
        assert domain.upkeep.run_alone() is True
        assert len(dirty(domain)) == 3
        # A search reindexes all that is left before it reads.
        assert found(domain, "heron") == [f"heron {n}" for n in range(5)]
        assert dirty(domain) == []
        domain._commit(
            [
                CommandRequest(owner, retitle(t.id, f"egret {n}"), f"e{n}")
                for n, t in enumerate(tasks)
            ]
        )
    assert len(dirty(domain)) == 5
    # A group's upkeep takes a batch; the alarm works off the rest as soon as the thread is
    # free, a batch at a time.
    steps: list[int | None] = []
    reindex = search.reindex

    def counted(limit: int | None = None) -> bool:
        steps.append(limit)
        return reindex(limit)

    monkeypatch.setattr(search, "reindex", counted)
    domain._commit([CommandRequest(owner, retitle(tasks[0].id, "egret 0"), "again")], follow=True)
    assert len(dirty(domain)) == 3
    deadline = time.monotonic() + 10
    while dirty(domain):
        assert time.monotonic() < deadline, "the backlog was not worked off"
        time.sleep(0.01)
    assert steps == [2, 2, 2]
    with closing(sqlite3.connect(domain.store.path)) as conn:
        titles = conn.execute(
            "SELECT s.title FROM search_text AS s JOIN search_doc AS d ON d.doc = s.rowid"
            " WHERE d.kind = 'task' ORDER BY s.title"
        ).fetchall()
    assert [t for (t,) in titles] == [f"egret {n}" for n in range(5)]
