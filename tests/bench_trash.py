"""Benchmark: how the start learns which attachment files the trash still needs, beside the way
it used to.

One database, filled through the domain (tasks with subtasks, comments and an attachment each,
deleted to the trash), then read both ways in the same run: the trash's table of content hashes
(``trash.kept_hashes``, what the start reads now) and the reference, every trash entry's JSON
parsed for the hashes in it (the start's read before the table). Prints milliseconds for both
and the ratio. Run with `make bench` (or `python tests/bench.py bench_trash`).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tandem.v1 import commands_pb2, entities_pb2

from server.domain import trash
from server.domain.service import Domain
from server.storage.database import Store
from server.storage.models import CommentTrashRow, TaskTrashRow, database

ENTRIES = 1_000
ROUNDS = 5


def _from_json() -> set[str]:
    """The reference: the start's read before the table, every entry's JSON parsed."""
    found: set[str] = set()
    for task in TaskTrashRow.select(TaskTrashRow.rows):
        found.update(a["sha256"] for a in json.loads(task.rows).get("attachments", ()))
    for comment in CommentTrashRow.select(CommentTrashRow.row):
        found.update(a["sha256"] for a in json.loads(comment.row)["attachments"])
    return found


def _fill(domain: Domain) -> None:
    owner = domain.owner_actor()
    project = domain.execute(
        owner, commands_pb2.CreateProject(project=entities_pb2.Project(name="Bench", key="BEN"))
    ).project
    for i in range(ENTRIES):
        words = f"Task {i}: " + "some words of a description " * 20
        task = domain.execute(
            owner,
            commands_pb2.CreateTask(
                project_id=project.id, task=entities_pb2.Task(title=f"Task {i}", description=words)
            ),
        ).task
        domain.execute(
            owner,
            commands_pb2.CreateTask(
                project_id=project.id,
                task=entities_pb2.Task(title=f"Subtask {i}", parent_task_id=task.id),
            ),
        )
        for n in range(3):
            domain.execute(owner, commands_pb2.AddComment(task_id=task.id, body=f"comment {n}"))
        sha = domain.blobs.put(f"attachment {i}".encode(), 1 << 20)
        domain.blobs.recognise(sha)  # as an upload does before attaching
        domain.execute(
            owner, commands_pb2.AddAttachment(task_id=task.id, sha256=sha, name=f"f{i}.txt")
        )
        domain.execute(owner, commands_pb2.DeleteTask(task_id=task.id))


def _best_ms(read: Callable[[], set[str]]) -> tuple[float, set[str]]:
    times: list[float] = []
    found: set[str] = set()
    for _ in range(ROUNDS):
        started = time.perf_counter()
        with database.atomic():  # on this thread, as Domain.execute runs its commands
            found = read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), found


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        domain = Domain(Store(Path(tmp) / "tandem.sqlite3"))
        try:
            _fill(domain)
            table_ms, from_table = _best_ms(trash.kept_hashes)
            json_ms, from_json = _best_ms(_from_json)
        finally:
            domain.close()
    assert from_table == from_json and len(from_table) == ENTRIES
    print(f"   trash entries with an attachment:        {ENTRIES:8d}")
    print(f"   ms to read the hashes from their table:  {table_ms:8.1f}")
    print(f"   ms to parse every entry (the reference): {json_ms:8.1f}")
    print(f"   ratio (table / reference):               {table_ms / json_ms:8.2f}")


if __name__ == "__main__":
    main()
