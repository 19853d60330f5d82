"""Sprint reports from the domain service, over a real SQLite file, on a controlled clock.

The sprint is scripted day by day and every figure is checked against values worked out by
hand here (not by the code under test): 16 points committed, 2 added on day 3, 3 removed on
day 5, 8 completed, 7 carried over to the next sprint; then estimates changed after it
completed, which must not rewrite its record.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2, reports_pb2

from server.config import ServerConfig
from server.domain.errors import DomainError, ErrorCode
from server.domain.service import Domain, open_domain
from server.storage import migrations
from tests.fixtures import DayClock as Clock

Status = entities_pb2.TaskStatus
Outcome = reports_pb2.SprintTaskOutcome


class Board:
    """The commands a sprint's script needs, each through ``Domain.execute``."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.actor = domain.owner_actor()
        project = domain.execute(
            self.actor,
            commands_pb2.CreateProject(project=entities_pb2.Project(key="REP", name="Reports")),
        ).project
        self.project_id = project.id

    def sprint(self, name: str, start: str = "", end: str = "") -> entities_pb2.Sprint:
        return self.domain.execute(
            self.actor,
            commands_pb2.CreateSprint(
                project_id=self.project_id,
                sprint=entities_pb2.Sprint(name=name, start_date=start, end_date=end),
            ),
        ).sprint

    def task(self, title: str, points: int, sprint: entities_pb2.Sprint | None) -> str:
        return self.domain.execute(
            self.actor,
            commands_pb2.CreateTask(
                project_id=self.project_id,
                task=entities_pb2.Task(
                    title=title,
                    story_points=points,
                    status=Status.TASK_STATUS_TODO,
                    sprint_id=sprint.id if sprint else "",
                ),
            ),
        ).task.id

    def set(self, task_id: str, **fields: object) -> None:
        self.domain.execute(
            self.actor,
            commands_pb2.UpdateTask(
                task_id=task_id,
                update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
                task=entities_pb2.Task(**fields),  # type: ignore[arg-type]
            ),
        )

    def delete(self, task_id: str) -> None:
        self.domain.execute(self.actor, commands_pb2.DeleteTask(task_id=task_id))

    def start(self, sprint: entities_pb2.Sprint) -> None:
        self.domain.execute(self.actor, commands_pb2.StartSprint(sprint_id=sprint.id))

    def complete(self, sprint: entities_pb2.Sprint, to: entities_pb2.Sprint | None) -> None:
        self.domain.execute(
            self.actor,
            commands_pb2.CompleteSprint(
                sprint_id=sprint.id, move_open_tasks_to_sprint_id=to.id if to else ""
            ),
        )

    def report(self, sprint: entities_pb2.Sprint) -> reports_pb2.SprintReport:
        return self.domain.sprint_report(sprint.id)


@pytest.fixture
def clock() -> Clock:
    return Clock("2026-11-01")


@pytest.fixture
def domain(tmp_path: Path, clock: Clock) -> Iterator[Domain]:
    d = open_domain(ServerConfig(data_dir=tmp_path, clock=clock))
    yield d
    d.close()


def days_of(report: reports_pb2.SprintReport) -> list[tuple[object, ...]]:
    return [
        (d.date, d.added, d.removed, d.completed, d.scope, d.remaining, d.ideal, d.elapsed)
        for d in report.days
    ]


def by_title(report: reports_pb2.SprintReport) -> dict[str, reports_pb2.SprintReportTask]:
    return {t.title: t for t in report.tasks}


def stamp(day: str, hour: int) -> int:
    return int(dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC).timestamp())


# Ten days, 2 to 11 November; day 1 is the 2nd. The ideal line falls from 16 to 0 over the
# nine steps between the first and the last day: 16/9 a day, rounded to two places.
IDEAL = [16.0, 14.22, 12.44, 10.67, 8.89, 7.11, 5.33, 3.56, 1.78, 0.0]
# (date, added, removed, completed, scope, remaining, ideal, elapsed) of the first sprint; the
# days after its completion (day 7) are not elapsed.
FIRST_SPRINT_DAYS = [
    ("2026-11-02", 0, 0, 0, 16, 16, IDEAL[0], True),
    ("2026-11-03", 0, 0, 5, 16, 11, IDEAL[1], True),
    ("2026-11-04", 2, 0, 0, 18, 13, IDEAL[2], True),
    ("2026-11-05", 0, 0, 3, 18, 10, IDEAL[3], True),
    ("2026-11-06", 0, 3, 0, 15, 7, IDEAL[4], True),
    ("2026-11-07", 0, 0, 0, 15, 7, IDEAL[5], True),
    ("2026-11-08", 0, 0, 0, 15, 7, IDEAL[6], True),
    ("2026-11-09", 0, 0, 0, 0, 0, IDEAL[7], False),
    ("2026-11-10", 0, 0, 0, 0, 0, IDEAL[8], False),
    ("2026-11-11", 0, 0, 0, 0, 0, IDEAL[9], False),
]


