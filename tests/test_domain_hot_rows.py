"""An update reads its task without peewee's cursor and writes field_versions without
json.dumps: what it reads and writes is what peewee and json would have, whatever the
stored text looks like (values needing conversion, JSON spelt otherwise)."""

from __future__ import annotations

import json

import pytest
from google.protobuf import field_mask_pb2
from tandem.v1 import commands_pb2, entities_pb2

from server.domain import rows, tasks
from server.domain.errors import DomainError, ErrorCode
from server.domain.service import Domain
from server.domain.tx import decode_versions, encode_versions
from server.storage.models import TaskRow

pytestmark = pytest.mark.sqlite_only("stores values of another type than the column's")


def new_task(domain: Domain, title: str) -> entities_pb2.Task:
    owner = domain.owner_actor()
    made = domain.execute(
        owner, commands_pb2.CreateProject(project=entities_pb2.Project(key="HOT", name="h"))
    ).project
    return domain.execute(
        owner, commands_pb2.CreateTask(project_id=made.id, task=entities_pb2.Task(title=title))
    ).task


def retitle(domain: Domain, task_id: str, title: str, base_version: int = 0) -> entities_pb2.Task:
    return domain.execute(
        domain.owner_actor(),
        commands_pb2.UpdateTask(
            task_id=task_id,
            task=entities_pb2.Task(title=title),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            base_version=base_version,
        ),
    ).task


def read_both(domain: Domain, task_id: str) -> tuple[dict[str, object], dict[str, object]]:
    """The task as a command reads it, and as peewee's own query reads it."""
    with domain.store.db.atomic():
        current, _key = tasks.changeable(task_id)
        return current.__data__, TaskRow.get_by_id(task_id).__data__


def test_a_row_needing_conversion_reads_as_peewee_reads_it_before_and_after_plain_rows(
    domain: Domain,
) -> None:
    odd = new_task(domain, "odd")
    plain = domain.execute(
        domain.owner_actor(),
        commands_pb2.CreateTask(project_id=odd.project_id, task=entities_pb2.Task(title="p")),
    ).task
    with domain.store.db.atomic():
        # A REAL in an INTEGER column stays a REAL in SQLite: peewee reads it as an int.
        rows.execute("UPDATE task SET priority = 2.5 WHERE id = ?", (odd.id,))
    for task_id in (odd.id, plain.id, odd.id, plain.id):
        ours, peewees = read_both(domain, task_id)
        assert ours == peewees
        assert {type(v) for v in ours.values()} <= {str, int, type(None)}
    assert read_both(domain, odd.id)[0]["priority"] == 2
    # The update answers with the converted value and leaves the column it did not change.
    assert retitle(domain, odd.id, "odder").priority == 2
    with domain.store.db.atomic():
        stored = rows.execute("SELECT priority FROM task WHERE id = ?", (odd.id,)).fetchone()
    assert stored[0] == 2.5


def test_field_versions_spelt_otherwise_merge_and_are_written_back_as_json_dumps(
    domain: Domain,
) -> None:
    task = new_task(domain, "t")
    version = retitle(domain, task.id, "t2").version
    with domain.store.db.atomic():
        rows.execute(
            "UPDATE task SET field_versions = ? WHERE id = ?",
            (f' {{ "title" : {version} }}\n', task.id),
        )
    with pytest.raises(DomainError) as refused:
        retitle(domain, task.id, "stale", base_version=version - 1)
    assert refused.value.code == ErrorCode.ERROR_CODE_CONFLICT
    assert list(refused.value.conflicting_fields) == ["title"]
    again = retitle(domain, task.id, "t3", base_version=version)
    with domain.store.db.atomic():
        (text,) = rows.execute(
            "SELECT field_versions FROM task WHERE id = ?", (task.id,)
        ).fetchone()
    assert text == json.dumps({"title": again.version}, sort_keys=True)


def test_unreadable_field_versions_refuse_the_update_and_change_nothing(domain: Domain) -> None:
    task = new_task(domain, "kept")
    with domain.store.db.atomic():
        rows.execute("UPDATE task SET field_versions = '{\"title\": 1} x' WHERE id = ?", (task.id,))
    with pytest.raises(DomainError) as refused:
        retitle(domain, task.id, "lost")
    assert refused.value.code == ErrorCode.ERROR_CODE_INTERNAL
    assert read_both(domain, task.id)[0]["title"] == "kept"


@pytest.mark.parametrize(
    "text", ["{}", '{"title": 3}', '{"b": 1, "a": 20}', ' {"a": 1} ', '{"\\u00e9t\\u00e9": 2}']
)
def test_decode_versions_reads_what_json_loads_reads(text: str) -> None:
    assert decode_versions(text) == json.loads(text)


@pytest.mark.parametrize("text", ["", "{", '{"a": 1} x', "{'a': 1}"])
def test_decode_versions_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        decode_versions(text)


@pytest.mark.parametrize(
    "versions", [{}, {"title": 3}, {"title": 3, "description": 7, "rank": 12}, {"été": 2, "a": 1}]
)
def test_encode_versions_writes_what_json_dumps_writes(versions: dict[str, int]) -> None:
    assert encode_versions(versions) == json.dumps(versions, sort_keys=True)
