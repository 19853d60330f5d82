"""One group of commands, one transaction, each command in its own savepoint: a command
refused after it has written leaves nothing behind, and the commands around it stand."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2

from server.domain.errors import DomainError, ErrorCode
from server.domain.service import CommandRequest, Domain
from server.domain.tx import Tx


def retitle(task: entities_pb2.Task, title: str) -> commands_pb2.UpdateTask:
    return commands_pb2.UpdateTask(
        task_id=task.id,
        task=entities_pb2.Task(title=title),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
    )


def test_a_command_refused_after_writing_leaves_nothing_and_its_group_stands(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = domain.owner_actor()
    project = domain.execute(
        owner, commands_pb2.CreateProject(project=entities_pb2.Project(key="GRP", name="g"))
    ).project
    a, b, c = (
        domain.execute(
            owner,
            commands_pb2.CreateTask(project_id=project.id, task=entities_pb2.Task(title=t)),
        ).task
        for t in "abc"
    )
    head = domain.events_since(project.id, 0).head_seq
    real_emit = Tx.emit

    def emit_then_fail_for_b(tx: Tx, project_id: str, kind: str, event: Any) -> int:
        # By now the task row is updated, the log head moved and the event appended.
        seq = real_emit(tx, project_id, kind, event)
        if event.task.id == b.id:
            raise DomainError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "refused after writing")
        return seq

    monkeypatch.setattr(Tx, "emit", emit_then_fail_for_b)
    # What the group commit hands the database thread: the three in one transaction.
    outcomes = domain._commit(
        [CommandRequest(owner, retitle(t, f"new {t.title}"), f"id-{t.title}") for t in (a, b, c)]
    )
    first, refused, last = outcomes
    assert isinstance(refused, DomainError)
    assert refused.code == ErrorCode.ERROR_CODE_INVALID_ARGUMENT
    assert not isinstance(first, DomainError) and not isinstance(last, DomainError)
    # The refused command took no seq: the log has no gap, and nothing of it is stored.
    assert (first.seq, last.seq) == (head + 1, head + 2)
    assert domain.get_task(b.id) == b
    assert domain.get_task(a.id).title == "new a"
    assert domain.get_task(c.id).title == "new c"
    log = domain.events_since(project.id, head)
    assert [e.task_updated.task.id for e in log.events] == [a.id, c.id]
    assert log.head_seq == head + 2

    # Its id was not remembered as a success: sent again once the fault is gone, it runs.
    monkeypatch.undo()
    again = domain.execute(owner, retitle(b, "new b"), "id-b")
    assert (again.seq, again.task.title, again.task.version) == (head + 3, "new b", b.version + 1)
    # And the others' ids were remembered: sent again, they answer as first, changing nothing.
    assert domain.execute(owner, retitle(a, "new a"), "id-a") == first
    assert domain.events_since(project.id, 0).head_seq == head + 3