def script_first_sprint(board: Board, clock: Clock) -> tuple[entities_pb2.Sprint, ...]:
    one = board.sprint("Sprint 1", "2026-11-02", "2026-11-11")
    two = board.sprint("Sprint 2", "2026-11-12", "2026-11-21")
    # Planning (the day before): 5 + 3 + 3 + 5 = 16 committed. A task put in and taken out
    # again before the start is no part of the record.
    a = board.task("A", 5, one)
    b = board.task("B", 3, one)
    c = board.task("C", 3, one)
    board.task("D", 5, one)
    planned_out = board.task("Planned out", 8, one)
    board.set(planned_out, sprint_id="")
    clock.at("2026-11-02")
    board.start(one)
    clock.at("2026-11-03", 15)  # day 2: A done
    board.set(a, status=Status.TASK_STATUS_DONE)
    clock.at("2026-11-04", 11)  # day 3: F (2 points) added
    board.task("F", 2, one)
    clock.at("2026-11-05", 16)  # day 4: C done
    board.set(c, status=Status.TASK_STATUS_DONE)
    clock.at("2026-11-06", 10)  # day 5: B (3 points) moved out
    board.set(b, sprint_id="")
    clock.at("2026-11-08", 17)  # day 7: completed, D and F (5 + 2) carried to Sprint 2
    board.complete(one, two)
    return one, two


def test_a_sprint_scripted_day_by_day_has_every_figure_of_its_record(
    domain: Domain, clock: Clock
) -> None:
    board = Board(domain)
    one, two = script_first_sprint(board, clock)
    report = board.report(one)

    assert report.frozen
    assert report.committed_points == 16
    assert report.added_points == 2
    assert report.removed_points == 3
    assert report.completed_points == 8  # A 5 + C 3
    assert report.remaining_points == 7  # 16 + 2 - 3 - 8
    assert report.carried_over_points == 7  # D 5 + F 2
    assert report.carried_over_to_sprint_id == two.id
    assert report.carried_over_to_sprint_name == "Sprint 2"
    assert report.start_time.ToSeconds() == stamp("2026-11-02", 9)
    assert days_of(report) == FIRST_SPRINT_DAYS
    tasks = by_title(report)
    assert sorted(tasks) == ["A", "B", "C", "D", "F"]  # not the task planned out
    expected = {
        # title: (points, committed, outcome, joined, left, done)
        "A": (5, True, Outcome.SPRINT_TASK_OUTCOME_DONE, None, None, stamp("2026-11-03", 15)),
        "B": (3, True, Outcome.SPRINT_TASK_OUTCOME_REMOVED, None, stamp("2026-11-06", 10), None),
        "C": (3, True, Outcome.SPRINT_TASK_OUTCOME_DONE, None, None, stamp("2026-11-05", 16)),
        "D": (
            5,
            True,
            Outcome.SPRINT_TASK_OUTCOME_CARRIED_OVER,
            None,
            stamp("2026-11-08", 17),
            None,
        ),
        "F": (
            2,
            False,
            Outcome.SPRINT_TASK_OUTCOME_CARRIED_OVER,
            stamp("2026-11-04", 11),
            stamp("2026-11-08", 17),
            None,
        ),
    }
    for title, (points, committed, outcome, joined, left, done) in expected.items():
        t = tasks[title]
        assert (t.points, t.committed, t.outcome) == (points, committed, outcome), title
        assert (t.join_time.ToSeconds() if t.HasField("join_time") else None) == joined, title
        assert (t.leave_time.ToSeconds() if t.HasField("leave_time") else None) == left, title
        assert (t.done_time.ToSeconds() if t.HasField("done_time") else None) == done, title
        assert t.key.startswith("REP-"), title

    # Later edits: A's estimate, D's estimate (now in Sprint 2), A reopened and renamed. The
    # finished sprint's record stays as it was, byte for byte.
    frozen = report.SerializeToString()
    clock.at("2026-11-09")
    a_id, d_id = tasks["A"].task_id, tasks["D"].task_id
    board.set(a_id, story_points=13, title="A renamed")
    board.set(a_id, status=Status.TASK_STATUS_IN_PROGRESS)
    board.set(d_id, story_points=8)
    board.delete(tasks["C"].task_id)
    again = board.report(one)
    assert again.SerializeToString() == frozen

    # Sprint 2, planned: no record yet; it starts with D (now 8) and F (2) committed.
    assert not board.report(two).HasField("start_time")
    assert board.report(two).committed_points == 0
    clock.at("2026-11-12")
    board.start(two)
    started = board.report(two)
    assert (started.committed_points, started.remaining_points) == (10, 10)
    assert [(t.title, t.points, t.committed) for t in started.tasks] == [
        ("D", 8, True),
        ("F", 2, True),
    ]


