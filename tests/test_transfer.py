"""Importing other tools' files and Tandem exports, in one transaction, into a real SQLite
file; exporting and importing back equal; bad files refused by where, changing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tandem.v1 import commands_pb2, entities_pb2, transfer_pb2

from server.config import ServerConfig
from server.domain.errors import DomainError
from server.domain.service import Domain, open_domain
from server.domain.transfer import document
from server.storage.models import database
from tests import transfer_files as files

REPO = Path(__file__).resolve().parent.parent
Status = entities_pb2.TaskStatus
Priority = entities_pb2.TaskPriority
Format = transfer_pb2.ImportFormat


@pytest.fixture
def domain(tmp_path: Path) -> Iterator[Domain]:
    opened = open_domain(ServerConfig(data_dir=tmp_path / "data"))
    try:
        yield opened
    finally:
        opened.close()


def do_import(domain: Domain, data: bytes, **fields: Any) -> transfer_pb2.ImportSummary:
    ack = domain.execute(domain.owner_actor(), transfer_pb2.ImportWorkspace(data=data, **fields))
    return ack.import_summary


def exported(domain: Domain, key: str = "") -> transfer_pb2.WorkspaceExport:
    with database.atomic():
        return document.export_workspace(key, now_micros=0)


def by_title(pe: transfer_pb2.ProjectExport) -> dict[str, entities_pb2.Task]:
    return {t.title: t for t in pe.tasks}


def names(doc: transfer_pb2.WorkspaceExport) -> dict[str, str]:
    return {m.id: m.display_name for m in doc.members}


def tandem(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip


# --- Trello ---------------------------------------------------------------------------


def test_a_trello_board_becomes_a_project(domain: Domain) -> None:
    data = json.dumps(files.trello_board()).encode()
    summary = do_import(domain, data, file_name="website.json")
    assert summary.format == Format.IMPORT_FORMAT_TRELLO
    assert any("2 archived cards" in note for note in summary.notes), summary.notes
    doc = exported(domain)
    (pe,) = doc.projects
    assert (pe.project.name, pe.project.description) == (
        "Website relaunch",
        "Everything for the new site",
    )
    tasks = by_title(pe)
    assert "Archived card" not in tasks and "In an archived list" not in tasks
    header = tasks["Fix the header"]
    assert header.status == Status.TASK_STATUS_TODO
    assert header.description == "It **jumps** on scroll"
    assert header.due_date == "2026-12-24"
    assert list(header.labels) == ["Bug", "green"]
    who = names(doc)
    assert who[header.assignee_id] == "Ada Lovelace"
    assert tasks["Write the copy"].status == Status.TASK_STATUS_IN_PROGRESS
    assert who[tasks["Write the copy"].assignee_id] == "Grace Hopper"
    assert tasks["Pick a font"].status == Status.TASK_STATUS_DONE
    # A list Tandem has no status for: To do, and the list's name kept as a label.
    assert tasks["Someday: dark mode"].status == Status.TASK_STATUS_TODO
    assert list(tasks["Someday: dark mode"].labels) == ["Parking lot"]
    # Checklist items are subtasks, done when ticked.
    assert tasks["Reproduce"].parent_task_id == header.id
    assert tasks["Reproduce"].status == Status.TASK_STATUS_DONE
    assert tasks["Patch the CSS"].status == Status.TASK_STATUS_TODO
    # commentCard actions are comments, with their authors (a guest made a member) and dates.
    assert [(who[c.author_id], c.body, c.create_time.ToJsonString()) for c in pe.comments] == [
        ("Grace Hopper", "Seen on Safari too", "2026-11-21T10:00:00Z"),
        ("Linus Guest", "Fixed upstream?", "2026-11-22T10:00:00Z"),
    ]
    assert all(c.task_id == header.id for c in pe.comments)
    # Keys numbered from 1 in the file's order.
    assert sorted(int(t.key.split("-")[1]) for t in pe.tasks) == list(range(1, 7))


# --- Jira CSV -------------------------------------------------------------------------


def test_a_jira_csv_merges_repeated_columns_and_fills_sprints(domain: Domain) -> None:
    summary = do_import(domain, files.jira_csv(), file_name="jira.csv")
    assert summary.format == Format.IMPORT_FORMAT_JIRA_CSV
    mapped = {c.column: c.field for c in summary.columns}
    assert mapped["Summary"] == "title" and mapped["Custom field (Story Points)"] == "points"
    doc = exported(domain)
    (pe,) = doc.projects
    assert (pe.project.key, pe.project.name) == ("SHOP", "Shop")
    tasks = by_title(pe)
    login, reset, bug = tasks["Login page"], tasks["Password reset"], tasks["Checkout bug"]
    assert login.status == Status.TASK_STATUS_IN_PROGRESS
    assert login.priority == Priority.TASK_PRIORITY_URGENT  # Highest
    assert list(login.labels) == ["auth", "frontend", "Story"]
    assert login.story_points == 5 and reset.story_points == 3  # either points column
    assert login.due_date == "2026-12-24"
    assert login.create_time.ToJsonString() == "2026-11-12T09:15:00Z"
    assert reset.parent_task_id == login.id  # Parent id -> Issue id
    assert reset.priority == Priority.TASK_PRIORITY_LOW and reset.status == Status.TASK_STATUS_TODO
    assert bug.status == Status.TASK_STATUS_DONE and bug.priority == Priority.TASK_PRIORITY_HIGH
    sprints = {s.id: s.name for s in pe.sprints}
    assert sorted(sprints.values()) == ["SHOP Sprint 1", "SHOP Sprint 2"]
    assert (
        sprints[login.sprint_id] == "SHOP Sprint 2" and sprints[reset.sprint_id] == "SHOP Sprint 2"
    )
    who = names(doc)
    assert [(who[c.author_id], c.body) for c in pe.comments] == [
        ("Grace Hopper", "Please add SSO"),
        ("Ada", "Done; see PR"),
    ]
    assert pe.comments[0].create_time.ToJsonString() == "2026-11-13T10:00:00Z"


# --- Linear and any CSV ---------------------------------------------------------------


def test_a_linear_csv(domain: Domain) -> None:
    summary = do_import(domain, files.linear_csv(), file_name="linear.csv")
    assert summary.format == Format.IMPORT_FORMAT_LINEAR_CSV
    (pe,) = exported(domain).projects
    assert (pe.project.key, pe.project.name) == ("ENG", "Engineering")
    tasks = by_title(pe)
    ci = tasks["Set up CI"]
    assert (ci.status, ci.priority, ci.story_points) == (
        Status.TASK_STATUS_IN_PROGRESS, Priority.TASK_PRIORITY_URGENT, 3,
    )  # fmt: skip
    assert list(ci.labels) == ["infra", "ci"] and ci.due_date == "2026-12-20"
    assert tasks["Cache dependencies"].parent_task_id == ci.id
    assert {s.name for s in pe.sprints} == {"Cycle 1"}
    old = tasks["Old idea"]
    assert old.status == Status.TASK_STATUS_DONE and list(old.labels) == ["Canceled"]


def test_any_csv_with_a_column_mapping(domain: Domain) -> None:
    data = files.csv_bytes([
        ["Thing", "State", "Who", "Size", "Tags"],
        ["Buy paint", "doing", "Sam", "2", "home; weekend"],
        ["Hang shelves", "finished", "", "", ""],
    ])  # fmt: skip
    mapping = {"title": "Thing", "status": "State", "assignee": "Who", "points": "Size"}
    summary = do_import(
        domain, data, file_name="chores.csv", column_map=mapping, project_key="HOME"
    )
    assert summary.format == Format.IMPORT_FORMAT_CSV
    assert {c.column: c.field for c in summary.columns} == {
        "Thing": "title", "State": "status", "Who": "assignee", "Size": "points", "Tags": "labels",
    }  # fmt: skip
    doc = exported(domain)
    (pe,) = doc.projects
    assert (pe.project.key, pe.project.name) == ("HOME", "chores")
    paint, shelves = pe.tasks[0], pe.tasks[1]
    if paint.title != "Buy paint":
        paint, shelves = shelves, paint
    assert paint.status == Status.TASK_STATUS_IN_PROGRESS and paint.story_points == 2
    assert names(doc)[paint.assignee_id] == "Sam" and list(paint.labels) == ["home", "weekend"]
    assert shelves.status == Status.TASK_STATUS_DONE


def test_the_cli_map_option_and_a_preview_that_creates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    source = tmp_path / "issues.csv"
    source.write_bytes(files.csv_bytes([["Subject", "State"], ["Wire the lamp", "Blocked"]]))
    preview = tandem("import", str(source), "--format", "csv", "--map", "title=Subject",
                     "--dry-run", "--data-dir", str(data_dir))  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    assert "Would create" in preview.stdout and "1 tasks" in preview.stdout
    assert "statuses not known, imported as To do: Blocked" in preview.stdout
    assert files.all_rows(data_dir / "tandem.sqlite3")["task"] == []
    done = tandem("import", str(source), "--map", "title=Subject,status=State",
                  "--data-dir", str(data_dir))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Created from a csv file" in done.stdout and "project ISSUES" in done.stdout
    assert len(files.all_rows(data_dir / "tandem.sqlite3")["task"]) == 1


# --- Focalboard -----------------------------------------------------------------------


@pytest.mark.parametrize("archive", ["boardarchive", "legacy"])
def test_a_focalboard_archive(domain: Domain, archive: str) -> None:
    data = files.focalboard_archive() if archive == "boardarchive" else files.focalboard_legacy()
    summary = do_import(domain, data, file_name=f"roadmap.{archive}")
    assert summary.format == Format.IMPORT_FORMAT_FOCALBOARD
    doc = exported(domain)
    (pe,) = doc.projects
    assert (pe.project.name, pe.project.description) == ("Roadmap", "Our plans")
    tasks = by_title(pe)
    assert set(tasks) == {"Ship onboarding", "Release notes"}  # the deleted card is not
    ship = tasks["Ship onboarding"]
    assert (ship.status, ship.priority, ship.story_points) == (
        Status.TASK_STATUS_IN_PROGRESS, Priority.TASK_PRIORITY_HIGH, 8,
    )  # fmt: skip
    assert names(doc)[ship.assignee_id] == "ada"
    assert ship.due_date == "2025-12-24" and list(ship.labels) == ["web", "mobile"]
    assert ship.description == "Three screens, then the board."
    assert tasks["Release notes"].status == Status.TASK_STATUS_DONE
    assert tasks["Release notes"].priority == Priority.TASK_PRIORITY_LOW
    (comment,) = pe.comments
    assert (names(doc)[comment.author_id], comment.body) == ("grace", "Copy is ready")


# --- Tandem exports: round trips ------------------------------------------------------


def _board(domain: Domain) -> None:
    owner = domain.owner_actor()
    project = domain.execute(
        owner,
        commands_pb2.CreateProject(
            project=entities_pb2.Project(key="WEB", name="Website", description="The site")
        ),
    ).project
    sprint = domain.execute(
        owner,
        commands_pb2.CreateSprint(
            project_id=project.id, sprint=entities_pb2.Sprint(name="S1", goal="Launch")
        ),
    ).sprint
    parent = domain.execute(
        owner,
        commands_pb2.CreateTask(
            project_id=project.id,
            task=entities_pb2.Task(
                title="Launch",
                labels=["big", "Q4"],
                story_points=8,
                due_date="2026-12-31",
                sprint_id=sprint.id,
                priority=Priority.TASK_PRIORITY_HIGH,
            ),
        ),
    ).task
    for i in range(3):
        domain.execute(
            owner,
            commands_pb2.CreateTask(
                project_id=project.id,
                task=entities_pb2.Task(
                    title=f"Step {i}", parent_task_id=parent.id, status=Status.TASK_STATUS_DONE
                ),
            ),
        )
    domain.execute(owner, commands_pb2.AddComment(task_id=parent.id, body="Go **go**"))
    other = domain.execute(
        owner, commands_pb2.CreateProject(project=entities_pb2.Project(key="OPS", name="Ops"))
    ).project
    pager = entities_pb2.Task(title="Pager")
    domain.execute(owner, commands_pb2.CreateTask(project_id=other.id, task=pager))


def _without_time(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    doc.pop("exportTime")
    return doc


def test_export_import_export_is_equal_through_the_cli(tmp_path: Path) -> None:
    first = open_domain(ServerConfig(data_dir=tmp_path / "a"))
    try:
        _board(first)
    finally:
        first.close()
    out = tmp_path / "export.json"
    assert tandem("export", "--to", str(out), "--data-dir", str(tmp_path / "a")).returncode == 0
    done = tandem("import", str(out), "--data-dir", str(tmp_path / "b"))
    assert done.returncode == 0, done.stderr
    assert "project WEB 'Website': 4 tasks, 1 sprints, 1 comments" in done.stdout
    again = tandem("export", "--data-dir", str(tmp_path / "b"))  # to standard output
    assert again.returncode == 0, again.stderr
    assert _without_time(again.stdout) == _without_time(out.read_text(encoding="utf-8"))
    one = tandem("export", "--project", "ops", "--data-dir", str(tmp_path / "b"))
    assert [p["project"]["key"] for p in json.loads(one.stdout)["projects"]] == ["OPS"]
    csv_text = tandem("export", "--project", "WEB", "--csv", "--data-dir", str(tmp_path / "b"))
    assert csv_text.stdout.splitlines()[0].startswith("Key,Title,Status,Priority")
    assert len(csv_text.stdout.strip().splitlines()) == 5


def test_a_csv_export_imports_back_as_the_same_tasks(domain: Domain, tmp_path: Path) -> None:
    _board(domain)
    out = tmp_path / "web.csv"
    from server.domain.transfer import csv_export

    with database.atomic():
        out.write_text(csv_export.tasks_csv("WEB"), encoding="utf-8", newline="")
    do_import(domain, out.read_bytes(), file_name="web.csv", project_key="COPY")
    projects = {p.project.key: p for p in exported(domain).projects}

    def fields(t: entities_pb2.Task) -> tuple[Any, ...]:
        points = t.story_points if t.HasField("story_points") else None
        return (t.title, t.status, t.priority, list(t.labels), t.due_date, points, t.key[-1])

    assert sorted(map(fields, projects["COPY"].tasks)) == sorted(map(fields, projects["WEB"].tasks))
    copy = by_title(projects["COPY"])
    assert copy["Step 0"].parent_task_id == copy["Launch"].id
    assert {s.name for s in projects["COPY"].sprints} == {"S1"}


def test_an_export_imported_where_its_ids_exist_gets_new_ids(domain: Domain) -> None:
    _board(domain)
    before = exported(domain)
    summary = do_import(domain, document.to_json(before).encode())
    assert [(p.project.key, p.remapped) for p in summary.projects] == [
        ("WEB2", True),
        ("OPS2", True),
    ]
    after = {p.project.key: p for p in exported(domain).projects}
    copy, original = after["WEB2"], after["WEB"]
    assert {t.id for t in copy.tasks}.isdisjoint({t.id for t in original.tasks})
    assert sorted(t.key.replace("WEB2", "WEB") for t in copy.tasks) == sorted(
        t.key for t in original.tasks
    )
    launch = by_title(copy)["Launch"]
    assert by_title(copy)["Step 1"].parent_task_id == launch.id
    assert copy.comments[0].task_id == launch.id


# --- bad files ------------------------------------------------------------------------

TRUNCATED = json.dumps(files.trello_board(), indent=1).encode()[:900]
TRUNCATED_LINES = TRUNCATED.split(b"\n")
BAD_FILES: dict[str, tuple[bytes, int, str]] = {
    # Where the text stops: its last line, past its last character.
    "truncated JSON": (
        TRUNCATED, 0,
        f"line {len(TRUNCATED_LINES)}, column {len(TRUNCATED_LINES[-1]) + 1}:",
    ),
    "a zip that is not an archive": (b"PK\x03\x04" + b"\x00" * 200, 0, "zip: not a readable zip"),
    "a zip without version.json": (b"", 0, "version.json: missing"),
    "a CSV with no title column": (
        files.csv_bytes([["Colour", "Size"], ["red", "2"]]), 0, "no column for the task title",
    ),
    "a Trello file from another tool": (
        json.dumps({**files.trello_board(), "_format": "wekan-board-1.0.0"}).encode(),
        Format.IMPORT_FORMAT_TRELLO, "key _format",
    ),
    "a Trello card in no list": (
        json.dumps({**files.trello_board(), "cards": [{"id": "x", "idList": "nope"}]}).encode(),
        0, "cards[0].idList",
    ),
    "an export from a newer Tandem": (
        json.dumps({"formatVersion": 99, "projects": []}).encode(), 0, "key formatVersion",
    ),
    "a Jira CSV with a bad date": (
        files.jira_csv().replace(b"12/Nov/26 9:15 AM", b"the twelfth"), 0,
        "line 2, column 'Created'",
    ),
    "a Jira CSV with a bad comment": (
        files.jira_csv().replace(b"13/Nov/26 10:00 AM;Grace", b"yesterday;Grace"), 0,
        "line 2, column 'Comment'",
    ),
    "a JSON file of neither kind": (b'{"hello": "world"}', 0, "it has: hello"),
    "a database instead of an export": (
        b"SQLite format 3\x00" + bytes(4000), 0, "byte 0: this is a database",
    ),
}  # fmt: skip


def _empty_zip() -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("bdx1/board.jsonl", b"{}\n")
    return out.getvalue()


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_by_where_and_changes_nothing(domain: Domain, case: str) -> None:
    _board(domain)
    data, fmt, where = BAD_FILES[case]
    if case == "a zip without version.json":
        data = _empty_zip()
    before = files.all_rows(domain.store.path)
    with pytest.raises(DomainError) as refused:
        do_import(domain, data, format=fmt, file_name="bad")
    assert where in refused.value.message, refused.value.message
    assert files.all_rows(domain.store.path) == before


def test_a_bad_row_late_in_a_file_leaves_nothing_half_imported(domain: Domain) -> None:
    rows = [["Title", "Priority"]] + [[f"Task {i}", "high"] for i in range(500)]
    rows.append(["The bad one", "whenever"])
    before = files.all_rows(domain.store.path)
    with pytest.raises(DomainError) as refused:
        do_import(domain, files.csv_bytes(rows), file_name="big.csv")
    assert refused.value.message.startswith("line 502, column 'Priority'")
    assert files.all_rows(domain.store.path) == before


def test_the_cli_refuses_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "board.json"
    bad.write_text('{"name": "x", "lists": [', encoding="utf-8")
    done = tandem("import", str(bad), "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "tandem import: line 1, column 25: the JSON file is not valid JSON (Expecting value)"
    ]
