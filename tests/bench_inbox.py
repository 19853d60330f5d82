"""Benchmark: what making inbox items costs a change, beside the same changes without it.

Two databases side by side in one run, the same workload on each (task updates on tasks that
three people watch, comments with and without an @mention, assignments): one with the inbox's
items made (after each commit, from the change log), the reference with that switched off.
Twice: commands one at a time (``Domain.execute``, the items made in the same transaction),
and as the server runs them, many at once through the group commit (one per task, each
awaiting its answer; the items made after the commit, in batches). Prints commands per
second for both and the ratio. Run with `make bench` (or `python tests/bench.py bench_inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from tandem.v1 import commands_pb2, entities_pb2

from server.domain import inbox, members
from server.domain.actor import Actor
from server.domain.events import Delivery
from server.domain.service import Domain
from server.storage.database import Store

TASKS = 50
ROUNDS = 6


def workload(domain: Domain, mode: str) -> Callable[[], int]:
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

    def commands(r: int, t: entities_pb2.Task) -> list[tuple[Actor, Message]]:
        actor = actors[r % len(actors)]
        body = "@Person 3 have a look" if r % 2 else "more news"
        assignee = people[(r + 2) % len(people)].id
        return [
            (
                actor,
                commands_pb2.UpdateTask(
                    task_id=t.id,
                    update_mask=field_mask_pb2.FieldMask(paths=["title"]),
                    task=entities_pb2.Task(title=f"Task {t.key} round {r}"),
                ),
            ),
            (actor, commands_pb2.AddComment(task_id=t.id, body=body)),
            (
                actor,
                commands_pb2.UpdateTask(
                    task_id=t.id,
                    update_mask=field_mask_pb2.FieldMask(paths=["assignee_id"]),
                    task=entities_pb2.Task(assignee_id=assignee),
                ),
            ),
        ]

    def one_at_a_time() -> int:
        done = 0
        for r in range(ROUNDS):
            for t in tasks:
                for actor, command in commands(r, t):
                    domain.execute(actor, command)
                    done += 1
        return done

    async def together() -> int:
        async def chain(r: int, t: entities_pb2.Task) -> int:
            for actor, command in commands(r, t):
                await domain.command(actor, command)
            return 3

        done = 0
        for r in range(ROUNDS):
            done += sum(await asyncio.gather(*(chain(r, t) for t in tasks)))
        return done

    return one_at_a_time if mode == "one" else lambda: asyncio.run(together())


def measure(path: Path, derive: bool, mode: str) -> float:
    domain = Domain(Store(path))
    # The reference: the same service with the inbox's items switched off.
    switch = contextlib.nullcontext() if derive else mock.patch.object(inbox, "follow", _skip)
    try:
        with switch:
            run = workload(domain, mode)
            started = time.perf_counter()
            count = run()
            return count / (time.perf_counter() - started)
    finally:
        domain.close()


def _skip(_projects: object = None) -> list[Delivery]:
    return []


def main() -> None:
    for mode, what in (("one", "one at a time"), ("group", "through the group commit")):
        with tempfile.TemporaryDirectory() as tmp:
            # Alternate, and keep each side's best, so neither pays for the other's warm-up.
            best = {True: 0.0, False: 0.0}
            for n in range(3):
                for derive in (False, True):
                    rate = measure(Path(tmp) / f"{derive}-{n}.db", derive, mode)
                    best[derive] = max(best[derive], rate)
        with_inbox, reference = best[True], best[False]
        print(f"   {what}:")
        print(f"     commands/s with the inbox's items made: {with_inbox:8.0f}")
        print(f"     commands/s without (the reference):     {reference:8.0f}")
        print(f"     ratio (with / without):                 {with_inbox / reference:8.2f}")


if __name__ == "__main__":
    main()