def test_estimates_changed_mid_sprint_deletions_and_reopening_are_scope_changes(
    domain: Domain, clock: Clock
) -> None:
    board = Board(domain)
    sprint = board.sprint("Estimates", "2026-11-02", "2026-11-06")
    x = board.task("X", 4, sprint)
    y = board.task("Y", 6, sprint)
    z = board.task("Z", 2, sprint)
    clock.at("2026-11-02")
    board.start(sprint)  # committed 4 + 6 + 2 = 12
    clock.at("2026-11-03")
    board.set(y, story_points=8)  # +2 added: scope 14
    clock.at("2026-11-04")
    board.set(x, status=Status.TASK_STATUS_DONE)  # 4 completed: remaining 10
    board.set(x, story_points=1)  # done task lowered: 3 removed, 3 less completed
    clock.at("2026-11-05")
    board.delete(z)  # 2 removed: scope 9, remaining 8
    board.set(x, status=Status.TASK_STATUS_TODO)  # reopened: 1 back to remaining, 9
    board.set(y, story_points=None)  # estimate removed: 8 points leave, scope 1
    report = board.report(sprint)
    assert not report.frozen
    # Ideal: 12 to 0 over 4 steps, 3 a day. Today is the 5th: the 6th is still to come.
    assert days_of(report) == [
        ("2026-11-02", 0, 0, 0, 12, 12, 12.0, True),
        ("2026-11-03", 2, 0, 0, 14, 14, 9.0, True),
        ("2026-11-04", 0, 3, 1, 11, 10, 6.0, True),
        ("2026-11-05", 0, 10, -1, 1, 1, 3.0, True),
        ("2026-11-06", 0, 0, 0, 0, 0, 0.0, False),
    ]
    assert (report.committed_points, report.added_points, report.removed_points) == (12, 2, 13)
    assert (report.completed_points, report.remaining_points) == (0, 1)
    tasks = by_title(report)
    assert tasks["Z"].outcome == Outcome.SPRINT_TASK_OUTCOME_REMOVED
    assert tasks["Z"].leave_time.ToSeconds() == stamp("2026-11-05", 9)
    assert (tasks["X"].outcome, tasks["X"].points) == (Outcome.SPRINT_TASK_OUTCOME_OPEN, 1)
    assert not tasks["X"].HasField("done_time")
    assert (tasks["Y"].outcome, tasks["Y"].points) == (Outcome.SPRINT_TASK_OUTCOME_OPEN, 0)


def test_velocity_is_committed_against_completed_of_the_last_sprints(
    domain: Domain, clock: Clock
) -> None:
    board = Board(domain)
    _, two = script_first_sprint(board, clock)
    clock.at("2026-11-12")
    board.start(two)  # D 5 + F 2 = 7 committed
    d_id = next(t.task_id for t in board.report(two).tasks if t.title == "D")
    clock.at("2026-11-13")
    board.set(d_id, status=Status.TASK_STATUS_DONE)
    clock.at("2026-11-14")
    board.complete(two, None)  # F carried to the backlog
    record = board.report(two)
    assert (record.committed_points, record.completed_points, record.carried_over_points) == (
        7,
        5,
        2,
    )
    assert record.carried_over_to_sprint_id == ""

    both = domain.velocity(board.project_id, 2)
    assert [(s.name, s.committed_points, s.completed_points) for s in both.sprints] == [
        ("Sprint 1", 16, 8),
        ("Sprint 2", 7, 5),
    ]
    assert (both.average_committed, both.average_completed) == (11.5, 6.5)
    assert both.sprints[0].carried_over_points == 7
    latest = domain.velocity(board.project_id, 1)
    assert [s.name for s in latest.sprints] == ["Sprint 2"]
    assert len(domain.velocity(board.project_id, 0).sprints) == 2  # the default: up to 6


