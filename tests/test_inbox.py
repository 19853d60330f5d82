"""The inbox over a real SQLite file: who gets what, watching, marking read, due dates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, inbox_pb2, websocket_pb2

from server.domain import inbox as inbox_module
from server.domain import members
from server.domain.actor import Actor
from server.domain.errors import DomainError, ErrorCode
from server.domain.events import Delivery
from server.domain.group_commit import CommandRequest
from server.domain.service import Domain
from server.storage.database import Store

Kind = inbox_pb2.InboxItemKind
Role = entities_pb2.MemberRole


class Clock:
    """The domain's clock, moved by the test (microseconds, local time)."""

    def __init__(self, when: datetime) -> None:
        self.micros = int(when.timestamp() * 1_000_000)

    def set(self, when: datetime) -> None:
        self.micros = int(when.timestamp() * 1_000_000)

    def __call__(self) -> int:
        return self.micros


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 10, 9, 0))


@pytest.fixture
def domain(tmp_path: Path, clock: Clock) -> Iterator[Domain]:
    d = Domain(Store(tmp_path / "tandem.db"), clock=clock)
    yield d
    d.close()


class People:
    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        now = domain._clock()
        with domain.store.db.atomic():
            self.alice = self._actor(members.local("browser-alice", "Alice Ng", now))
            self.bob = self._actor(members.local("browser-bob", "Bob", now))
            self.cara = self._actor(members.local("browser-cara", "Cara", now))
            viewer = members.invited("Vic", Role.MEMBER_ROLE_VIEWER, now)
        self.vic = Actor(member_id=viewer.id, role=Role.MEMBER_ROLE_VIEWER, client_key="v")

    @staticmethod
    def _actor(member: entities_pb2.Member) -> Actor:
        return Actor(member_id=member.id, role=Role.MEMBER_ROLE_OWNER, client_key=member.id)

    def run(self, actor: Actor, **payload: object) -> websocket_pb2.Ack:
        (command,) = payload.values()
        return self.domain.execute(actor, command)  # type: ignore[arg-type]


@pytest.fixture
def people(domain: Domain) -> People:
    return People(domain)


def project(p: People) -> str:
    ack = p.run(
        p.alice,
        create_project=commands_pb2.CreateProject(
            project=entities_pb2.Project(key="WEB", name="W")
        ),
    )
    return ack.project.id


def task(p: People, actor: Actor, project_id: str, **fields: object) -> entities_pb2.Task:
    ack = p.run(
        actor,
        create_task=commands_pb2.CreateTask(
            project_id=project_id,
            task=entities_pb2.Task(title=str(fields.pop("title", "A task")), **fields),  # type: ignore[arg-type]
        ),
    )
    return ack.task


def update(p: People, actor: Actor, task_id: str, **fields: object) -> websocket_pb2.Ack:
    return p.run(
        actor,
        update_task=commands_pb2.UpdateTask(
            task_id=task_id,
            update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
            task=entities_pb2.Task(**fields),  # type: ignore[arg-type]
        ),
    )


def comment(p: People, actor: Actor, task_id: str, body: str) -> websocket_pb2.Ack:
    return p.run(actor, add_comment=commands_pb2.AddComment(task_id=task_id, body=body))


def inbox(p: People, actor: Actor, **options: object) -> inbox_pb2.InboxPage:
    return p.run(actor, list_inbox=inbox_pb2.ListInbox(**options)).inbox  # type: ignore[arg-type]


def kinds(page: inbox_pb2.InboxPage) -> list[tuple[int, str]]:
    return [(i.kind, i.task_key) for i in page.items]


def test_a_mention_reaches_the_one_named_and_not_the_author(people: People) -> None:
    p = people
    pid = project(p)
    t = task(p, p.alice, pid, title="Ship it")
    delivered: list[Delivery] = []
    p.domain.inbox_sink.add_listener(delivered.extend)
    comment(p, p.alice, t.id, "@bob can you look? and me, @Alice Ng")
    bob = inbox(p, p.bob)
    assert kinds(bob) == [(Kind.INBOX_ITEM_KIND_MENTION, "WEB-1")]
    item = bob.items[0]
    assert item.actor_id == p.alice.member_id and item.excerpt.startswith("@bob can you look?")
    assert item.task_title == "Ship it" and not item.HasField("read_time")
    assert bob.unread_count == 1
    assert inbox(p, p.alice).items == []  # her own comment, her own name: nothing
    assert inbox(p, p.cara).items == []
    # Told live to Bob alone, after the commit, with his count.
    assert [d.member_id for d in delivered] == [p.bob.member_id]
    update_msg = delivered[0].message().inbox_update
    assert update_msg.unread_count == 1 and update_msg.items[0].id == item.id


