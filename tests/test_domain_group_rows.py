"""A group reads the tasks its updates and moves change all at once, and each command sees
the tasks as the commands before it in the group left them: a change, a refusal that wrote
nothing, a command of another kind (an archive, a delete) between them."""

from __future__ import annotations

import json

from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

from server.domain import rows
from server.domain.errors import DomainError, ErrorCode
from server.domain.service import CommandRequest, Domain
from server.domain.tasks import changeable
from tests.fixtures import board, retitle

Status = entities_pb2.TaskStatus


def group(domain: Domain, *commands: object) -> list[websocket_pb2.Ack | DomainError]:
    """The commands committed as one group, each with its own id."""
    owner = domain.owner_actor()
    return domain._commit(
        [CommandRequest(owner, cmd, f"g-{n}") for n, cmd in enumerate(commands)]  # type: ignore[arg-type]
    )


def stored(domain: Domain, task_id: str) -> dict[str, object]:
    with domain.store.db.atomic():
        return dict(changeable(task_id)[0].__data__)


def test_each_command_of_a_group_sees_the_changes_of_those_before_it(domain: Domain) -> None:
    a, b = board(domain, 2)
    outcomes = group(
        domain,
        retitle(a.id, "a1"),
        commands_pb2.MoveTask(task_id=b.id, status=Status.TASK_STATUS_IN_PROGRESS),
        # Its base is before the first change to the title: that change conflicts.
        retitle(a.id, "a-stale", base_version=a.version),
        # Based on the first change: merges.
        retitle(a.id, "a2", base_version=a.version + 1),
        retitle(b.id, "b1", base_version=b.version + 1),
    )
    first, moved, stale, second, third = outcomes
    assert isinstance(first, websocket_pb2.Ack) and first.task.version == a.version + 1
    assert isinstance(moved, websocket_pb2.Ack) and moved.task.version == b.version + 1
    assert isinstance(stale, DomainError) and stale.code == ErrorCode.ERROR_CODE_CONFLICT
    assert isinstance(second, websocket_pb2.Ack)
    assert (second.task.title, second.task.version) == ("a2", a.version + 2)
    assert isinstance(third, websocket_pb2.Ack)
    assert third.task.status == Status.TASK_STATUS_IN_PROGRESS
    assert (third.task.title, third.task.version) == ("b1", b.version + 2)
    # What the answers said is what was saved.
    for ack in (second, third):
        saved = stored(domain, ack.task.id)
        assert (saved["title"], saved["version"]) == (ack.task.title, ack.task.version)


def test_a_task_archived_or_deleted_between_two_updates_of_a_group_is_refused_after(
    domain: Domain,
) -> None:
    a, b = board(domain, 2)
    outcomes = group(
        domain,
        commands_pb2.MoveTask(task_id=a.id, status=Status.TASK_STATUS_DONE),
        retitle(b.id, "b1"),
        commands_pb2.ArchiveTask(task_id=a.id),
        commands_pb2.DeleteTask(task_id=b.id),
        retitle(a.id, "archived"),
        retitle(b.id, "deleted"),
    )
    assert [type(o) for o in outcomes[:4]] == [websocket_pb2.Ack] * 4
    archived, deleted = outcomes[4:]
    assert isinstance(archived, DomainError)
    assert archived.code == ErrorCode.ERROR_CODE_FAILED_PRECONDITION
    assert isinstance(deleted, DomainError) and deleted.code == ErrorCode.ERROR_CODE_NOT_FOUND


def test_an_update_whose_write_is_refused_leaves_the_task_as_saved_for_the_next(
    domain: Domain,
) -> None:
    (a,) = board(domain, 1)
    with domain.store.db.atomic():
        # A rule of the data this update breaks when it writes (nothing else does here).
        rows.execute(
            "CREATE TRIGGER refuse_boom BEFORE UPDATE OF title ON task"
            " WHEN new.title = 'boom' BEGIN SELECT RAISE(ABORT, 'no boom'); END"
        )
    outcomes = group(
        domain,
        retitle(a.id, "boom"),
        # Based on the task as saved: the refused change must not count as a change.
        retitle(a.id, "fine", base_version=a.version),
    )
    refused, saved = outcomes
    assert isinstance(refused, DomainError)
    assert refused.code == ErrorCode.ERROR_CODE_INVALID_ARGUMENT
    assert isinstance(saved, websocket_pb2.Ack)
    assert (saved.task.title, saved.task.version) == ("fine", a.version + 1)
    row = stored(domain, a.id)
    assert (row["title"], row["version"]) == ("fine", a.version + 1)
    assert json.loads(str(row["field_versions"]))["title"] == a.version + 1
