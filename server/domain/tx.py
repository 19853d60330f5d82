"""One command's transaction: its clock, its actor, and the events it appends to the log."""

from __future__ import annotations

import json
import json.encoder
import json.scanner
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from server.domain import rows, sprint_ledger
from server.domain.actor import Actor
from server.domain.errors import DomainError, ErrorCode, invalid, not_found
from server.domain.events import CommittedEvent, Delivery, envelope_frame
from server.storage.blobs import Blobs
from server.storage.models import LogHeadRow


@dataclass
class Tx:
    actor: Actor
    # Microseconds since the epoch, the same for every row the command writes.
    now: int
    history_limit: int
    events: list[CommittedEvent] = field(default_factory=list)
    # What the change put in members' inboxes, sent to them after commit (see inbox).
    deliveries: list[Delivery] = field(default_factory=list)
    # Attachment content, for the commands that refer to it (None: no store, as in tools
    # that open the database alone).
    blobs: Blobs | None = None
    # Where the command's events wait to be written with the rest of its group's (None:
    # each is written as it is emitted).
    log: GroupLog | None = None

    def start_log(self, project_id: str) -> None:
        LogHeadRow.insert(project_id=project_id, head_seq=0, floor_seq=0).execute()

    def emit(self, project_id: str, kind: str, event: Any) -> int:
        """Append ``event`` (a message with ``seq``) to the project's log; returns its seq."""
        log = self.log
        if log is None:
            # One statement moves the head and reads it (the seq this event takes).
            head = rows.execute(_NEXT_SEQ, (project_id,)).fetchall()
            if not head:
                raise not_found("project", project_id)
            seq, floor = int(head[0][0]), int(head[0][1])
        else:
            seq, floor = log.next_seq(project_id)
        event.seq = seq
        frame = envelope_frame(kind, event.SerializeToString())
        appended = (project_id, seq, kind, frame, self.now)
        if log is None:
            rows.execute(_APPEND, appended)
        else:
            log.append(appended)
        # Trim in batches (10% slack) so the delete is rare.
        if seq - floor > self.history_limit + max(1, self.history_limit // 10):
            floor = seq - self.history_limit
            if log is not None:
                log.flush()  # what waits is trimmed too when it is old enough
                log.moved_floor(project_id, floor)
            rows.execute(_TRIM, (project_id, floor))
            rows.execute(_MOVE_FLOOR, (floor, project_id))
        sprint_ledger.observe(project_id, kind, event, self.now)
        self.events.append(CommittedEvent(project_id, seq, frame))
        return seq


class GroupLog:
    """A group commit's events, appended to their projects' logs with one statement for
    the group (and each moved head with one per project) instead of two per event.

    Each project's head is read once, when the group first emits to it, and counted on
    here; ``flush`` writes what waits. Only for a transaction that nothing else writes the
    logs in meanwhile (SQLite's one writer), for commands that touch the logs only through
    ``Tx.emit``: before any other command (which may read a log or move a head itself) the
    group flushes and forgets the heads it read (``forget``). The events wait in the group's
    transaction, so they commit or roll back with it; a command refused after emitting
    leaves them in ``pending`` for its caller to see (``Domain._one`` then runs the group
    again, each command in its savepoint, written as emitted).

    Under the same condition the group reads the rows its commands change (``row``): those
    of the ids it was made with all at once, when the first is asked for, then each kept
    for the commands after. Such a command changes its row only through ``merge``, which
    writes the row's values and the table alike; ``forget`` forgets them with the heads.
    """

    __slots__ = ("_heads", "_read", "_wanted", "pending")

    def __init__(self, wanted: Iterable[str] = ()) -> None:
        # project id -> [head seq, floor seq] as this group moved them.
        self._heads: dict[str, list[int]] = {}
        self.pending: list[tuple[Any, ...]] = []
        # The ids of the rows the group's commands are to read, until they are read.
        self._wanted: list[str] = list(wanted)
        # (reader, id) -> what reader.one(id) gave, as the group's commands changed it since.
        self._read: dict[tuple[rows.Reader, str], tuple[Any, tuple[Any, ...]] | None] = {}

    def row(self, reader: rows.Reader, ident: str) -> tuple[Any, tuple[Any, ...]] | None:
        """What ``reader.one(ident)`` gives now, in this group's transaction."""
        key = (reader, ident)
        if key in self._read:
            return self._read[key]
        if self._wanted:
            wanted, self._wanted = self._wanted, []
            found = reader.many(wanted)
            for one in wanted:
                self._read[(reader, one)] = found.get(one)
            if key in self._read:
                return self._read[key]
        found_one = self._read[key] = reader.one(ident)
        return found_one

    def next_seq(self, project_id: str) -> tuple[int, int]:
        """The seq the project's next event takes, and its log's floor."""
        head = self._heads.get(project_id)
        if head is None:
            found = rows.execute(_HEAD, (project_id,)).fetchone()
            if found is None:
                raise not_found("project", project_id)
            head = self._heads[project_id] = [int(found[0]), int(found[1])]
        head[0] += 1
        return head[0], head[1]

    def append(self, values: tuple[Any, ...]) -> None:
        self.pending.append(values)

    def moved_floor(self, project_id: str, floor: int) -> None:
        self._heads[project_id][1] = floor

    def flush(self) -> None:
        """Write the events waiting, and the heads they moved."""
        if not self.pending:
            return
        rows.execute_many(_APPEND, self.pending)
        self.pending.clear()
        rows.execute_many(_MOVE_HEAD, [(h[0], p) for p, h in self._heads.items()])

    def forget(self) -> None:
        """Flush, and read each head (and row) again when next asked for (another command
        may move or change it)."""
        self.flush()
        self._heads.clear()
        # What was not read yet is read when first asked for, after the command between.
        self._read.clear()


# The change log's statements, run for every change (see rows).
_HEAD = "SELECT head_seq, floor_seq FROM log_head WHERE project_id = ?"
_MOVE_HEAD = "UPDATE log_head SET head_seq = ? WHERE project_id = ?"
_NEXT_SEQ = (
    "UPDATE log_head SET head_seq = head_seq + 1 WHERE project_id = ? RETURNING head_seq, floor_seq"
)
_APPEND = "INSERT INTO event (project_id, seq, kind, frame, created_at) VALUES (?, ?, ?, ?, ?)"
_MOVE_FLOOR = "UPDATE log_head SET floor_seq = ? WHERE project_id = ?"
_TRIM = "DELETE FROM event WHERE project_id = ? AND seq <= ?"


# field_versions is read and written by every update: json's C scanner and encoder, made
# once, instead of json.loads and json.dumps(sort_keys=True), which set them up per call (the
# text written is the same; text the scanner does not take whole goes through json.loads,
# which reads it or says why not).
_SCANNER: Any = json.scanner
_VERSIONS_SCAN = _SCANNER.make_scanner(json.JSONDecoder())
_VERSIONS_ENCODER = json.JSONEncoder(sort_keys=True)
# The encoder JSONEncoder.iterencode makes for each call (CPython's; None without _json).
_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_VERSIONS_ENCODE = None
if _C_ENCODER is not None:
    _VERSIONS_ENCODE = _C_ENCODER(
        None,  # no circular check: a dict of names to numbers
        _VERSIONS_ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,
        _VERSIONS_ENCODER.key_separator,
        _VERSIONS_ENCODER.item_separator,
        True,  # sort_keys
        False,
        True,
    )


def decode_versions(text: str) -> dict[str, int]:
    """An entity's field_versions (``{"title": 3, ...}``) as a dict."""
    try:
        versions, end = _VERSIONS_SCAN(text, 0)
    except StopIteration:
        versions, end = None, -1
    if end != len(text) or type(versions) is not dict:
        versions = json.loads(text)
    return versions  # type: ignore[no-any-return]


def encode_versions(versions: dict[str, int]) -> str:
    """``versions`` as field_versions holds them: json.dumps(versions, sort_keys=True)."""
    if _VERSIONS_ENCODE is None:
        return _VERSIONS_ENCODER.encode(versions)
    return "".join(_VERSIONS_ENCODE(versions, 0))


#: How an update reads one field's new column value from the command's message, given the
#: entity's project and its own id (for references that must stay inside the project, or
#: a key that must stay unique); raises a field-named DomainError for a bad value.
FieldReader = Callable[[Any, str, str], Any]


def masked_values(
    mask: Any, readers: Mapping[str, FieldReader], source: Message, project_id: str, entity_id: str
) -> dict[str, Any]:
    """The column values an update asks for: each field of the mask, read by its reader."""
    return {
        path: readers[path](source, project_id, entity_id) for path in mask_paths(mask, readers)
    }


def mask_paths(mask: Any, allowed: Collection[str]) -> list[str]:
    paths = list(dict.fromkeys(mask.paths))
    if not paths:
        raise invalid("update_mask", "update_mask names no field to change")
    unknown = [p for p in paths if p not in allowed]
    if unknown:
        raise invalid(
            "update_mask",
            f"cannot update {', '.join(unknown)}; updatable fields: {', '.join(sorted(allowed))}",
        )
    return paths


def merge(
    tx: Tx,
    row: Any,
    values: Mapping[str, Any],
    base_version: int,
    current: Callable[[], Message],
) -> list[str]:
    """Apply ``values`` (column name -> new value) to ``row`` with a per-field version check.

    Rejected with CONFLICT only when a field being set to a *different* value was changed by
    someone else after ``base_version``; other fields merge. ``base_version`` 0 skips the check.
    Returns the fields that changed (empty: nothing to write, no new version).
    """
    if base_version < 0 or base_version > row.version:
        raise invalid(
            "base_version", f"base_version {base_version} is not a version of this entity"
        )
    # The row's values as loaded (what its field attributes read and write), without a
    # descriptor per access.
    data = row.__data__
    changed = [name for name, value in values.items() if data.get(name) != value]
    versions = decode_versions(data.get("field_versions"))
    if base_version:
        conflicting = [name for name in changed if versions.get(name, 0) > base_version]
        if conflicting:
            raise DomainError(
                ErrorCode.ERROR_CODE_CONFLICT,
                f"{', '.join(conflicting)} changed since version {base_version}",
                current=current(),
                conflicting_fields=conflicting,
            )
    if not changed:
        return []
    before = dict(data)
    version = data["version"] + 1
    for name in changed:
        data[name] = values[name]
        versions[name] = version
    data["version"] = version
    data["field_versions"] = encode_versions(versions)
    data["updated_at"] = tx.now
    try:
        rows.save_columns(row, (*changed, "version", "field_versions", "updated_at"))
    except BaseException:
        # Not written (a rule of the data broken): the row stays as the table has it, for
        # whoever reads it next (see GroupLog.row).
        data.clear()
        data.update(before)
        raise
    return changed
