"""Each member's unread count stays the number of their unread items through every way an
item is made, read, unread, put away with its task, brought back, or removed with its project."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, inbox_pb2

from server.domain import inbox, members
from server.domain.actor import Actor
from server.domain.service import Domain
from server.storage import migrations
from server.storage.models import InboxItemRow, MemberRow

Role = entities_pb2.MemberRole


def counted(domain: Domain, member_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Per member: (the count told, the unread items there are)."""

    def read() -> dict[str, tuple[int, int]]:
        out = {}
        for member_id in member_ids:
            unread = InboxItemRow.select().where(
                (InboxItemRow.member_id == member_id) & InboxItemRow.read_at.is_null()
            )
            out[member_id] = (inbox.unread_count(member_id), unread.count())
        return out

    with domain.store.db.atomic():
        return read()


def test_unread_counts_match_the_items_through_every_change(domain: Domain) -> None:
    now = 1
    with domain.store.db.atomic():
        people = [members.local(f"c-{n}", f"Person {n}", now) for n in range(3)]
    alice, bob, cara = (
        Actor(member_id=m.id, role=Role.MEMBER_ROLE_OWNER, client_key=m.id) for m in people
    )
    ids = [m.id for m in people]

    def check() -> dict[str, tuple[int, int]]:
        found = counted(domain, ids)
        assert all(told == there for told, there in found.values()), found
        return found

    def run(actor: Actor, command: object) -> object:
        return domain.execute(actor, command)  # type: ignore[arg-type]

    project = run(
        alice, commands_pb2.CreateProject(project=entities_pb2.Project(key="UNR", name="U"))
    ).project  # type: ignore[attr-defined]
    made = [
        run(
            alice,
            commands_pb2.CreateTask(
                project_id=project.id,
                task=entities_pb2.Task(title=f"T{n}", assignee_id=bob.member_id),
            ),
        ).task  # type: ignore[attr-defined]
        for n in range(4)
    ]
    for t in made:
        run(cara, commands_pb2.AddComment(task_id=t.id, body=f"@Person 0 and @Person 1 on {t.key}"))
    run(
        bob,
        commands_pb2.UpdateTask(
            task_id=made[0].id,
            task=entities_pb2.Task(title="renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        ),
    )
    found = check()
    assert found[bob.member_id][0] >= 4 and found[alice.member_id][0] >= 4

    # Read one, read all up to an item, unread one again.
    page = run(bob, inbox_pb2.ListInbox()).inbox  # type: ignore[attr-defined]
    assert page.unread_count == found[bob.member_id][0]
    first, second = page.items[0].id, page.items[1].id
    unread_task = page.items[0].task_id
    run(bob, inbox_pb2.MarkInboxRead(item_ids=[first]))
    assert check()[bob.member_id][0] == found[bob.member_id][0] - 1
    run(bob, inbox_pb2.MarkInboxRead(item_ids=[first]))  # read already: no change
    run(bob, inbox_pb2.MarkInboxRead(all=True, up_to_id=second))
    run(bob, inbox_pb2.MarkInboxRead(item_ids=[first], unread=True))
    run(bob, inbox_pb2.MarkInboxRead(item_ids=[first], unread=True))  # unread already
    assert check()[bob.member_id][0] >= 1

    # A task to the trash takes its items (read or not) with it; back, they count again.
    before = check()
    run(alice, commands_pb2.DeleteTask(task_id=unread_task))
    during = check()
    assert during[bob.member_id][0] < before[bob.member_id][0]
    run(alice, commands_pb2.RestoreTask(task_id=unread_task))
    assert check() == before

    # All read; then the project deleted.
    run(alice, inbox_pb2.MarkInboxRead(all=True))
    assert check()[alice.member_id] == (0, 0)
    assert check()[bob.member_id][0] > 0
    run(alice, commands_pb2.DeleteProject(project_id=project.id))
    check()
    # Items removed by the database itself (a cascade) leave the count too.
    with domain.store.db.atomic():
        MemberRow.delete().where(MemberRow.id == bob.member_id).execute()
    assert check()[bob.member_id] == (0, 0)


@pytest.mark.sqlite_only("the counts are SQLite's (PostgreSQL counts the items)")
def test_the_count_is_taken_from_the_items_a_file_had_before(tmp_path: Path) -> None:
    """The counts start from the unread items already there when the step is applied."""
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    before = migrations.MIGRATIONS[: migrations.MIGRATIONS.index(migrations.V_INBOX_UNREAD)]
    migrations.migrate(tmp_path / "old.db", conn, before)
    columns = (
        "member_id, kind, project_id, task_id, task_key, task_title, source, once_key,"
        " created_at, read_at"
    )
    for n, (member, read_at) in enumerate([("m1", None), ("m1", None), ("m1", 5), ("m2", None)]):
        conn.execute(
            f"INSERT INTO inbox_item ({columns}) VALUES (?, 1, 'p', 't', 'K-1', 'T', 's', ?, 1, ?)",
            (member, f"k{n}", read_at),
        )
    migrations.migrate(tmp_path / "old.db", conn)
    assert dict(conn.execute("SELECT member_id, unread FROM inbox_unread")) == {"m1": 2, "m2": 1}
    conn.close()
