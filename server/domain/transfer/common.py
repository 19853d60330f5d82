"""What the importers share: the refusal that names where a file is wrong, and the readers
of the loose values (status and priority names, dates, numbers) other tools write."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp
from tandem.v1 import entities_pb2

from server.domain.errors import DomainError, ErrorCode

Status = entities_pb2.TaskStatus
Priority = entities_pb2.TaskPriority

#: Largest file an import reads (the REST route raises its body limit to this).
MAX_IMPORT_BYTES = 64 << 20
MAX_TITLE = 500
MAX_LABEL = 50
MAX_LABELS = 20


class BadFile(DomainError):
    """The file cannot be imported; ``where`` says where (a line, a column, a key)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(
            ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
            f"{where}: {message}" if where else message,
            field="data",
        )
        self.where = where


# Words a column or state name is matched on (lower case, whole words or phrases).
_STATUS_WORDS: tuple[tuple[entities_pb2.TaskStatus.ValueType, tuple[str, ...]], ...] = (
    (Status.TASK_STATUS_DONE, ("done", "complete", "completed", "closed", "resolved",
                               "finished", "shipped", "released", "canceled", "cancelled",
                               "duplicate", "won't do", "wont do")),
    (Status.TASK_STATUS_IN_REVIEW, ("review", "in review", "code review", "qa", "testing",
                                    "verify", "verification")),
    (Status.TASK_STATUS_IN_PROGRESS, ("in progress", "doing", "started", "wip", "working",
                                      "in development", "development", "active")),
    (Status.TASK_STATUS_BACKLOG, ("backlog", "icebox", "someday", "ideas", "later",
                                  "triage", "not started")),
    (Status.TASK_STATUS_TODO, ("todo", "to do", "to-do", "open", "next", "up next",
                               "selected for development", "ready", "planned", "new")),
)  # fmt: skip

_PRIORITY_WORDS: tuple[tuple[entities_pb2.TaskPriority.ValueType, tuple[str, ...]], ...] = (
    (Priority.TASK_PRIORITY_URGENT, ("urgent", "highest", "critical", "blocker", "p0")),
    (Priority.TASK_PRIORITY_HIGH, ("high", "major", "p1")),
    (Priority.TASK_PRIORITY_MEDIUM, ("medium", "normal", "p2")),
    (Priority.TASK_PRIORITY_LOW, ("low", "lowest", "minor", "trivial", "p3", "p4")),
    (Priority.TASK_PRIORITY_NONE, ("no priority", "none", "")),
)


def _words(name: str) -> str:
    # "1. High 🔥" -> "high"; "In-Progress" -> "in progress".
    text = re.sub(r"[^a-z0-9' ]+", " ", name.casefold().replace("-", " "))
    return " ".join(w for w in text.split() if not w.isdigit())


def _named(
    table: tuple[tuple[int, tuple[str, ...]], ...], name: str, *, phrases_only: bool
) -> int | None:
    """The value whose words ``name`` is; else the first whose words it contains."""
    words = _words(name)
    for value, names in table:
        if words in names:
            return value
    for value, names in table:
        for n in names:
            wanted = n and (not phrases_only or " " in n or len(n) > 3)
            if wanted and re.search(rf"\b{re.escape(n)}\b", words):
                return value
    return None


def status_named(name: str) -> entities_pb2.TaskStatus.ValueType | None:
    """The status a column or state name means, or None when it names none of them."""
    found = _named(_STATUS_WORDS, name, phrases_only=True)
    return None if found is None else entities_pb2.TaskStatus.ValueType(found)


def priority_named(name: str) -> entities_pb2.TaskPriority.ValueType | None:
    found = _named(_PRIORITY_WORDS, name, phrases_only=False)
    return None if found is None else entities_pb2.TaskPriority.ValueType(found)


_DATE_FORMATS = (
    "%d/%b/%y %I:%M %p",  # Jira: 12/Jan/24 10:15 AM
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%y",
    "%d/%b/%Y",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%a %b %d %Y %H:%M:%S",  # Linear: Tue Jan 09 2024 10:15:00 GMT+0000 (...)
)


def parse_time(value: str | int | float | None) -> dt.datetime | None:
    """A moment from the ways tools write one (ISO 8601, Jira's, epoch milliseconds)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    text = value.strip()
    if text.isdigit():
        return parse_time(int(text))
    try:
        found = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        found = None
        head = text.split(" GMT")[0].split(" (")[0]
        for fmt in _DATE_FORMATS:
            try:
                found = dt.datetime.strptime(head, fmt)
                break
            except ValueError:
                continue
    if found is None:
        return None
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


def iso_date(value: str | int | float | None, where: str) -> str:
    """An ISO calendar date, "" for none; a value that is no date is refused with ``where``."""
    if value is None or value == "":
        return ""
    found = parse_time(value)
    if found is None:
        raise BadFile(where, f"{value!r} is not a date")
    return found.date().isoformat()


def stamp(value: str | int | float | None) -> Timestamp | None:
    found = parse_time(value)
    if found is None:
        return None
    out = Timestamp()
    out.FromDatetime(found)
    return out


def points(value: str | float | int | None, where: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadFile(where, f"{value!r} is not a number of story points") from None
    if not 0 <= number <= 1000:
        raise BadFile(where, f"{value!r} story points is outside 0-1000")
    return round(number)


def title(value: str, where: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise BadFile(where, "the title is empty")
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


def labels(values: Iterable[str]) -> list[str]:
    """Labels as Tandem keeps them: trimmed, at most 50 characters, 20, no repeats."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in values:
        label = " ".join(raw.split())[:MAX_LABEL]
        if label and label.casefold() not in seen:
            seen.add(label.casefold())
            out.append(label)
    return out[:MAX_LABELS]


def split_list(value: str) -> list[str]:
    """A cell holding several values: "a, b", "a;b" or "a|b"."""
    return [part.strip() for part in re.split(r"[,;|]", value) if part.strip()]


def project_key_from(name: str) -> str:
    """A project key made from a name: "Website relaunch" -> "WR", "Ops" -> "OPS"."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9]*", name)
    if len(words) >= 2:
        key = "".join(w[0] for w in words)[:10]
    elif words:
        key = words[0][:6]
    else:
        key = "IMP"
    key = key.upper()
    return key if len(key) >= 2 else (key + "X")[:2]
