"""Each member's inbox, and who watches which task.

Items are made from the change log's committed events, in batches (``follow``): the
service's upkeep runs it on the database thread after its commits, when due (in a group
commit's transaction at most once per interval, else alone one interval later: see
``server.domain.upkeep``), and everything that reads what it makes (the inbox's list and
unread count, marking read, watchers, watching, the trash putting a task's items away, the
due-date sweep) catches up first, in its own transaction (``catch_up``), so that no read
sees the inbox behind an acknowledged change. Each project's position in its log
(``inbox_cursor``) moves in the same transaction as the items made up to it, so a crash
loses none (the next start follows on from the position), a refused command (no event)
makes none, and each item carries a ``once_key`` (unique per member) so that none is made
twice, whatever runs again.
Due dates are not events: ``sweep_due`` puts "due today/tomorrow" items in the inboxes as
the days pass (and a change of due date does soon after), with the same once-only key per
task, member and day.

Who gets what, for an event by an actor (never the actor themself):
- a mention (``@name`` in a comment, or newly in a description) -> those named;
- an assignment -> the new assignee;
- a comment on a task -> its watchers;
- a change to a task's status, title, description, priority, assignee, due date, estimate or
  labels -> its watchers.
One event makes at most one item per member (a mention wins over an assignment, which wins
over a comment or a change). Creators, assignees and commenters watch a task; anyone may
watch or stop watching it (``watch``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import peewee as pw
from tandem.v1 import entities_pb2, events_pb2, inbox_pb2, websocket_pb2

from server.domain import convert, members, mentions, projects, rows, storage_errors, tasks
from server.domain.errors import DomainError, ErrorCode, invalid
from server.domain.events import Delivery
from server.domain.tx import Tx
from server.storage import dialect
from server.storage.models import InboxItemRow, MemberRow, ProjectRow, TaskRow, TaskWatchRow

log = logging.getLogger(__name__)

Kind = inbox_pb2.InboxItemKind
Status = entities_pb2.TaskStatus
Priority = entities_pb2.TaskPriority

DEFAULT_PAGE = 50
MAX_PAGE = 200
#: Items one MarkInboxRead may name.
MAX_MARK = 1000

# Which of an event's items a member gets when several apply (the highest).
_RANK: dict[int, int] = {
    Kind.INBOX_ITEM_KIND_CHANGED: 1,
    Kind.INBOX_ITEM_KIND_COMMENT: 2,
    Kind.INBOX_ITEM_KIND_ASSIGNED: 3,
    Kind.INBOX_ITEM_KIND_MENTION: 4,
}

_STATUS_WORDS = {
    Status.TASK_STATUS_BACKLOG: "Backlog",
    Status.TASK_STATUS_TODO: "To do",
    Status.TASK_STATUS_IN_PROGRESS: "In progress",
    Status.TASK_STATUS_IN_REVIEW: "In review",
    Status.TASK_STATUS_DONE: "Done",
}
_PRIORITY_WORDS = {
    Priority.TASK_PRIORITY_NONE: "None",
    Priority.TASK_PRIORITY_LOW: "Low",
    Priority.TASK_PRIORITY_MEDIUM: "Medium",
    Priority.TASK_PRIORITY_HIGH: "High",
    Priority.TASK_PRIORITY_URGENT: "Urgent",
}


def local_day(micros: int) -> date:
    """The calendar day (this computer's time zone) of a time in microseconds."""
    return datetime.fromtimestamp(micros / 1_000_000).date()


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- watching -----------------------------------------------------------------------------


def watcher_ids(task_id: str) -> list[str]:
    return [str(r[0]) for r in rows.execute(_WATCHERS, (task_id,)).fetchall()]


_WATCHERS = "SELECT member_id FROM task_watch WHERE task_id = ? ORDER BY created_at, member_id"


def _start_watching(task_id: str, member_id: str, now: int) -> bool:
    if not member_id or member_id == members.OWNER_ID:
        # The identity of scripts and imports is no one to keep informed.
        return False
    cursor = rows.execute(_WATCH, (task_id, member_id, now))
    return bool(cursor.rowcount)


# Not the identity REST calls act as (see convert.member's rest_caller): no one to mention.
_PEOPLE = (
    "SELECT id, display_name FROM member"
    " WHERE NOT (client_id IS NULL AND role = ?) ORDER BY created_at"
)
_WATCH = (
    "INSERT INTO task_watch (task_id, member_id, created_at) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


def _watchers(task: TaskRow) -> inbox_pb2.TaskWatchers:
    return inbox_pb2.TaskWatchers(
        project_id=task.project_id, task_id=task.id, member_ids=watcher_ids(task.id)
    )


def watch(tx: Tx, cmd: inbox_pb2.WatchTask) -> websocket_pb2.Ack:
    task = tasks.row(cmd.task_id)
    # Creators, assignees and commenters start watching as the inbox follows the log, which
    # may not have reached a change committed before: catch up first, so that this choice
    # is the last word, not undone by a watch made after it.
    catch_up(tx.deliveries, [task.project_id])
    me = tx.actor.member_id
    if cmd.watching:
        changed = bool(rows.execute(_WATCH, (task.id, me, tx.now)).rowcount)
    else:
        changed = bool(
            TaskWatchRow.delete()
            .where((TaskWatchRow.task_id == task.id) & (TaskWatchRow.member_id == me))
            .execute()
        )
    result = _watchers(task)
    if not changed:
        return websocket_pb2.Ack(watchers=result)
    seq = tx.emit(
        task.project_id,
        "task_watchers_changed",
        inbox_pb2.TaskWatchersChanged(project_id=task.project_id, watchers=result, actor_id=me),
    )
    return websocket_pb2.Ack(seq=seq, watchers=result)


def list_watchers_command(tx: Tx, cmd: inbox_pb2.ListWatchers) -> websocket_pb2.Ack:
    task = tasks.row(cmd.task_id)
    catch_up(tx.deliveries, [task.project_id])
    return websocket_pb2.Ack(watchers=_watchers(task))


# ---- making items -------------------------------------------------------------------------


@dataclass
class _Draft:
    member_id: str
    kind: int
    task: entities_pb2.Task
    source: str
    once_key: str
    actor_id: str = ""
    excerpt: str = ""
    changed_fields: tuple[str, ...] = ()
    seq: int = 0
    due_date: str = ""
    # When the change was made (the event's time), set by the maker that is offered it.
    created_at: int = 0


@dataclass
class _Maker:
    """The items of a batch of events, then written once each and told to their members.

    ``now`` and ``actor_id`` are those of the event being read (``follow`` sets them).
    """

    now: int
    actor_id: str = ""
    # Per member and source, every item that applies (the best one made is kept).
    drafts: dict[tuple[str, str], list[_Draft]] = field(default_factory=dict)
    _people: list[tuple[str, str]] | None = None
    _names: dict[str, str] = field(default_factory=dict)
    # Each task's watchers as read once per batch, and kept as the batch adds some.
    _watchers: dict[str, list[str]] = field(default_factory=dict)
    # The tasks looked up for the batch (see look_up), and which of those are on the board.
    _looked_up: set[str] = field(default_factory=set)
    _on_board: set[str] = field(default_factory=set)

    @property
    def today(self) -> date:
        return local_day(self.now)

    def people(self) -> list[tuple[str, str]]:
        """Who may be mentioned: (id, display name) of every member but the REST identity."""
        if self._people is None:
            found = rows.execute(_PEOPLE, (members.Role.MEMBER_ROLE_OWNER,)).fetchall()
            self._people = [(str(i), str(n)) for i, n in found]
        return self._people

    def name(self, member_id: str) -> str:
        known = self._names.get(member_id)
        if known is None:
            row = rows.by_id(MemberRow, member_id)
            known = self._names[member_id] = (row.display_name if row is not None else "") or ""
        return known or "Someone"

    def look_up(self, task_ids: Iterable[str]) -> None:
        """Read whether each of the batch's tasks is on the board, and its watchers, with
        one statement each for the whole batch instead of two per event."""
        wanted = [t for t in dict.fromkeys(task_ids) if t and t not in self._looked_up]
        if not wanted:
            return
        self._looked_up.update(wanted)
        self._on_board.update(str(r[0]) for r in rows.select_in(_TASKS_IN, wanted))
        fresh = [t for t in wanted if t not in self._watchers]
        for t in fresh:
            self._watchers[t] = []
        for task_id, member_id in rows.select_in(_WATCHERS_IN, fresh):
            self._watchers[str(task_id)].append(str(member_id))

    def gone(self, task_id: str) -> bool:
        """The task left the board (the trash took it, with its items) since its event."""
        if task_id in self._looked_up:
            return task_id not in self._on_board
        return rows.execute(_TASK_EXISTS, (task_id,)).fetchone() is None

    def watchers(self, task_id: str) -> list[str]:
        known = self._watchers.get(task_id)
        if known is None:
            known = self._watchers[task_id] = watcher_ids(task_id)
        return known

    def start_watching(self, task_id: str, member_id: str) -> None:
        if _start_watching(task_id, member_id, self.now) and task_id in self._watchers:
            self._watchers[task_id].append(member_id)

    def offer(self, draft: _Draft) -> None:
        if not draft.member_id or (draft.actor_id and draft.member_id == self.actor_id):
            return
        draft.created_at = self.now
        self.drafts.setdefault((draft.member_id, draft.source), []).append(draft)

    def mentions(self, text: str, task: entities_pb2.Task, seq: int, once: str) -> None:
        for member_id in mentions.mentioned(text, self.people()):
            self.offer(
                _Draft(
                    member_id,
                    Kind.INBOX_ITEM_KIND_MENTION,
                    task,
                    source=_event_source(task.project_id, seq),
                    once_key=f"mention:{once}",
                    actor_id=self.actor_id,
                    excerpt=_short(text),
                    seq=seq,
                )
            )

    def due(self, task: entities_pb2.Task) -> None:
        """Due today or tomorrow, and not done: its assignee and watchers are told (once a
        day each; about time, not about a change, so whoever set the date is told too)."""
        if not task.due_date or task.status == Status.TASK_STATUS_DONE:
            return
        today = self.today
        if task.due_date == today.isoformat():
            kind, word = Kind.INBOX_ITEM_KIND_DUE_TODAY, "today"
        elif task.due_date == (today + timedelta(days=1)).isoformat():
            kind, word = Kind.INBOX_ITEM_KIND_DUE_TOMORROW, "tomorrow"
        else:
            return
        people = dict.fromkeys([task.assignee_id, *self.watchers(task.id)])
        source = f"due-{word}:{task.id}:{task.due_date}"
        for member_id in people:
            self.offer(
                _Draft(
                    member_id,
                    kind,
                    task,
                    source=source,
                    once_key=source,
                    excerpt=f"Due {word} ({task.due_date})",
                    due_date=task.due_date,
                )
            )

    def write(self) -> list[Delivery]:
        """Insert each item not made before; the deliveries for the members who got some.

        Of each member's items from one source the best is kept; one made before (a mention
        already told) gives way to the next. Which those are is decided knowing what was
        made before (one lookup for the batch), then all are inserted with one statement,
        in the order inserting them one by one would give them ids.
        """
        offers = [
            sorted(offered, key=_rank, reverse=True) if len(offered) > 1 else offered
            for offered in self.drafts.values()
        ]
        self.drafts.clear()
        wanted = list(dict.fromkeys((d.member_id, d.once_key) for o in offers for d in o))
        taken = {(str(m), str(k)) for m, k in rows.many_at_once(_MADE, wanted)} if wanted else set()
        chosen: list[tuple[_Draft, list[_Draft]]] = []
        for offered in offers:
            for at, d in enumerate(offered):
                if (d.member_id, d.once_key) not in taken:
                    taken.add((d.member_id, d.once_key))
                    chosen.append((d, offered[at + 1 :]))
                    break
        values = [_values(d) for d, _rest in chosen]
        ids = {(str(m), str(k)): int(i) for i, m, k in rows.many_at_once(_INSERT_MANY, values)}
        made: dict[str, list[_Made]] = {}
        for (d, rest), stored in zip(chosen, values, strict=True):
            item_id = ids.get((d.member_id, d.once_key))
            if item_id is not None:
                made.setdefault(d.member_id, []).append((item_id, stored, d.changed_fields))
                continue
            # Made meanwhile by another writer of the database: the next best, one by one.
            for other in rest:
                if self._insert(other, made):
                    break
        return [_delivery(member_id, items) for member_id, items in made.items()]

    def _insert(self, d: _Draft, made: dict[str, list[_Made]]) -> bool:
        """Write one item unless made before; True when it was written."""
        values = _values(d)
        new_id = rows.execute(_INSERT, values).fetchall()
        if not new_id:
            return False
        made.setdefault(d.member_id, []).append((new_id[0][0], values, d.changed_fields))
        return True


# An item just written: its id, its values in _INSERTED's order and its changed fields.
_Made = tuple[int, tuple[Any, ...], tuple[str, ...]]


def _rank(d: _Draft) -> int:
    return _RANK.get(d.kind, 0)


def _values(d: _Draft) -> tuple[Any, ...]:
    """A draft's values as they are stored, in _INSERTED's order."""
    task = d.task
    return (
        *(d.member_id, d.kind, task.project_id, task.id, task.key, task.title),
        *(d.actor_id, d.excerpt, _fields_json(d.changed_fields), d.seq, d.due_date),
        *(d.source, d.once_key, d.created_at),
    )


# Each list of changed fields as stored (JSON), made once: they are subsets of NOTED_FIELDS
# in its order, so there are few.
_FIELDS_JSON: dict[tuple[str, ...], str] = {}


def _fields_json(fields: tuple[str, ...]) -> str:
    found = _FIELDS_JSON.get(fields)
    if found is None:
        found = _FIELDS_JSON[fields] = json.dumps(list(fields))
    return found


_INSERTED = (
    "member_id",
    "kind",
    "project_id",
    "task_id",
    "task_key",
    "task_title",
    "actor_id",
    "excerpt",
    "changed_fields",
    "seq",
    "due_date",
    "source",
    "once_key",
    "created_at",
)
_INSERT = (
    f"INSERT INTO inbox_item ({', '.join(_INSERTED)})"
    f" VALUES ({', '.join('?' * len(_INSERTED))}) ON CONFLICT DO NOTHING RETURNING id"
)
# The same for many items ({} is their values' list, see rows.many_at_once).
_INSERT_MANY = (
    f"INSERT INTO inbox_item ({', '.join(_INSERTED)})"
    " VALUES {} ON CONFLICT DO NOTHING RETURNING id, member_id, once_key"
)
# Which of many (member_id, once_key) were made before (a join, so each is one index lookup).
_MADE = (
    "SELECT i.member_id, i.once_key FROM (VALUES {}) AS v"
    " JOIN inbox_item AS i ON i.member_id = v.column1 AND i.once_key = v.column2"
)


def _event_source(project_id: str, seq: int) -> str:
    return f"event:{project_id}:{seq}"


def unread_count(member_id: str) -> int:
    return int(rows.execute(dialect.current().unread_count, (member_id,)).fetchone()[0])


def _delivery(member_id: str, made: list[_Made]) -> Delivery:
    """The update telling ``member_id`` of the items just written: its unread count is read
    now, in their transaction; its items are encoded only if someone asks for its frame
    (a connection of that member's, or the bus)."""
    unread = unread_count(member_id)

    def make() -> bytes:
        items = [_proto(item_id, values, None, changed) for item_id, values, changed in made]
        return _frame(unread, items=items)

    return Delivery(member_id, make=make)


def update_for(member_id: str, **update: Any) -> Delivery:
    """An ``inbox_update`` for ``member_id`` with these fields and the unread count as it is
    now, encoded now (items read, changed, removed or put back)."""
    return Delivery(member_id, _frame(unread_count(member_id), **update))


def _frame(unread: int, **update: Any) -> bytes:
    message = inbox_pb2.InboxUpdate(unread_count=unread, **update)
    return websocket_pb2.WebSocketMessage(inbox_update=message).SerializeToString()


def to_proto(row: InboxItemRow) -> inbox_pb2.InboxItem:
    return _proto(row.id, [getattr(row, name) for name in _INSERTED], row.read_at)


def _proto(
    item_id: int,
    values: Sequence[Any],
    read_at: int | None,
    changed: Sequence[str] | None = None,
) -> inbox_pb2.InboxItem:
    """An item from its id, its stored values in _INSERTED's order, and when it was read
    (``changed``: its changed fields, when known without reading them from their JSON)."""
    _member, kind, project_id, task_id, task_key, task_title, actor_id, excerpt = values[:8]
    changed_json, seq, due_date, source, _once_key, created_at = values[8:]
    return inbox_pb2.InboxItem(
        id=item_id,
        kind=Kind.ValueType(kind),
        project_id=project_id,
        task_id=task_id,
        task_key=task_key,
        task_title=task_title,
        actor_id=actor_id,
        excerpt=excerpt,
        changed_fields=json.loads(changed_json) if changed is None else changed,
        seq=seq,
        due_date=due_date,
        source=source,
        create_time=convert.ts(created_at),
        read_time=convert.ts(read_at),
    )


# ---- from the change log ------------------------------------------------------------------

#: The task fields whose change its watchers hear of (not its place on the board or sprint).
NOTED_FIELDS = (
    "status",
    "title",
    "description",
    "priority",
    "assignee_id",
    "due_date",
    "story_points",
    "labels",
)


# What a watcher is told of each changed field, from the maker and the task as changed.
_CHANGE_WORDS: dict[str, Callable[[_Maker, entities_pb2.Task], str]] = {
    "status": lambda _m, task: f"Status: {_STATUS_WORDS.get(task.status, '?')}",
    "title": lambda _m, task: f"Title: {task.title}",
    "description": lambda _m, _task: "Description edited",
    "priority": lambda _m, task: f"Priority: {_PRIORITY_WORDS.get(task.priority, '?')}",
    "assignee_id": lambda maker, task: (
        f"Assigned to {maker.name(task.assignee_id)}" if task.assignee_id else "Unassigned"
    ),
    "due_date": lambda _m, task: f"Due {task.due_date}" if task.due_date else "No due date",
    "story_points": lambda _m, task: (
        f"Estimate: {task.story_points}" if task.HasField("story_points") else "No estimate"
    ),
    "labels": lambda _m, task: f"Labels: {', '.join(task.labels)}" if task.labels else "No labels",
}


def _change_words(maker: _Maker, task: entities_pb2.Task, fields: Iterable[str]) -> str:
    return _short(" · ".join(_CHANGE_WORDS[f](maker, task) for f in fields))


def _assigned(maker: _Maker, task: entities_pb2.Task, seq: int) -> None:
    if not task.assignee_id:
        return
    maker.start_watching(task.id, task.assignee_id)
    maker.offer(
        _Draft(
            task.assignee_id,
            Kind.INBOX_ITEM_KIND_ASSIGNED,
            task,
            source=_event_source(task.project_id, seq),
            once_key=_event_source(task.project_id, seq),
            actor_id=maker.actor_id,
            seq=seq,
        )
    )


_TASK_EXISTS = "SELECT 1 FROM task WHERE id = ?"
_TASKS_IN = "SELECT id FROM task WHERE id IN ({})"
_WATCHERS_IN = (
    "SELECT task_id, member_id FROM task_watch WHERE task_id IN ({}) ORDER BY created_at, member_id"
)


def _on_task_created(maker: _Maker, ev: events_pb2.TaskCreated) -> None:
    task = ev.task
    if maker.gone(task.id):
        return
    maker.start_watching(task.id, ev.actor_id)
    _assigned(maker, task, ev.seq)
    maker.mentions(task.description, task, ev.seq, f"task:{task.id}")
    maker.due(task)


def _on_task_updated(maker: _Maker, ev: events_pb2.TaskUpdated) -> None:
    task = ev.task
    if maker.gone(task.id):
        return
    mask = set(ev.update_mask.paths)
    if "assignee_id" in mask:
        _assigned(maker, task, ev.seq)
    if "description" in mask:
        maker.mentions(task.description, task, ev.seq, f"task:{task.id}")
    noted = [f for f in NOTED_FIELDS if f in mask]
    if noted:
        source = _event_source(task.project_id, ev.seq)
        excerpt = _change_words(maker, task, noted)
        for member_id in maker.watchers(task.id):
            maker.offer(
                _Draft(
                    member_id,
                    Kind.INBOX_ITEM_KIND_CHANGED,
                    task,
                    source=source,
                    once_key=source,
                    actor_id=maker.actor_id,
                    excerpt=excerpt,
                    changed_fields=tuple(noted),
                    seq=ev.seq,
                )
            )
    maker.due(task)


def _comment_task(comment: entities_pb2.Comment) -> entities_pb2.Task:
    row = rows.by_id(TaskRow, comment.task_id)
    if row is None:
        return tasks.get(comment.task_id)  # NOT_FOUND
    project = rows.by_id(ProjectRow, row.project_id)
    return convert.task(row, project.key if project is not None else "")


def _on_comment_added(maker: _Maker, ev: events_pb2.CommentAdded) -> None:
    comment = ev.comment
    task = _comment_task(comment)
    maker.mentions(comment.body, task, ev.seq, f"comment:{comment.id}")
    source = _event_source(task.project_id, ev.seq)
    for member_id in maker.watchers(task.id):
        maker.offer(
            _Draft(
                member_id,
                Kind.INBOX_ITEM_KIND_COMMENT,
                task,
                source=source,
                once_key=source,
                actor_id=maker.actor_id,
                excerpt=_short(comment.body),
                seq=ev.seq,
            )
        )
    maker.start_watching(task.id, comment.author_id)


def _on_comment_updated(maker: _Maker, ev: events_pb2.CommentUpdated) -> None:
    # Only a mention added by the edit is news: the once key is per comment and member.
    maker.mentions(ev.comment.body, _comment_task(ev.comment), ev.seq, f"comment:{ev.comment.id}")


_FROM_EVENT: dict[str, Callable[[_Maker, Any], None]] = {
    "task_created": _on_task_created,
    "task_updated": _on_task_updated,
    "comment_added": _on_comment_added,
    "comment_updated": _on_comment_updated,
}


_KINDS = tuple(_FROM_EVENT)


def _task_of(kind: str, event: Any) -> str:
    """The task an event of _FROM_EVENT is about (a comment's, or the task's own)."""
    return str(event.comment.task_id if kind.startswith("comment") else event.task.id)


# Where each project's log stands beside how far the inbox has followed it.
_PENDING = (
    "SELECT h.project_id, h.head_seq, coalesce(c.seq, 0) FROM log_head AS h"
    " LEFT JOIN inbox_cursor AS c ON c.project_id = h.project_id"
)
_PENDING_ALL = f"{_PENDING} WHERE h.head_seq > coalesce(c.seq, 0)"
_PENDING_ONE = f"{_PENDING} WHERE h.project_id = ?"
_EVENTS = (
    "SELECT seq, kind, frame, created_at FROM event WHERE project_id = ? AND seq > ?"
    f" AND seq <= ? AND kind IN ({', '.join('?' * len(_KINDS))}) ORDER BY seq"
)
_MOVE_CURSOR = (
    "INSERT INTO inbox_cursor (project_id, seq) VALUES (?, ?)"
    " ON CONFLICT (project_id) DO UPDATE SET seq = excluded.seq"
)


def follow(project_ids: Iterable[str] | None = None) -> list[Delivery]:
    """Make the items of the events committed since the inbox last read the logs of
    ``project_ids`` (None: of every project), and move its position in each to the head, in
    the caller's transaction; returns what to tell the members who got items."""
    if project_ids is None:
        pending = rows.execute(_PENDING_ALL).fetchall()
    else:
        pending = []
        for project_id in project_ids:
            found = rows.execute(_PENDING_ONE, (project_id,)).fetchone()
            if found is not None and found[1] > found[2]:
                pending.append(found)
    if not pending:
        return []
    maker = _Maker(now=0)
    logs: list[tuple[str, int, list[tuple[int, str, Any, int]]]] = []
    for project_id, head, position in pending:
        found = rows.execute(_EVENTS, (project_id, position, head, *_KINDS)).fetchall()
        events = [
            (seq, kind, getattr(websocket_pb2.WebSocketMessage.FromString(bytes(frame)), kind), at)
            for seq, kind, frame, at in found
        ]
        logs.append((project_id, head, events))
    maker.look_up(_task_of(k, event) for _p, _h, events in logs for _s, k, event, _a in events)
    for project_id, head, events in logs:
        for seq, kind, event, created_at in events:
            maker.now, maker.actor_id = int(created_at), event.actor_id
            try:
                _FROM_EVENT[kind](maker, event)
            except DomainError as err:  # its task went since (deleted): no one to tell
                log.info("no inbox items for %s %s:%d (%s)", kind, project_id, seq, err)
        rows.execute(_MOVE_CURSOR, (project_id, head))
    return maker.write()


def catch_up(deliveries: list[Delivery], project_ids: Iterable[str] | None = None) -> bool:
    """``follow`` in a savepoint of the caller's transaction, its deliveries added to
    ``deliveries`` (told after the commit): what every read of items, unread counts or
    watchers runs first, since the upkeep follows the logs only when due.

    False when it failed for a reason of its own (logged; nothing of it was written, the
    read goes on with the inbox as it is, and the next upkeep tries again); a failure of the
    storage itself raises, failing the transaction as one.
    """
    if project_ids is not None and not project_ids:
        return True
    try:
        with rows.Savepoint():
            deliveries.extend(follow(project_ids))
    except pw.DatabaseError as err:
        if storage_errors.unavailable_cause(err) is not None:
            raise
        log.exception("could not make inbox items; trying again with the next upkeep")
        return False
    except Exception:  # a bug: the changes are saved all the same, the items wait
        log.exception("could not make inbox items; trying again with the next upkeep")
        return False
    return True


#: Read items older than this are let go (once a day), so an inbox stays a size to page.
KEEP_READ_DAYS = 90


def sweep_due(now: int) -> list[Delivery]:
    """Items for every open task due today or tomorrow (as of ``now``), made once each; read
    items older than KEEP_READ_DAYS go."""
    made: list[Delivery] = []
    catch_up(made)  # the watchers and items the logs still hold
    rows.execute(_FORGET_READ, (now - KEEP_READ_DAYS * 86_400 * 1_000_000,))
    maker = _Maker(now=now)
    today = maker.today
    days = (today.isoformat(), (today + timedelta(days=1)).isoformat())
    query = TaskRow.select().where(
        TaskRow.due_date.in_(days) & (TaskRow.status != Status.TASK_STATUS_DONE)
    )
    keys: dict[str, str] = {}
    for row in query:
        key = keys.get(row.project_id)
        if key is None:
            key = keys[row.project_id] = projects.row(row.project_id).key
        maker.due(convert.task(row, key))
    return made + maker.write()


_FORGET_READ = "DELETE FROM inbox_item WHERE read_at IS NOT NULL AND read_at < ?"


# ---- reading and marking ------------------------------------------------------------------


def _page_size(page_size: int) -> int:
    size = page_size or DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise invalid("page_size", f"page_size must be between 1 and {MAX_PAGE}")
    return size


def _before_id(page_token: str) -> int | None:
    if not page_token:
        return None
    if not page_token.isdigit() or len(page_token) > 18:
        raise invalid("page_token", "page_token is not one this server gave")
    return int(page_token)


def list_command(tx: Tx, cmd: inbox_pb2.ListInbox) -> websocket_pb2.Ack:
    """One page of the actor's inbox, newest first, with the unread count."""
    member_id = tx.actor.member_id
    size, before = _page_size(cmd.page_size), _before_id(cmd.page_token)  # refused first
    catch_up(tx.deliveries)
    query = InboxItemRow.select().where(InboxItemRow.member_id == member_id)
    if before is not None:
        query = query.where(InboxItemRow.id < before)
    if cmd.unread_only:
        query = query.where(InboxItemRow.read_at.is_null())
    page = list(query.order_by(InboxItemRow.id.desc()).limit(size + 1))
    more = len(page) > size
    page = page[:size]
    found = inbox_pb2.InboxPage(
        items=[to_proto(r) for r in page],
        next_page_token=str(page[-1].id) if more else "",
        unread_count=unread_count(member_id),
    )
    return websocket_pb2.Ack(inbox=found)


def mark_read(tx: Tx, cmd: inbox_pb2.MarkInboxRead) -> websocket_pb2.Ack:
    me = tx.actor.member_id
    mine = InboxItemRow.member_id == me
    ids: list[int] = []
    if cmd.all:
        if cmd.item_ids:
            raise invalid("item_ids", "name items or set all, not both")
        if cmd.up_to_id < 0:
            raise invalid("up_to_id", "up_to_id must not be negative")
    else:
        ids = list(dict.fromkeys(cmd.item_ids))
        if not ids:
            raise invalid("item_ids", "name the items to mark (itemIds), or set all")
        if len(ids) > MAX_MARK:
            raise invalid("item_ids", f"at most {MAX_MARK} items at a time")
    # The items the logs still hold are there to mark (and to count) like the others.
    catch_up(tx.deliveries)
    if cmd.all:
        picked = mine if not cmd.up_to_id else mine & (InboxItemRow.id <= cmd.up_to_id)
    else:
        found = {
            r.id
            for r in InboxItemRow.select(InboxItemRow.id).where(mine & InboxItemRow.id.in_(ids))
        }
        missing = [i for i in ids if i not in found]
        if missing:
            raise DomainError(
                ErrorCode.ERROR_CODE_NOT_FOUND,
                f"no inbox item {missing[0]} in your inbox",
                field="item_ids",
            )
        picked = mine & InboxItemRow.id.in_(ids)
    if cmd.unread:
        picked = picked & InboxItemRow.read_at.is_null(False)
        value: int | None = None
    else:
        picked = picked & InboxItemRow.read_at.is_null()
        value = tx.now
    changed_ids = [r.id for r in InboxItemRow.select(InboxItemRow.id).where(picked)]
    if changed_ids:
        for start in range(0, len(changed_ids), 500):
            chunk = changed_ids[start : start + 500]
            InboxItemRow.update(read_at=value).where(InboxItemRow.id.in_(chunk)).execute()
    # The whole list goes to the member's other tabs only when it is short; a long "mark
    # all" tells them the count, and they read the inbox again.
    changed = [to_proto(r) for r in _rows(changed_ids[:MAX_PAGE])]
    delivery = update_for(me, items=changed)
    if changed_ids:
        tx.deliveries.append(delivery)
    state = inbox_pb2.InboxState(
        unread_count=delivery.message().inbox_update.unread_count, changed=changed
    )
    return websocket_pb2.Ack(inbox_state=state)


def _rows(ids: list[int]) -> list[InboxItemRow]:
    if not ids:
        return []
    return list(InboxItemRow.select().where(InboxItemRow.id.in_(ids)).order_by(InboxItemRow.id))