def test_bad_input_is_refused_with_a_code(domain: Domain) -> None:
    board = Board(domain)
    with pytest.raises(DomainError) as missing:
        domain.sprint_report("no-such-sprint")
    assert missing.value.code == ErrorCode.ERROR_CODE_NOT_FOUND
    with pytest.raises(DomainError) as unknown_project:
        domain.velocity("no-such-project", 3)
    assert unknown_project.value.code == ErrorCode.ERROR_CODE_NOT_FOUND
    for last in (-1, 51):
        with pytest.raises(DomainError) as out_of_range:
            domain.velocity(board.project_id, last)
        assert out_of_range.value.code == ErrorCode.ERROR_CODE_INVALID_ARGUMENT
        assert out_of_range.value.field == "last"
    sprint = board.sprint("Capacity")
    with pytest.raises(DomainError) as capacity:
        domain.execute(
            board.actor,
            commands_pb2.UpdateSprint(
                sprint_id=sprint.id,
                update_mask=field_mask_pb2.FieldMask(paths=["capacity"]),
                sprint=entities_pb2.Sprint(capacity=-5),
            ),
        )
    assert (capacity.value.code, capacity.value.field) == (
        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        "capacity",
    )
    assert board.report(sprint).sprint.HasField("capacity") is False


@pytest.mark.sqlite_only("migrates a SQLite file from before the sprint reports")
def test_a_sprint_running_when_the_database_is_migrated_starts_its_record_then(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tandem.sqlite3"
    conn = sqlite3.connect(path)
    before = migrations.MIGRATIONS.index(migrations.V_SPRINT_REPORTS)
    migrations.migrate(path, conn, migrations.MIGRATIONS[:before])
    today = dt.datetime.now(dt.UTC).date().isoformat()
    conn.executescript(
        f"""
        INSERT INTO project (id, key, name, version, created_at, updated_at)
            VALUES ('p', 'OLD', 'Old', 1, 1, 1);
        INSERT INTO log_head VALUES ('p', 0, 0);
        INSERT INTO sprint (id, project_id, name, state, start_date, version, created_at,
                            updated_at)
            VALUES ('s', 'p', 'Running', 2, '{today}', 1, 1, 1);
        INSERT INTO task (id, project_id, number, title, status, priority, story_points,
                          sprint_id, rank, version, created_at, updated_at)
            VALUES ('t1', 'p', 1, 'Open', 2, 1, 5, 's', 'a0', 1, 1, 1),
                   ('t2', 'p', 2, 'Done', 5, 1, 3, 's', 'a1', 1, 1, 1),
                   ('t3', 'p', 3, 'Outside', 2, 1, 2, NULL, 'a2', 1, 1, 1);
        """
    )
    conn.close()
    domain = open_domain(ServerConfig(data_dir=tmp_path))
    try:
        # What stood in the sprint when the record began is its commitment: 5 + 3.
        report = domain.sprint_report("s")
        assert (report.committed_points, report.completed_points) == (8, 3)
        assert [(t.key, t.committed) for t in report.tasks] == [("OLD-1", True), ("OLD-2", True)]
        domain.execute(
            domain.owner_actor(),
            commands_pb2.UpdateTask(
                task_id="t3",
                update_mask=field_mask_pb2.FieldMask(paths=["sprint_id"]),
                task=entities_pb2.Task(sprint_id="s"),
            ),
        )
        after = domain.sprint_report("s")
        assert (after.added_points, after.remaining_points) == (2, 7)
    finally:
        domain.close()


def test_a_deleted_task_takes_its_subtasks_out_of_the_sprint_with_it(
    domain: Domain, clock: Clock
) -> None:
    board = Board(domain)
    sprint = board.sprint("Deletions", "2026-11-02", "2026-11-03")
    parent = board.task("Parent", 1, sprint)
    child = domain.execute(
        board.actor,
        commands_pb2.CreateTask(
            project_id=board.project_id,
            task=entities_pb2.Task(
                title="Child", story_points=4, sprint_id=sprint.id, parent_task_id=parent
            ),
        ),
    ).task.id
    clock.at("2026-11-02")
    board.start(sprint)
    clock.at("2026-11-03")
    board.delete(parent)  # the event names the subtask among the deleted: 1 + 4 leave
    report = board.report(sprint)
    assert (report.committed_points, report.removed_points, report.remaining_points) == (5, 5, 0)
    outcomes = {t.task_id: t.outcome for t in report.tasks}
    assert outcomes == {
        parent: Outcome.SPRINT_TASK_OUTCOME_REMOVED,
        child: Outcome.SPRINT_TASK_OUTCOME_REMOVED,
    }
    # Deleted, they keep their names in the record.
    assert sorted(t.title for t in report.tasks) == ["Child", "Parent"]
