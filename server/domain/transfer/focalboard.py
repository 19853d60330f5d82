"""Focalboard's board archives: version 2 (``.boardarchive``, a zip of ``version.json``
and ``<board id>/board.jsonl``) and the legacy JSON Lines archive (version 1).

Each line of a board's JSONL is ``{"type": ..., "data": {...}}``: the board (its
``cardProperties``: id, name, type, options), blocks (cards, their text and checkboxes,
comments), board members. A card's ``fields.properties`` maps property ids to an option
id (select), option ids (multiSelect), a person's id, a number or a date (JSON text with
``from`` in milliseconds). Properties are matched to Tandem's fields by name and type.
Deleted blocks (``deleteAt``) and archived boards are skipped.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from tandem.v1 import entities_pb2, transfer_pb2

from server.domain.transfer import common
from server.domain.transfer.common import BadFile
from server.domain.transfer.parsed import Parsed

Status = entities_pb2.TaskStatus
ZIP_MAGIC = b"PK\x03\x04"


def _lines(data: bytes, name: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadFile(f"{name} byte {exc.start}", "is not UTF-8 text") from None
    out: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadFile(
                f"{name} line {n}, column {exc.colno}", f"not valid JSON ({exc.msg})"
            ) from None
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise BadFile(f"{name} line {n}", 'each line is an object with a "type"')
        out.append((n, item))
    return out


def looks_like_jsonl(data: bytes) -> bool:
    first = data.lstrip()[:200]
    return first.startswith(b'{"type"') or first.startswith(b'{ "type"')


def parse(data: bytes) -> Parsed:
    if data.startswith(ZIP_MAGIC):
        return _parse_zip(data)
    lines = _lines(data, "archive")
    if not lines or lines[0][1].get("type") != "archive":
        raise BadFile(
            "archive line 1", 'missing the {"type": "archive"} line: not a Focalboard archive'
        )
    version = (lines[0][1].get("data") or {}).get("version")
    if version not in (1, 2):
        raise BadFile(
            "archive line 1, key data.version", f"{version!r}: archive versions 1 and 2 are known"
        )
    return _boards({"archive": lines})


def _parse_zip(data: bytes) -> Parsed:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadFile("zip", f"not a readable zip archive ({exc})") from None
    if "version.json" not in names:
        raise BadFile("version.json", "missing from the archive: not a Focalboard .boardarchive")
    try:
        version = json.loads(archive.read("version.json")).get("version")
    except (ValueError, AttributeError, zipfile.BadZipFile) as exc:
        raise BadFile("version.json", f"not readable ({exc})") from None
    if version != 2:
        raise BadFile("version.json key version", f"{version!r}: this reads archive version 2")
    boards: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for name in names:
        if name.endswith("/board.jsonl"):
            try:
                boards[name] = _lines(archive.read(name), name)
            except (zipfile.BadZipFile, OSError) as exc:
                raise BadFile(name, f"cannot be read from the archive ({exc})") from None
    if not boards:
        raise BadFile("zip", "holds no <board>/board.jsonl: not a Focalboard .boardarchive")
    return _boards(boards)


def _when(value: Any) -> Any:
    return common.stamp(value) if isinstance(value, int | float) and value > 0 else None


def _date_of(value: Any, where: str) -> str:
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value).get("to") or json.loads(value).get("from")
        except (ValueError, AttributeError):
            raise BadFile(where, f"{value!r} is not a Focalboard date") from None
    return common.iso_date(value, where) if value else ""


def _boards(files: dict[str, list[tuple[int, dict[str, Any]]]]) -> Parsed:
    out = Parsed(doc=transfer_pb2.WorkspaceExport())
    boards: dict[str, dict[str, Any]] = {}
    blocks: list[tuple[str, dict[str, Any]]] = []
    people: dict[str, str] = {}
    for name, lines in files.items():
        for n, item in lines:
            data = item.get("data")
            where = f"{name} line {n}"
            if item["type"] == "archive":
                continue
            if not isinstance(data, dict):
                raise BadFile(f"{where}, key data", "missing or not an object")
            if item["type"] == "board" or (item["type"] == "block" and data.get("type") == "board"):
                boards[str(data.get("id"))] = data
            elif item["type"] == "block":
                blocks.append((where, data))
            elif item["type"] == "user":
                people[str(data.get("id"))] = str(
                    data.get("username") or data.get("nickname") or ""
                )
    if not boards:
        raise BadFile(next(iter(files)), "holds no board")
    projects: dict[str, tuple[transfer_pb2.ProjectExport, dict[str, Any]]] = {}
    for board_id, board in boards.items():
        if board.get("deleteAt") or board.get("isTemplate"):
            continue
        pe = out.doc.projects.add()
        pe.project.name = str(board.get("title") or "Focalboard board")
        pe.project.description = str(board.get("description") or "")
        props = (
            board.get("cardProperties") or (board.get("fields") or {}).get("cardProperties") or []
        )
        projects[board_id] = (pe, _property_roles(props))
    cards: dict[str, entities_pb2.Task] = {}
    card_project: dict[str, transfer_pb2.ProjectExport] = {}
    members: set[str] = set()

    def person(ident: str) -> str:
        if ident and ident not in members:
            members.add(ident)
            out.doc.members.add(id=ident, display_name=people.get(ident) or ident)
        return ident

    for where, block in blocks:
        if block.get("deleteAt") or block.get("type") != "card":
            continue
        board_id = str(block.get("boardId") or block.get("rootId") or block.get("parentId"))
        if board_id not in projects:
            continue
        pe, roles = projects[board_id]
        task = pe.tasks.add(id=str(block.get("id")))
        task.title = common.title(str(block.get("title") or ""), f"{where}, key title")
        for target, key in ((task.create_time, "createAt"), (task.update_time, "updateAt")):
            stamp = _when(block.get(key))
            if stamp is not None:
                target.CopyFrom(stamp)
        values = ((block.get("fields") or {}).get("properties")) or {}
        for prop_id, value in values.items():
            role = roles.get(prop_id)
            if role is None:
                continue
            field, options = role
            at = f"{where}, key fields.properties.{prop_id}"
            shown = [
                options.get(str(v), str(v)) for v in (value if isinstance(value, list) else [value])
            ]
            if field == "status":
                task.status = common.status_named(shown[0]) or Status.TASK_STATUS_TODO
            elif field == "priority":
                task.priority = common.priority_named(shown[0]) or entities_pb2.TASK_PRIORITY_NONE
            elif field == "assignee":
                task.assignee_id = person(str(shown[0]))
            elif field == "points":
                found = common.points(str(value), at)
                if found is not None:
                    task.story_points = found
            elif field == "labels":
                task.labels[:] = common.labels([*task.labels, *shown])
            elif field == "due_date":
                task.due_date = _date_of(value, at)
        cards[task.id] = task
        card_project[task.id] = pe
    texts: dict[str, list[str]] = {}
    for _where, block in blocks:
        parent = str(block.get("parentId") or "")
        kind = block.get("type")
        if block.get("deleteAt") or parent not in cards:
            continue
        body = str(block.get("title") or "").strip()
        if kind == "text" and body:
            texts.setdefault(parent, []).append(body)
        elif kind == "checkbox" and body:
            done = bool((block.get("fields") or {}).get("value"))
            texts.setdefault(parent, []).append(f"- [{'x' if done else ' '}] {body}")
        elif kind == "comment" and body:
            comment = card_project[parent].comments.add(
                id=str(block.get("id")),
                task_id=parent,
                body=body,
                author_id=person(str(block.get("createdBy") or "")),
            )
            stamp = _when(block.get("createAt"))
            if stamp is not None:
                comment.create_time.CopyFrom(stamp)
    for card_id, parts in texts.items():
        cards[card_id].description = "\n\n".join(parts)
    for pe, _ in projects.values():
        pe.comments.sort(key=lambda c: (c.create_time.seconds, c.create_time.nanos))
    return out


# Property names matched to Tandem fields (with the types that can fill them).
_ROLES = (
    ("status", ("select",), ("status", "state", "stage", "column")),
    ("priority", ("select",), ("priority",)),
    ("assignee", ("person", "multiPerson"), ("assignee", "owner", "person", "assigned to")),
    ("points", ("number",), ("points", "story points", "estimate", "estimated hours", "size")),
    ("labels", ("multiSelect", "select"), ("labels", "tags", "label", "tag", "type", "category")),
    ("due_date", ("date",), ("due", "due date", "date", "deadline")),
)


def _property_roles(props: Any) -> dict[str, tuple[str, dict[str, str]]]:
    """Property id -> (the Tandem field it fills, option id -> its shown value)."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    used: set[str] = set()
    for prop in props if isinstance(props, list) else []:
        if not isinstance(prop, dict):
            continue
        name = str(prop.get("name") or "").strip().casefold()
        kind = str(prop.get("type") or "")
        options = {
            str(o.get("id")): str(o.get("value") or "")
            for o in prop.get("options") or []
            if isinstance(o, dict)
        }
        for field, kinds, names in _ROLES:
            if field not in used and kind in kinds and name in names:
                out[str(prop.get("id"))] = (field, options)
                used.add(field)
                break
    return out