def test_an_update_is_encoded_only_when_asked_for_and_as_it_was_made(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most members an upkeep run makes items for are not connected: their updates are
    never encoded. One asked for later says what was made, and the count then, whatever
    changed since."""
    p = people
    pid = project(p)
    encoded: list[int] = []
    real = inbox_module._proto

    def counted(item_id: int, *rest: Any) -> inbox_pb2.InboxItem:
        encoded.append(item_id)
        return real(item_id, *rest)

    monkeypatch.setattr(inbox_module, "_proto", counted)
    delivered: list[Delivery] = []
    p.domain.inbox_sink.add_listener(delivered.extend)
    t = task(p, p.alice, pid, title="Before", assignee_id=p.bob.member_id)
    assert [d.member_id for d in delivered] == [p.bob.member_id]
    assert encoded == []  # nobody asked for Bob's update
    update(p, p.alice, t.id, title="After")  # Bob watches it now: a second item
    assert len(delivered) == 2 and encoded == []
    p.run(p.bob, mark_inbox_read=inbox_pb2.MarkInboxRead(all=True))
    encoded.clear()  # (marking read tells Bob's tabs of both items, encoded at once)
    first = delivered[0].message().inbox_update
    (item,) = first.items
    assert item.kind == Kind.INBOX_ITEM_KIND_ASSIGNED and item.task_title == "Before"
    assert first.unread_count == 1
    assert encoded == [item.id]


def test_assignment_watching_and_changes_to_watched_tasks(people: People) -> None:
    p = people
    pid = project(p)
    t = task(p, p.alice, pid, title="Fix login")
    assert inbox(p, p.alice).items == []  # she made it: she watches it, but it is her change
    update(p, p.alice, t.id, assignee_id=p.bob.member_id)
    assert kinds(inbox(p, p.bob)) == [(Kind.INBOX_ITEM_KIND_ASSIGNED, "WEB-1")]
    # Bob now watches it: Alice's next change reaches him, Bob's reaches Alice (its creator).
    update(p, p.alice, t.id, status=entities_pb2.TaskStatus.TASK_STATUS_IN_PROGRESS)
    bob = inbox(p, p.bob)
    assert bob.items[0].kind == Kind.INBOX_ITEM_KIND_CHANGED
    assert list(bob.items[0].changed_fields) == ["status"]
    assert bob.items[0].excerpt == "Status: In progress"
    update(p, p.bob, t.id, title="Fix the login page")
    alice = inbox(p, p.alice)
    assert kinds(alice) == [(Kind.INBOX_ITEM_KIND_CHANGED, "WEB-1")]
    assert alice.items[0].excerpt == "Title: Fix the login page"
    assert len(inbox(p, p.bob).items) == 2  # his own rename told him nothing
    # A move within a column (rank only) is no news.
    before = len(inbox(p, p.bob).items)
    in_progress = entities_pb2.TaskStatus.TASK_STATUS_IN_PROGRESS
    p.run(p.alice, move_task=commands_pb2.MoveTask(task_id=t.id, status=in_progress))
    assert len(inbox(p, p.bob).items) == before
    # Cara hears nothing until she watches; then a comment reaches her; unwatched, nothing.
    comment(p, p.bob, t.id, "working on it")
    assert inbox(p, p.cara).items == []
    ack = p.run(p.cara, watch_task=inbox_pb2.WatchTask(task_id=t.id, watching=True))
    assert set(ack.watchers.member_ids) == {p.alice.member_id, p.bob.member_id, p.cara.member_id}
    assert ack.seq > 0  # in the change log, so every board sees it live
    comment(p, p.bob, t.id, "done soon")
    assert kinds(inbox(p, p.cara)) == [(Kind.INBOX_ITEM_KIND_COMMENT, "WEB-1")]
    p.run(p.cara, watch_task=inbox_pb2.WatchTask(task_id=t.id, watching=False))
    comment(p, p.bob, t.id, "really")
    assert len(inbox(p, p.cara).items) == 1
    again = p.run(p.cara, watch_task=inbox_pb2.WatchTask(task_id=t.id, watching=False))
    assert again.seq == 0  # nothing changed, nothing logged


def test_one_item_per_member_per_event_and_mentions_told_once(people: People) -> None:
    p = people
    pid = project(p)
    t = task(p, p.alice, pid, assignee_id=p.bob.member_id)
    # Bob watches (assignee) and is mentioned: one item, the mention.
    ack = comment(p, p.alice, t.id, "@Bob please")
    bob = inbox(p, p.bob)
    assert [i.kind for i in bob.items] == [
        Kind.INBOX_ITEM_KIND_MENTION,
        Kind.INBOX_ITEM_KIND_ASSIGNED,
    ]
    # Editing the comment does not tell him again; adding Cara tells her.
    p.run(
        p.alice,
        edit_comment=commands_pb2.EditComment(comment_id=ack.comment.id, body="@Bob please, @cara"),
    )
    assert len(inbox(p, p.bob).items) == 2
    assert kinds(inbox(p, p.cara)) == [(Kind.INBOX_ITEM_KIND_MENTION, "WEB-1")]
    # A mention in the description, told once however often it is edited.
    update(p, p.alice, t.id, description="see @cara")
    update(p, p.alice, t.id, description="see @cara again")
    assert len(inbox(p, p.cara).items) == 2


def test_mark_read_one_all_and_unread_with_coded_errors(people: People) -> None:
    p = people
    pid = project(p)
    for n in range(3):
        task(p, p.alice, pid, title=f"T{n}", assignee_id=p.bob.member_id)
    page = inbox(p, p.bob)
    assert page.unread_count == 3
    newest, middle, oldest = (i.id for i in page.items)
    state = p.run(p.bob, mark_inbox_read=inbox_pb2.MarkInboxRead(item_ids=[middle])).inbox_state
    assert state.unread_count == 2 and [i.id for i in state.changed] == [middle]
    assert state.changed[0].HasField("read_time")
    # "Mark all" up to the newest shown: one arriving meanwhile stays unread.
    task(p, p.alice, pid, title="T3", assignee_id=p.bob.member_id)
    state = p.run(
        p.bob, mark_inbox_read=inbox_pb2.MarkInboxRead(all=True, up_to_id=newest)
    ).inbox_state
    assert state.unread_count == 1
    assert {i.id for i in state.changed} == {newest, oldest}
    unread = inbox(p, p.bob, unread_only=True)
    assert [i.task_key for i in unread.items] == ["WEB-4"]
    state = p.run(
        p.bob, mark_inbox_read=inbox_pb2.MarkInboxRead(item_ids=[oldest], unread=True)
    ).inbox_state
    assert state.unread_count == 2
    # Paging, newest first.
    first = inbox(p, p.bob, page_size=3)
    rest = inbox(p, p.bob, page_size=3, page_token=first.next_page_token)
    assert [i.task_key for i in [*first.items, *rest.items]] == ["WEB-4", "WEB-3", "WEB-2", "WEB-1"]
    assert rest.next_page_token == ""
    # Another's item, nothing named, both, a bad page: coded refusals, nothing changed.
    cases = [
        (inbox_pb2.MarkInboxRead(item_ids=[newest]), p.cara, ErrorCode.ERROR_CODE_NOT_FOUND),
        (inbox_pb2.MarkInboxRead(), p.bob, ErrorCode.ERROR_CODE_INVALID_ARGUMENT),
        (
            inbox_pb2.MarkInboxRead(all=True, item_ids=[1]),
            p.bob,
            ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        ),
    ]
    for command, actor, code in cases:
        with pytest.raises(DomainError) as err:
            p.run(actor, mark_inbox_read=command)
        assert err.value.code == code
    with pytest.raises(DomainError) as err:
        inbox(p, p.bob, page_size=100_000)
    assert (
        err.value.code == ErrorCode.ERROR_CODE_INVALID_ARGUMENT and err.value.field == "page_size"
    )
    with pytest.raises(DomainError):
        inbox(p, p.bob, page_token="nope")
    assert inbox(p, p.bob).unread_count == 2


def test_viewers_may_watch_and_mark_their_inbox_but_not_edit(people: People) -> None:
    p = people
    pid = project(p)
    t = task(p, p.alice, pid)
    p.run(p.vic, watch_task=inbox_pb2.WatchTask(task_id=t.id, watching=True))
    comment(p, p.alice, t.id, "@Vic fyi")
    page = inbox(p, p.vic)
    assert kinds(page) == [(Kind.INBOX_ITEM_KIND_MENTION, "WEB-1")]
    p.run(p.vic, mark_inbox_read=inbox_pb2.MarkInboxRead(all=True))
    assert inbox(p, p.vic).unread_count == 0
    with pytest.raises(DomainError) as err:
        comment(p, p.vic, t.id, "hi")
    assert err.value.code == ErrorCode.ERROR_CODE_PERMISSION_DENIED
    with pytest.raises(DomainError) as err:
        p.run(p.vic, watch_task=inbox_pb2.WatchTask(task_id="no-such-task", watching=True))
    assert err.value.code == ErrorCode.ERROR_CODE_NOT_FOUND


def test_due_soon_once_per_task_member_and_day(people: People, clock: Clock) -> None:
    p = people
    pid = project(p)
    # Due on the 12th; today is the 10th: nothing yet.
    t = task(p, p.alice, pid, title="Report", due_date="2026-03-12", assignee_id=p.bob.member_id)
    p.run(p.cara, watch_task=inbox_pb2.WatchTask(task_id=t.id, watching=True))
    assert p.domain.sweep_due() == 0
    clock.set(datetime(2026, 3, 11, 0, 5))
    made = p.domain.sweep_due()
    assert made == 3  # Alice (creator), Bob (assignee), Cara (watcher)
    assert p.domain.sweep_due() == 0  # the same day again: nothing doubled
    bob = inbox(p, p.bob)
    assert bob.items[0].kind == Kind.INBOX_ITEM_KIND_DUE_TOMORROW
    assert bob.items[0].due_date == "2026-03-12" and bob.items[0].excerpt.startswith("Due tomorrow")
    clock.set(datetime(2026, 3, 12, 8, 0))
    assert p.domain.sweep_due() == 3
    today = inbox(p, p.bob).items[0]
    assert today.kind == Kind.INBOX_ITEM_KIND_DUE_TODAY
    assert today.source == f"due-today:{t.id}:2026-03-12"
    # Done tasks are not due; a date set to today tells at once, with no sweep.
    update(p, p.alice, t.id, status=entities_pb2.TaskStatus.TASK_STATUS_DONE)
    clock.set(datetime(2026, 3, 13, 8, 0))
    assert p.domain.sweep_due() == 0
    t2 = task(p, p.alice, pid, title="Call", assignee_id=p.cara.member_id)
    update(p, p.bob, t2.id, due_date="2026-03-13")
    cara = inbox(p, p.cara).items[0]
    assert cara.kind == Kind.INBOX_ITEM_KIND_DUE_TODAY and cara.task_key == "WEB-2"
    assert p.domain.sweep_due() == 0


def test_nothing_is_made_when_the_change_is_refused(people: People) -> None:
    p = people
    pid = project(p)
    t = task(p, p.alice, pid, assignee_id=p.bob.member_id)
    before = inbox(p, p.bob).items
    with pytest.raises(DomainError):
        update(p, p.alice, t.id, assignee_id="nobody")
    with pytest.raises(DomainError):
        comment(p, p.alice, t.id, "")
    assert inbox(p, p.bob).items == before


def test_read_items_are_let_go_after_a_while_unread_ones_never(
    people: People, clock: Clock
) -> None:
    p = people
    pid = project(p)
    task(p, p.alice, pid, title="Old", assignee_id=p.bob.member_id)
    task(p, p.alice, pid, title="Older", assignee_id=p.bob.member_id)
    first = inbox(p, p.bob).items[-1]
    p.run(p.bob, mark_inbox_read=inbox_pb2.MarkInboxRead(item_ids=[first.id]))
    clock.set(datetime(2026, 6, 20, 9, 0))  # 102 days on
    p.domain.sweep_due()
    assert [i.task_key for i in inbox(p, p.bob).items] == ["WEB-2"]


def test_a_mention_told_before_gives_way_to_the_change_a_watcher_hears_of(
    people: People,
) -> None:
    p = people
    pid = project(p)
    t = task(p, p.alice, pid)
    p.run(p.cara, watch_task=inbox_pb2.WatchTask(task_id=t.id, watching=True))
    update(p, p.alice, t.id, description="for @cara")
    update(p, p.alice, t.id, description="for @cara, with more detail")
    kinds_now = [i.kind for i in inbox(p, p.cara).items]
    assert kinds_now == [Kind.INBOX_ITEM_KIND_CHANGED, Kind.INBOX_ITEM_KIND_MENTION]


def test_items_made_after_commit_through_the_group_commit_each_once(
    people: People, tmp_path: Path
) -> None:
    """Commands sent together commit as a group; their items follow the commit (told live,
    after the acks), one per event and member, and a retried command makes none again."""
    p = people
    pid = project(p)
    tasks = [task(p, p.alice, pid, title=f"T{n}") for n in range(20)]
    for t in tasks:
        p.run(p.bob, watch_task=inbox_pb2.WatchTask(task_id=t.id, watching=True))
    delivered: list[Delivery] = []
    p.domain.inbox_sink.add_listener(delivered.extend)

    async def send_all() -> list[websocket_pb2.Ack]:
        sent = [
            p.domain.command(
                p.alice,
                commands_pb2.UpdateTask(
                    task_id=t.id,
                    update_mask=field_mask_pb2.FieldMask(paths=["title"]),
                    task=entities_pb2.Task(title=f"Renamed {n}"),
                ),
                f"rename-{n}",
            )
            for n, t in enumerate(tasks)
        ]
        return list(await asyncio.gather(*sent))

    first = asyncio.run(send_all())
    again = asyncio.run(send_all())  # a client's outbox sent twice: the first answers back
    assert [a.seq for a in again] == [a.seq for a in first]
    deadline = time.monotonic() + 10
    while sum(len(d.message().inbox_update.items) for d in delivered) < 20:
        assert time.monotonic() < deadline, "the items were not made"
        time.sleep(0.01)
    bob = inbox(p, p.bob)
    assert sorted(i.seq for i in bob.items) == sorted(a.seq for a in first)
    assert {i.excerpt for i in bob.items} == {f"Title: Renamed {n}" for n in range(20)}
    assert {d.member_id for d in delivered} == {p.bob.member_id}
    assert delivered[-1].message().inbox_update.unread_count == 20


def test_items_of_changes_committed_before_a_crash_are_made_at_the_next_start(
    tmp_path: Path, clock: Clock
) -> None:
    """The changes commit before their items are made: a crash in between (here, the
    making failing until the server has stopped, its last upkeep on closing included)
    leaves the position behind, and the next start makes them, once."""
    path = tmp_path / "crash.db"
    first = Domain(Store(path), clock=clock)
    p = People(first)
    pid = project(p)
    t = task(p, p.alice, pid, assignee_id=p.bob.member_id)
    with mock.patch.object(inbox_module, "follow", side_effect=RuntimeError("crash")):
        comment(p, p.alice, t.id, "@cara see this")
        update(p, p.alice, t.id, title="Renamed")
        assert inbox(p, p.cara).items == []
        assert len(inbox(p, p.bob).items) == 1  # the assignment, made before
        first.close()
    for _ in range(2):  # started twice: made at the first start, not again at the second
        again = Domain(Store(path), clock=clock)
        try:
            q = People.__new__(People)
            q.domain, q.alice, q.bob, q.cara = again, p.alice, p.bob, p.cara
            assert kinds(inbox(q, q.cara)) == [(Kind.INBOX_ITEM_KIND_MENTION, "WEB-1")]
            bob = inbox(q, q.bob)
            assert [i.kind for i in bob.items] == [
                Kind.INBOX_ITEM_KIND_CHANGED,
                Kind.INBOX_ITEM_KIND_COMMENT,
                Kind.INBOX_ITEM_KIND_ASSIGNED,
            ]
        finally:
            again.close()


def test_a_creator_who_stops_watching_in_the_same_group_stays_unwatched(
    people: People,
) -> None:
    """The creator's watch follows the commit with the inbox: an unwatch committed in the
    same group (an optimistic card, unwatched at once) must not be undone by it."""
    p = people
    pid = project(p)
    task_id = "4f1c2e1a-0000-4000-8000-000000000001"
    batch = [
        CommandRequest(
            p.alice,
            commands_pb2.CreateTask(project_id=pid, task=entities_pb2.Task(id=task_id, title="T")),
        ),
        CommandRequest(p.alice, inbox_pb2.WatchTask(task_id=task_id, watching=False)),
    ]
    outcomes = p.domain._commit(batch)  # one group, as the group commit hands it over
    assert not any(isinstance(o, DomainError) for o in outcomes), outcomes
    watchers = p.run(p.alice, list_watchers=inbox_pb2.ListWatchers(task_id=task_id)).watchers
    assert p.alice.member_id not in watchers.member_ids
    update(p, p.bob, task_id, title="Renamed")
    assert inbox(p, p.alice).items == []
