"""A group of commands in one transaction: a refused command changes nothing whether it was
refused before or after its first write (or failed on a bug), the others stand; the ids of
a group are looked up and stored together, so a retry in the same group, or after a
restart, gets the first answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2

from server.config import ServerConfig
from server.domain import inbox
from server.domain.errors import DomainError, ErrorCode
from server.domain.events import Delivery
from server.domain.service import CommandRequest, Domain, open_domain
from server.domain.tx import Tx
from tests.fixtures import two_editors

Role = entities_pb2.MemberRole


def retitle(task: entities_pb2.Task, title: str, base_version: int = 0) -> commands_pb2.UpdateTask:
    return commands_pb2.UpdateTask(
        task_id=task.id,
        task=entities_pb2.Task(title=title),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        base_version=base_version,
    )


def board(domain: Domain, *titles: str) -> tuple[str, list[entities_pb2.Task]]:
    owner = domain.owner_actor()
    project = domain.execute(
        owner, commands_pb2.CreateProject(project=entities_pb2.Project(key="GID", name="g"))
    ).project
    made = [
        domain.execute(
            owner, commands_pb2.CreateTask(project_id=project.id, task=entities_pb2.Task(title=t))
        ).task
        for t in titles
    ]
    return project.id, made


def test_a_command_refused_before_writing_leaves_the_group_whole(domain: Domain) -> None:
    owner = domain.owner_actor()
    project_id, (a, b, c) = board(domain, "a", "b", "c")
    # b changes once, so a change based on its first version conflicts.
    domain.execute(owner, retitle(b, "b2"))
    head = domain.events_since(project_id, 0).head_seq
    outcomes = domain._commit(
        [
            CommandRequest(owner, retitle(a, "a3"), "ga"),
            CommandRequest(owner, retitle(b, "b3", base_version=b.version), "gb"),
            CommandRequest(owner, retitle(c, "c3"), "gc"),
        ]
    )
    first, refused, last = outcomes
    assert isinstance(refused, DomainError)
    assert refused.code == ErrorCode.ERROR_CODE_CONFLICT
    assert not isinstance(first, DomainError) and not isinstance(last, DomainError)
    assert (first.seq, last.seq) == (head + 1, head + 2)
    assert domain.get_task(b.id).title == "b2"
    log = domain.events_since(project_id, head)
    assert [e.task_updated.task.title for e in log.events] == ["a3", "c3"]
    # The conflict depends on the board, so it is remembered: sent again, it is refused
    # again, even once the board would let it through.
    domain.execute(owner, retitle(b, "b"))
    with pytest.raises(DomainError) as again:
        domain.execute(owner, retitle(b, "b3", base_version=b.version), "gb")
    assert again.value.code == ErrorCode.ERROR_CODE_CONFLICT


def test_a_command_failing_on_a_bug_after_writing_leaves_nothing(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = domain.owner_actor()
    project_id, (a, b, c) = board(domain, "a", "b", "c")
    head = domain.events_since(project_id, 0).head_seq
    real_emit = Tx.emit

    def emit_then_break_for_b(tx: Tx, project: str, kind: str, event: Any) -> int:
        seq = real_emit(tx, project, kind, event)
        if event.task.id == b.id:
            raise KeyError("a bug after the writes")
        return seq

    monkeypatch.setattr(Tx, "emit", emit_then_break_for_b)
    first, broken, last = domain._commit(
        [CommandRequest(owner, retitle(t, f"new {t.title}"), f"bug-{t.title}") for t in (a, b, c)]
    )
    assert isinstance(broken, DomainError)
    assert broken.code == ErrorCode.ERROR_CODE_INTERNAL
    assert not isinstance(first, DomainError) and not isinstance(last, DomainError)
    assert (first.seq, last.seq) == (head + 1, head + 2)
    assert domain.get_task(b.id) == b
    log = domain.events_since(project_id, head)
    assert [e.task_updated.task.id for e in log.events] == [a.id, c.id]
    # Not remembered: once the bug is gone, the same id runs.
    monkeypatch.undo()
    assert domain.execute(owner, retitle(b, "new b"), "bug-b").task.title == "new b"


def test_an_id_sent_twice_in_one_group_gets_the_first_answer(domain: Domain) -> None:
    owner = domain.owner_actor()
    project_id, (a,) = board(domain, "a")
    head = domain.events_since(project_id, 0).head_seq
    once, twice, other = domain._commit(
        [
            CommandRequest(owner, retitle(a, "first"), "same"),
            CommandRequest(owner, retitle(a, "first"), "same"),
            CommandRequest(owner, retitle(a, "second"), "same"),
        ]
    )
    assert not isinstance(once, DomainError)
    assert twice == once
    # The id with another command: refused, nothing changed.
    assert isinstance(other, DomainError)
    assert other.code == ErrorCode.ERROR_CODE_INVALID_ARGUMENT
    assert domain.get_task(a.id).title == "first"
    assert domain.events_since(project_id, head).head_seq == head + 1


def test_a_refusal_is_the_answer_to_its_id_later_in_the_same_group(domain: Domain) -> None:
    owner = domain.owner_actor()
    _, (a,) = board(domain, "a")
    missing = commands_pb2.DeleteTask(task_id="00000000-0000-4000-8000-00000000dead")
    refused, again, fine = domain._commit(
        [
            CommandRequest(owner, missing, "gone"),
            CommandRequest(owner, missing, "gone"),
            CommandRequest(owner, retitle(a, "fine"), "fine"),
        ]
    )
    assert isinstance(refused, DomainError) and isinstance(again, DomainError)
    assert (refused.code, again.code) == (ErrorCode.ERROR_CODE_NOT_FOUND,) * 2
    assert not isinstance(fine, DomainError)


def test_a_groups_ids_survive_a_restart_and_replay(tmp_path: Path) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    owner = domain.owner_actor()
    _, tasks = board(domain, *"abcdefgh")
    answers = domain._commit(
        [CommandRequest(owner, retitle(t, f"new {t.title}"), f"r-{t.title}") for t in tasks]
    )
    assert not any(isinstance(a, DomainError) for a in answers)
    domain.close()

    domain = open_domain(ServerConfig(data_dir=tmp_path))
    try:
        again = domain._commit(
            [CommandRequest(owner, retitle(t, f"new {t.title}"), f"r-{t.title}") for t in tasks]
        )
        assert again == answers
        assert [domain.get_task(t.id).version for t in tasks] == [t.version + 1 for t in tasks]
    finally:
        domain.close()


def test_a_groups_inbox_items_are_numbered_in_the_order_of_its_events(domain: Domain) -> None:
    as_alice, as_bob = two_editors(domain)
    project = domain.execute(
        as_alice, commands_pb2.CreateProject(project=entities_pb2.Project(key="INB", name="i"))
    ).project
    made = [
        domain.execute(
            as_alice,
            commands_pb2.CreateTask(project_id=project.id, task=entities_pb2.Task(title=f"t{n}")),
        ).task
        for n in range(6)
    ]
    delivered: list[Delivery] = []
    domain.inbox_sink.add_listener(delivered.extend)
    # Bob renames Alice's tasks (she watches what she made), all in one group, whose
    # transaction runs the upkeep (as when it is due) and so makes their items.
    acks = domain._commit(
        [CommandRequest(as_bob, retitle(t, f"renamed {n}"), f"i-{n}") for n, t in enumerate(made)],
        follow=True,
    )
    assert not any(isinstance(a, DomainError) for a in acks)
    (delivery,) = delivered
    assert delivery.member_id == as_alice.member_id
    update = delivery.message().inbox_update
    assert [i.seq for i in update.items] == [a.seq for a in acks]  # type: ignore[union-attr]
    ids = [i.id for i in update.items]
    assert ids == sorted(ids) and len(set(ids)) == 6
    assert [i.excerpt for i in update.items] == [f"Title: renamed {n}" for n in range(6)]
    assert update.unread_count == 6
    # Followed again (as after a crash), the log makes none of them twice.
    with domain.store.db.atomic():
        domain.store.db.execute_sql("UPDATE inbox_cursor SET seq = 0")
        assert inbox.follow() == []
        assert inbox.unread_count(as_alice.member_id) == 6
