"""Benchmark: what making inbox items costs a change, beside the same changes without it.

Two databases side by side in one run, the same workload on each (task updates on tasks that
three people watch, comments with and without an @mention, assignments): one with the inbox
derived in every command's transaction, the reference with derivation switched off. Prints
commands per second for both and the ratio. Run with `make bench` (or
`python tests/bench.py bench_inbox`).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2

from server.domain import inbox, members
from server.domain.actor import Actor
from server.domain.service import Domain
from server.storage.database import Store

TASKS = 50
ROUNDS = 6


def workload(domain: Domain) -> Callable[[], int]:
    now = int(time.time() * 1_000_000)
    with domain.store.db.atomic():
        people = [members.local(f"bench-{n}", f"Person {n}", now) for n in range(4)]
    actors = [Actor(member_id=p.id, client_key=p.id) for p in people]
    owner = actors[0]
    project = domain.execute(
        owner,
        commands_pb2.CreateProject(project=entities_pb2.Project(key="BEN", name="Bench")),
    ).project
    tasks = []
    for n in range(TASKS):
        task = domain.execute(
            owner,
            commands_pb2.CreateTask(
                project_id=project.id,
                task=entities_pb2.Task(title=f"Task {n}", assignee_id=people[1].id),
            ),
        ).task
        tasks.append(task)
        for a in actors[2:]:
            domain.execute(a, commands_pb2.AddComment(task_id=task.id, body="following"))

    def run() -> int:
        done = 0
        for r in range(ROUNDS):
            actor = actors[r % len(actors)]
            for t in tasks:
                domain.execute(
                    actor,
                    commands_pb2.UpdateTask(
                        task_id=t.id,
                        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
                        task=entities_pb2.Task(title=f"Task {t.key} round {r}"),
                    ),
                )
                body = "@Person 3 have a look" if r % 2 else "more news"
                domain.execute(actor, commands_pb2.AddComment(task_id=t.id, body=body))
                assignee = people[(r + 2) % len(people)].id
                domain.execute(
                    actor,
                    commands_pb2.UpdateTask(
                        task_id=t.id,
                        update_mask=field_mask_pb2.FieldMask(paths=["assignee_id"]),
                        task=entities_pb2.Task(assignee_id=assignee),
                    ),
                )
                done += 3
        return done

    return run


def measure(path: Path, derive: bool) -> float:
    domain = Domain(Store(path))
    # The reference: the same service with the inbox's derivation switched off.
    switch = contextlib.nullcontext() if derive else mock.patch.object(inbox, "derive", _skip)
    try:
        with switch:
            run = workload(domain)
            started = time.perf_counter()
            count = run()
            return count / (time.perf_counter() - started)
    finally:
        domain.close()


def _skip(_tx: object) -> None:
    return None


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Alternate, and keep each side's best, so neither pays for the other's warm-up.
        best = {True: 0.0, False: 0.0}
        for n in range(3):
            for derive in (False, True):
                rate = measure(Path(tmp) / f"{derive}-{n}.db", derive)
                best[derive] = max(best[derive], rate)
    with_inbox, reference = best[True], best[False]
    print(f"   commands/s with the inbox derived:    {with_inbox:8.0f}")
    print(f"   commands/s without (the reference):   {reference:8.0f}")
    print(f"   ratio (with / without):               {with_inbox / reference:8.2f}")


if __name__ == "__main__":
    main()
