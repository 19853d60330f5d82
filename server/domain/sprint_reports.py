"""Sprint reports: a sprint's record replayed from its ledger facts (``sprint_ledger``), frozen
when the sprint completes; and a project's velocity, read from the frozen records.

The record's rules, in one place:
- committed: the points in the sprint at the moment it started;
- added / removed: points that joined or left the running sprint (a task moved in or out,
  deleted, trashed or archived), and estimates raised or lowered while in it;
- completed: points of the tasks in the sprint that are done (a task reopened counts back);
- scope = committed + added - removed; remaining = scope - completed;
- carried over: what was unfinished when it completed, moved on to the next sprint (or the
  backlog); carrying over is not a removal, so the last day's remaining is what was carried;
- days are UTC calendar dates, from the start date (or the day it started) to the end date,
  or to the day it completed (or today) when that is later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

from tandem.v1 import entities_pb2, reports_pb2

from server.domain import convert
from server.domain.errors import invalid
from server.domain.rows import get_or_not_found
from server.storage.models import (
    ProjectRow,
    SprintFactRow,
    SprintLedgerTaskRow,
    SprintRecordRow,
    SprintRow,
    put,
)

Outcome = reports_pb2.SprintTaskOutcome
State = entities_pb2.SprintState

#: How many completed sprints a velocity chart may ask for, and how many it gets unasked.
VELOCITY_MAX: Final = 50
VELOCITY_DEFAULT: Final = 6
#: The longest series of days a report draws (a sprint left running for years stops here).
MAX_DAYS: Final = 366


def _day(micros: int) -> dt.date:
    return dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).date()


@dataclass
class _Task:
    points: int = 0
    done: bool = False
    inside: bool = False
    # Appears in the record: in the sprint at some moment after it started.
    counted: bool = False
    committed: bool = False
    join_at: int | None = None
    leave_at: int | None = None
    done_at: int | None = None
    carried: bool = False


@dataclass
class _Day:
    added: int = 0
    removed: int = 0
    completed: int = 0


@dataclass
class _Replay:
    started_at: int | None = None
    committed: int = 0
    pre_done: int = 0
    tasks: dict[str, _Task] = field(default_factory=dict)
    days: dict[dt.date, _Day] = field(default_factory=dict)

    def on(self, at: int) -> _Day:
        return self.days.setdefault(_day(at), _Day())


def _replay(sprint_id: str) -> _Replay:
    r = _Replay()
    facts = SprintFactRow.select().where(SprintFactRow.sprint_id == sprint_id)
    for f in facts.order_by(SprintFactRow.id):
        if f.kind == "started":
            r.started_at = int(f.at)
            for t in r.tasks.values():
                if t.inside:
                    t.committed = t.counted = True
                    r.committed += t.points
                    if t.done:
                        r.pre_done += t.points
                        t.done_at = r.started_at
            continue
        t = r.tasks.setdefault(f.task_id, _Task())
        running = r.started_at is not None
        _apply(r, t, f, running)
    return r


def _apply(r: _Replay, t: _Task, f: SprintFactRow, running: bool) -> None:
    at, kind, points = int(f.at), f.kind, int(f.points)
    day = r.on(at) if running else _Day()
    if kind == "joined":
        t.inside, t.points, t.done = True, points, bool(f.done)
        if running:
            t.counted = True
            if not t.committed:
                t.join_at = at
            t.leave_at = None
            t.carried = False
            day.added += points
            if t.done:
                day.completed += points
                t.done_at = at
    elif kind in ("left", "carried"):
        t.inside = False
        if running:
            t.leave_at = at
            t.carried = kind == "carried"
            if kind == "left":
                day.removed += t.points
                if t.done:
                    day.completed -= t.points
    elif kind == "estimate":
        t.points += points
        if running:
            if points > 0:
                day.added += points
            else:
                day.removed -= points
            if t.done:
                day.completed += points
    elif kind in ("done", "reopened"):
        t.done = kind == "done"
        if running:
            day.completed += points if t.done else -points
            t.done_at = at if t.done else None


def _span(sprint: SprintRow, r: _Replay, until: dt.date) -> tuple[list[dt.date], int | None]:
    """The report's days, and the index of the end date among them (None without one)."""
    first = dt.date.fromisoformat(sprint.start_date) if sprint.start_date else None
    if first is None:
        first = _day(r.started_at) if r.started_at is not None else until
    end = dt.date.fromisoformat(sprint.end_date) if sprint.end_date else None
    if end is not None and end < first:
        end = None
    last = max(d for d in (first, end, until) if d is not None)
    count = min(MAX_DAYS, (last - first).days + 1)
    days = [first + dt.timedelta(days=i) for i in range(count)]
    end_index = (end - first).days if end is not None and (end - first).days < count else None
    return days, end_index


