"""Sprint reports: what the sprint ledger costs each change, and how long a report takes to read.

The reference is the same write path with the ledger switched off, run in the same process in
alternating rounds (so the machine's load falls on both alike); the ratio is printed. Then a
sprint of 100 tasks with 2,000 changes is read as its report, and a project's velocity.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2

from server.config import ServerConfig
from server.domain import sprint_ledger
from server.domain.service import Domain, open_domain

ROUNDS = 4
UPDATES = 600
TASKS = 100


def _board(root: Path) -> tuple[Domain, str, list[str]]:
    domain = open_domain(ServerConfig(data_dir=Path(tempfile.mkdtemp(dir=root))))
    actor = domain.owner_actor()
    project = domain.execute(
        actor, commands_pb2.CreateProject(project=entities_pb2.Project(key="BENCH", name="B"))
    ).project
    sprint = domain.execute(
        actor,
        commands_pb2.CreateSprint(project_id=project.id, sprint=entities_pb2.Sprint(name="S")),
    ).sprint
    ids = [
        domain.execute(
            actor,
            commands_pb2.CreateTask(
                project_id=project.id,
                task=entities_pb2.Task(title=f"t{i}", sprint_id=sprint.id, story_points=1),
            ),
        ).task.id
        for i in range(TASKS)
    ]
    domain.execute(actor, commands_pb2.StartSprint(sprint_id=sprint.id))
    return domain, sprint.id, ids


def _updates(domain: Domain, ids: list[str], field: str, value: Callable[[int], Any]) -> float:
    actor = domain.owner_actor()
    started = time.perf_counter()
    for i in range(UPDATES):
        domain.execute(
            actor,
            commands_pb2.UpdateTask(
                task_id=ids[i % len(ids)],
                update_mask=field_mask_pb2.FieldMask(paths=[field]),
                task=entities_pb2.Task(**{field: value(i)}),
            ),
        )
    return (time.perf_counter() - started) / UPDATES


def main() -> None:
    observe = sprint_ledger.observe
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for field, value in (("story_points", lambda i: i % 8), ("description", str)):
            timings: dict[str, list[float]] = {"ledger": [], "reference": []}
            for round_ in range(ROUNDS):
                # Each goes first in turn: a file made second may find the disk warmer.
                order = ("reference", "ledger") if round_ % 2 else ("ledger", "reference")
                for name in order:
                    sprint_ledger.observe = observe if name == "ledger" else _off  # type: ignore[assignment]
                    domain, _, ids = _board(root)
                    try:
                        timings[name].append(_updates(domain, ids, field, value))
                    finally:
                        domain.close()
            sprint_ledger.observe = observe
            ours = statistics.median(timings["ledger"]) * 1e6
            ref = statistics.median(timings["reference"]) * 1e6
            print(
                f"   update {field}: {ours:.0f} us with the ledger, {ref:.0f} us without"
                f" (ratio {ours / ref:.2f})"
            )
        domain, sprint_id, ids = _board(root)
        try:
            _updates(domain, ids, "story_points", lambda i: i % 8)
            _updates(domain, ids, "status", lambda i: 5 if i % 2 else 2)
            _updates(domain, ids, "story_points", lambda i: i % 5)
            reads = []
            for _ in range(20):
                started = time.perf_counter()
                report = domain.sprint_report(sprint_id)
                reads.append(time.perf_counter() - started)
            print(
                f"   report of {len(report.tasks)} tasks, {3 * UPDATES} changes:"
                f" {statistics.median(reads) * 1e3:.1f} ms (median of 20)"
            )
        finally:
            domain.close()


def _off(*_: object) -> None:
    return None


if __name__ == "__main__":
    main()
