"""Reading a CSV file as a table, and the column mapping every CSV importer shares.

A cell's position is its line and its column's header, which is how a refusal names it.
Columns may repeat (Jira writes one ``Labels`` column per label): a field's values are
every column of that header, in order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from server.domain.transfer.common import BadFile

#: The Tandem fields a CSV column can fill, and the headers they are recognised by.
FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("id", "issue id", "key", "issue key", "task id", "card id"),
    "title": ("title", "summary", "name", "task", "card name", "subject"),
    "description": ("description", "details", "notes", "body", "card description"),
    "status": ("status", "state", "column", "list", "list name", "stage"),
    "priority": ("priority",),
    "assignee": ("assignee", "owner", "assigned to", "members", "responsible"),
    "points": ("points", "story points", "estimate", "story point estimate", "size"),
    "labels": ("labels", "label", "tags", "tag"),
    "due_date": ("due date", "due", "due_date", "deadline"),
    "sprint": ("sprint", "cycle", "iteration", "milestone"),
    "parent": ("parent", "parent id", "parent key", "parent issue"),
}

#: Fields a file may write under any of their headers, one per row: Jira has story points
#: under one of two names, depending on the project's template, in one file.
ALTERNATIVES = frozenset({"points"})


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, list[str]]]

    def positions(self, header: str) -> list[int]:
        folded = header.strip().casefold()
        return [i for i, h in enumerate(self.headers) if h.strip().casefold() == folded]

    def find(self, *names: str, every: bool = False) -> list[int]:
        """The columns headed by the first of ``names`` the file has; with ``every``, the
        columns of all of them, in the file's order."""
        if every:
            return sorted({i for name in names for i in self.positions(name)})
        for name in names:
            found = self.positions(name)
            if found:
                return found
        return []


def read(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadFile(f"byte {exc.start}", "the CSV file is not UTF-8 text") from None
    if "\x00" in text:
        raise BadFile(
            f"line {text[: text.index(chr(0))].count(chr(10)) + 1}",
            "the file holds binary data, not CSV text",
        )
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect, strict=True)
    try:
        headers = next(reader, None)
        if not headers or not any(h.strip() for h in headers):
            raise BadFile("line 1", "the CSV file has no header row")
        rows: list[tuple[int, list[str]]] = []
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, row + [""] * (len(headers) - len(row))))
    except csv.Error as exc:
        raise BadFile(f"line {reader.line_num}", f"not valid CSV ({exc})") from None
    return Table([h.strip() for h in headers], rows)


@dataclass
class Mapping_:
    """Which columns fill which field: field -> positions (several for repeated headers)."""

    table: Table
    fields: dict[str, list[int]]

    def values(self, row: list[str], field: str) -> list[str]:
        return [
            row[i].strip() for i in self.fields.get(field, []) if i < len(row) and row[i].strip()
        ]

    def value(self, row: list[str], field: str) -> str:
        found = self.values(row, field)
        return found[0] if found else ""

    def where(self, line: int, field: str) -> str:
        positions = self.fields.get(field) or []
        column = self.table.headers[positions[0]] if positions else field
        return f"line {line}, column {column!r}"

    def columns(self) -> list[tuple[str, str]]:
        by_position = {i: f for f, found in self.fields.items() for i in found}
        return [(h, by_position.get(i, "")) for i, h in enumerate(self.table.headers)]

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        return iter(self.table.rows)


def mapping(
    table: Table, given: Mapping[str, str], aliases: Mapping[str, tuple[str, ...]]
) -> Mapping_:
    """Fields to columns: as ``given`` says, else by the headers each field is known by."""
    fields: dict[str, list[int]] = {}
    for name, column in given.items():
        if name not in aliases:
            raise BadFile(f"column_map {name}", f"is not a field; the fields: {', '.join(aliases)}")
        found = table.positions(column)
        if not found:
            raise BadFile(
                f"column_map {name}",
                f"the file has no column {column!r}; its columns: {', '.join(table.headers)}",
            )
        fields[name] = found
    taken = {i for found in fields.values() for i in found}
    for name, headers in aliases.items():
        if name in fields or name in given:
            continue
        found = [i for i in table.find(*headers, every=name in ALTERNATIVES) if i not in taken]
        if found:
            fields[name] = found
            taken.update(found)
    mapped = Mapping_(table, fields)
    if "title" not in fields:
        raise NoTitleColumn(mapped)
    return mapped


class NoTitleColumn(BadFile):
    """No column is known to hold the titles: the person has to say which does."""

    def __init__(self, found: Mapping_) -> None:
        super().__init__(
            "line 1",
            "no column for the task title; name one with the column map (title=COLUMN);"
            f" the columns are: {', '.join(found.table.headers)}",
        )
        self.columns = found.columns()