def compute(sprint: SprintRow, now: int) -> reports_pb2.SprintReport:
    """The sprint's record as its facts tell it, as of ``now`` (microseconds)."""
    r = _replay(sprint.id)
    out = reports_pb2.SprintReport(sprint=convert.sprint(sprint))
    if sprint.capacity is not None:
        out.capacity = sprint.capacity
    if r.started_at is None:
        return out  # planned: no record yet
    out.start_time.FromMicroseconds(r.started_at)
    today = _day(now)
    days, end_index = _span(sprint, r, today)
    # Facts dated before the first day (started before its start date) count on the first.
    early = _Day()
    for d, figures in r.days.items():
        if d < days[0]:
            early.added += figures.added
            early.removed += figures.removed
            early.completed += figures.completed
    scope, completed = r.committed, r.pre_done
    span = end_index if end_index else len(days) - 1
    for i, d in enumerate(days):
        figures = r.days.get(d, _Day())
        if i == 0:
            figures = _Day(
                figures.added + early.added,
                figures.removed + early.removed,
                figures.completed + early.completed,
            )
        ideal = r.committed * max(0.0, (span - i) / span) if span > 0 else 0.0
        day = out.days.add(date=d.isoformat(), ideal=round(ideal, 2), elapsed=d <= today)
        if not day.elapsed:
            continue
        scope += figures.added - figures.removed
        completed += figures.completed
        day.added, day.removed, day.completed = figures.added, figures.removed, figures.completed
        day.scope, day.remaining = scope, scope - completed
        out.added_points += figures.added
        out.removed_points += figures.removed
    out.committed_points = r.committed
    out.completed_points = completed
    out.remaining_points = scope - completed
    _tasks(out, r)
    return out


def _tasks(out: reports_pb2.SprintReport, r: _Replay) -> None:
    counted = [task_id for task_id, t in r.tasks.items() if t.counted]
    seen = {
        row.task_id: row
        for row in SprintLedgerTaskRow.select().where(SprintLedgerTaskRow.task_id.in_(counted))
    }
    for task_id in counted:
        t = r.tasks[task_id]
        row = seen.get(task_id)
        item = out.tasks.add(
            task_id=task_id,
            key=row.task_key if row is not None else "",
            title=row.title if row is not None else "",
            points=t.points,
            committed=t.committed,
        )
        if t.inside:
            item.outcome = (
                Outcome.SPRINT_TASK_OUTCOME_DONE if t.done else Outcome.SPRINT_TASK_OUTCOME_OPEN
            )
        elif t.carried:
            item.outcome = Outcome.SPRINT_TASK_OUTCOME_CARRIED_OVER
            out.carried_over_points += t.points
        else:
            item.outcome = Outcome.SPRINT_TASK_OUTCOME_REMOVED
        for name, micros in (("join_time", t.join_at), ("leave_time", t.leave_at)):
            if micros is not None:
                getattr(item, name).FromMicroseconds(micros)
        if t.done and t.done_at is not None and item.outcome == Outcome.SPRINT_TASK_OUTCOME_DONE:
            item.done_time.FromMicroseconds(t.done_at)


def freeze(sprint_id: str, carried_to: str, now: int) -> None:
    """Store the sprint's record as it is at its completion (in the completing transaction)."""
    sprint = SprintRow.get_by_id(sprint_id)
    report = compute(sprint, now)
    report.frozen = True
    report.carried_over_to_sprint_id = carried_to
    if carried_to:
        target = SprintRow.get_or_none(SprintRow.id == carried_to)
        report.carried_over_to_sprint_name = target.name if target is not None else ""
    put(
        SprintRecordRow,
        sprint_id=sprint_id,
        project_id=sprint.project_id,
        completed_at=now,
        report=report.SerializeToString(),
    )


def report(sprint_id: str, now: int) -> reports_pb2.SprintReport:
    """A sprint's record: the frozen one once it completed, else replayed as of ``now``."""
    sprint = get_or_not_found(SprintRow, sprint_id, "sprint")
    frozen = SprintRecordRow.get_or_none(SprintRecordRow.sprint_id == sprint_id)
    if frozen is None:
        return compute(sprint, now)
    out = reports_pb2.SprintReport()
    out.ParseFromString(bytes(frozen.report))
    out.sprint.CopyFrom(convert.sprint(sprint))
    return out


def velocity(project_id: str, last: int) -> reports_pb2.VelocityResponse:
    """The last ``last`` completed sprints of the project (0: the default), oldest first."""
    get_or_not_found(ProjectRow, project_id, "project")
    count = last or VELOCITY_DEFAULT
    if not 1 <= count <= VELOCITY_MAX:
        raise invalid("last", f"last must be between 1 and {VELOCITY_MAX}")
    rows = list(
        SprintRecordRow.select()
        .where(SprintRecordRow.project_id == project_id)
        .order_by(SprintRecordRow.completed_at.desc(), SprintRecordRow.sprint_id)
        .limit(count)
    )
    names = {
        s.id: s.name
        for s in SprintRow.select().where(SprintRow.id.in_([r.sprint_id for r in rows]))
    }
    out = reports_pb2.VelocityResponse(project_id=project_id)
    for row in reversed(rows):
        record = reports_pb2.SprintReport()
        record.ParseFromString(bytes(row.report))
        item = out.sprints.add(
            sprint_id=row.sprint_id,
            name=names.get(row.sprint_id, record.sprint.name),
            committed_points=record.committed_points,
            completed_points=record.completed_points,
            added_points=record.added_points,
            removed_points=record.removed_points,
            carried_over_points=record.carried_over_points,
        )
        item.complete_time.FromMicroseconds(int(row.completed_at))
    if out.sprints:
        out.average_committed = sum(s.committed_points for s in out.sprints) / len(out.sprints)
        out.average_completed = sum(s.completed_points for s in out.sprints) / len(out.sprints)
    return out
