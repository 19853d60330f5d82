"""Trello's board export (Menu → Print and export → Export as JSON).

The board becomes a project; its lists become statuses by their names (a list named like
"Done" is done, one named like nothing Tandem knows is To do, labelled with the list's
name); cards become tasks with their description, due date, labels and members;
checklist items become subtasks (done when ticked); ``commentCard`` actions become
comments with their authors and dates. Archived cards, and cards of archived lists, are
not imported as open work: they are counted in the notes.
"""

from __future__ import annotations

from typing import Any

from tandem.v1 import entities_pb2, transfer_pb2

from server.domain.transfer import common
from server.domain.transfer.common import BadFile
from server.domain.transfer.document import load_json
from server.domain.transfer.parsed import Parsed

Status = entities_pb2.TaskStatus
REQUIRED = ("id", "name", "lists", "cards")


def looks_like(raw: Any) -> bool:
    return isinstance(raw, dict) and all(k in raw for k in REQUIRED) and "actions" in raw


def _list_of(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadFile(f"key {key}", "is not a list of objects")
    return value


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key) or ""
    if not isinstance(value, str):
        raise BadFile(f"{where}.{key}", f"is {type(value).__name__}, not text")
    return value


def parse(data: bytes) -> Parsed:
    raw = load_json(data, "Trello export")
    if not isinstance(raw, dict):
        raise BadFile("line 1, column 1", "a Trello export is a JSON object (a board)")
    made_by = raw.get("_format")
    if isinstance(made_by, str) and not made_by.startswith("trello"):
        raise BadFile("key _format", f"{made_by!r}: this board was exported by another tool")
    for key in REQUIRED:
        if key not in raw:
            raise BadFile(f"key {key}", "missing: this is not a Trello board export")
    lists = _list_of(raw, "lists")
    cards = _list_of(raw, "cards")
    out = Parsed(doc=transfer_pb2.WorkspaceExport())
    doc = out.doc
    for i, m in enumerate(_list_of(raw, "members")):
        name = _str(m, "fullName", f"members[{i}]") or _str(m, "username", f"members[{i}]")
        doc.members.add(id=_str(m, "id", f"members[{i}]"), display_name=name or "Someone")
    known_members = {m.id for m in doc.members}
    pe = doc.projects.add()
    pe.project.name = _str(raw, "name", "board") or "Trello board"
    pe.project.description = _str(raw, "desc", "board")
    label_names = {}
    for i, label in enumerate(_list_of(raw, "labels")):
        label_names[_str(label, "id", f"labels[{i}]")] = _str(
            label, "name", f"labels[{i}]"
        ) or _str(label, "color", f"labels[{i}]")
    columns: dict[str, tuple[entities_pb2.TaskStatus.ValueType, str, bool]] = {}
    for i, lst in enumerate(sorted(lists, key=lambda x: float(x.get("pos") or 0))):
        name = _str(lst, "name", f"lists[{i}]")
        status = common.status_named(name)
        columns[_str(lst, "id", f"lists[{i}]")] = (
            status or Status.TASK_STATUS_TODO,
            "" if status else name,
            bool(lst.get("closed")),
        )
    checklists: dict[str, list[dict[str, Any]]] = {}
    for cl in _list_of(raw, "checklists"):
        checklists.setdefault(str(cl.get("idCard", "")), []).append(cl)
    archived = 0
    kept: set[str] = set()
    ordered = sorted(
        enumerate(cards), key=lambda ic: (str(ic[1].get("idList")), float(ic[1].get("pos") or 0))
    )
    for i, card in ordered:
        where = f"cards[{i}]"
        list_id = _str(card, "idList", where)
        if list_id not in columns:
            raise BadFile(f"{where}.idList", f"names no list of the board ({list_id!r})")
        status, list_label, list_closed = columns[list_id]
        if card.get("closed") or list_closed:
            archived += 1
            continue
        card_id = _str(card, "id", where)
        kept.add(card_id)
        task = pe.tasks.add(id=card_id, status=status)
        task.title = common.title(_str(card, "name", where), f"{where}.name")
        task.description = _str(card, "desc", where)
        if card.get("dueComplete") and status != Status.TASK_STATUS_DONE:
            task.status = Status.TASK_STATUS_DONE
        task.due_date = common.iso_date(card.get("due"), f"{where}.due")
        names = [label_names.get(str(x), "") for x in card.get("idLabels") or []]
        names += [
            str(lb.get("name") or "") for lb in card.get("labels") or [] if isinstance(lb, dict)
        ]
        task.labels.extend(common.labels([*names, list_label]))
        people = [str(m) for m in card.get("idMembers") or [] if str(m) in known_members]
        if people:
            task.assignee_id = people[0]
        created = common.stamp(card.get("dateLastActivity"))
        if created is not None:
            task.update_time.CopyFrom(created)
        for cl in checklists.get(card_id, []):
            items = [x for x in cl.get("checkItems") or [] if isinstance(x, dict)]
            for j, item in enumerate(sorted(items, key=lambda x: float(x.get("pos") or 0))):
                sub = pe.tasks.add(
                    id=f"{card_id}/{cl.get('id')}/{item.get('id') or j}",
                    parent_task_id=card_id,
                    status=Status.TASK_STATUS_DONE
                    if item.get("state") == "complete"
                    else Status.TASK_STATUS_TODO,
                )
                sub.title = common.title(
                    str(item.get("name") or ""), f"{where}.checklists.checkItems[{j}].name"
                )
    for i, action in enumerate(_list_of(raw, "actions")):
        if action.get("type") != "commentCard":
            continue
        where = f"actions[{i}]"
        detail = _obj(action.get("data"))
        card = _obj(detail.get("card"))
        card_id = str(card.get("id") or "")
        text = str(detail.get("text") or "").strip()
        if card_id not in kept or not text:
            continue
        author = str(action.get("idMemberCreator") or "")
        if author and author not in known_members:
            creator = _obj(action.get("memberCreator"))
            doc.members.add(id=author, display_name=str(creator.get("fullName") or "Someone"))
            known_members.add(author)
        comment = pe.comments.add(
            id=_str(action, "id", where), task_id=card_id, author_id=author, body=text
        )
        when = common.stamp(action.get("date"))
        if when is not None:
            comment.create_time.CopyFrom(when)
    pe.comments.sort(key=lambda c: (c.create_time.seconds, c.create_time.nanos))
    if archived:
        out.notes.append(f"{archived} archived cards (or cards of archived lists) not imported")
    return out
