"""A group's events are written to the change log together: the log stays gapless and in
command order whatever else the group does between them (a command of another kind, a
second project, a trim), and what the group wrote stands after a restart."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, inbox_pb2

from server.config import ServerConfig
from server.domain.errors import DomainError
from server.domain.service import CommandRequest, Domain, open_domain

Status = entities_pb2.TaskStatus


def retitle(task_id: str, title: str) -> commands_pb2.UpdateTask:
    return commands_pb2.UpdateTask(
        task_id=task_id,
        task=entities_pb2.Task(title=title),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
    )


def project(domain: Domain, key: str, tasks: int) -> tuple[str, list[str]]:
    owner = domain.owner_actor()
    made = domain.execute(
        owner, commands_pb2.CreateProject(project=entities_pb2.Project(key=key, name=key))
    ).project
    ids = [
        domain.execute(
            owner,
            commands_pb2.CreateTask(project_id=made.id, task=entities_pb2.Task(title=f"t{n}")),
        ).task.id
        for n in range(tasks)
    ]
    return made.id, ids


def kinds_and_seqs(domain: Domain, project_id: str, since: int) -> list[tuple[str, int]]:
    log = domain.events_since(project_id, since)
    found = [(e.WhichOneof("payload") or "", e) for e in log.events]
    seqs = [getattr(e, kind).seq for kind, e in found]
    assert seqs == list(range(since + 1, log.head_seq + 1))  # gapless, up to the head
    return [(kind, seq) for (kind, _e), seq in zip(found, seqs, strict=True)]


def test_a_mixed_group_keeps_each_log_gapless_and_in_command_order(tmp_path: Path) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    owner = domain.owner_actor()
    first, (a, b) = project(domain, "ONE", 2)
    second, (c,) = project(domain, "TWO", 1)
    heads = {p: domain.events_since(p, 0).head_seq for p in (first, second)}
    batch = [
        retitle(a, "a1"),
        retitle(c, "c1"),
        commands_pb2.MoveTask(task_id=b, status=Status.TASK_STATUS_IN_PROGRESS),
        # Another kind: writes its own event, between the waiting ones and the next.
        commands_pb2.CreateTask(project_id=first, task=entities_pb2.Task(title="new")),
        retitle(a, "a2"),
        # One that reads the log first (the inbox follows it) and writes an event of its own.
        inbox_pb2.WatchTask(task_id=b, watching=True),
        inbox_pb2.ListWatchers(task_id=b),  # a read
        retitle(c, "c2"),
        retitle("00000000-0000-4000-8000-00000000dead", "refused"),
        retitle(b, "b1"),
    ]
    outcomes = domain._commit([CommandRequest(owner, cmd, f"m-{n}") for n, cmd in enumerate(batch)])
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(refused) == 1
    acks = [o for o in outcomes if not isinstance(o, DomainError)]
    assert kinds_and_seqs(domain, first, heads[first]) == [
        ("task_updated", heads[first] + 1),
        ("task_updated", heads[first] + 2),
        ("task_created", heads[first] + 3),
        ("task_updated", heads[first] + 4),
        ("task_watchers_changed", heads[first] + 5),
        ("task_updated", heads[first] + 6),
    ]
    assert kinds_and_seqs(domain, second, heads[second]) == [
        ("task_updated", heads[second] + 1),
        ("task_updated", heads[second] + 2),
    ]
    # Each answer names its event's seq.
    assert [a.seq for a in acks if a.seq] == [
        heads[first] + 1,
        heads[second] + 1,
        heads[first] + 2,
        heads[first] + 3,
        heads[first] + 4,
        heads[first] + 5,
        heads[second] + 2,
        heads[first] + 6,
    ]
    domain.close()

    # After a restart the heads are where the group left them.
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    try:
        ack = domain.execute(domain.owner_actor(), retitle(a, "after"))
        assert ack.seq == heads[first] + 7
        assert kinds_and_seqs(domain, first, heads[first])[-1] == ("task_updated", ack.seq)
    finally:
        domain.close()


def test_a_group_longer_than_the_kept_history_trims_without_a_gap(tmp_path: Path) -> None:
    domain = open_domain(ServerConfig(data_dir=tmp_path, history_limit=5))
    try:
        owner = domain.owner_actor()
        project_id, (a,) = project(domain, "TRM", 1)
        before = domain.events_since(project_id, 0).head_seq
        acks = domain._commit(
            [CommandRequest(owner, retitle(a, f"v{n}"), f"t-{n}") for n in range(23)]
        )
        assert not any(isinstance(o, DomainError) for o in acks)
        head = domain.events_since(project_id, 0)
        assert head.resync_required  # seq 0 is long trimmed
        assert [o.seq for o in acks] == list(range(before + 1, before + 24))  # type: ignore[union-attr]
        # What is kept (at least the last history_limit events) runs up to the head.
        for since in range(before + 23 - 5, before + 23):
            kept = kinds_and_seqs(domain, project_id, since)
            assert kept[-1][1] == before + 23
        assert domain.get_task(a).title == "v22"
    finally:
        domain.close()
