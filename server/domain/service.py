"""The domain service: the one door every change and read goes through.

REST handlers and WebSocket commands both call ``Domain.command`` with a
``tandem.v1.WebSocketMessage`` holding a command. Each command runs on the database thread
in one transaction that writes the change and its events; the events are published to the
sink after commit, in commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any, TypeVar

import peewee as pw
from google.protobuf.message import DecodeError
from tandem.v1 import api_pb2, entities_pb2, errors_pb2, websocket_pb2

from server.config import ServerConfig
from server.domain import comments, members, projects, sprints, tasks
from server.domain.actor import Actor
from server.domain.errors import DomainError, ErrorCode
from server.domain.hub import CommittedEvent, EventSink
from server.domain.tasks import TaskFilter
from server.domain.tx import Tx
from server.storage.database import Store
from server.storage.models import AppliedRequestRow, EventRow, LogHeadRow, ProjectRow

log = logging.getLogger(__name__)
T = TypeVar("T")
Pending = tuple[
    Actor,
    websocket_pb2.WebSocketMessage,
    asyncio.AbstractEventLoop,
    "asyncio.Future[websocket_pb2.Ack]",
]

__all__ = ["Domain", "TaskFilter", "open_domain"]


@dataclass(frozen=True)
class Command:
    run: Callable[[Tx, Any], websocket_pb2.Ack]
    # Read-only commands need no edit right and are not remembered for idempotency.
    mutates: bool = True


# The one registry of commands, by the envelope's payload name.
COMMANDS: dict[str, Command] = {
    "create_project": Command(projects.create),
    "update_project": Command(projects.update),
    "delete_project": Command(projects.delete),
    "create_task": Command(tasks.create),
    "update_task": Command(tasks.update),
    "move_task": Command(tasks.move),
    "delete_task": Command(tasks.delete),
    "add_comment": Command(comments.add),
    "edit_comment": Command(comments.edit),
    "delete_comment": Command(comments.delete),
    "list_comments": Command(comments.list_command, mutates=False),
    "create_sprint": Command(sprints.create),
    "update_sprint": Command(sprints.update),
    "start_sprint": Command(sprints.start),
    "complete_sprint": Command(sprints.complete),
}

# Refusals a retry may turn into success (the disk freed, a bug fixed): never replayed.
_RETRYABLE = frozenset({ErrorCode.ERROR_CODE_UNAVAILABLE, ErrorCode.ERROR_CODE_INTERNAL})
_SHUTTING_DOWN = DomainError(ErrorCode.ERROR_CODE_UNAVAILABLE, "the server is shutting down")
# How long a command id is remembered: longer than any client keeps an unsent outbox.
IDEMPOTENCY_WINDOW_MICROS = 7 * 24 * 3600 * 1_000_000
PRUNE_EVERY = 1000

# SQLite's own words for "cannot write now": surfaced as UNAVAILABLE, never as a crash.
_STORAGE_UNAVAILABLE = ("disk is full", "readonly", "read-only", "disk i/o error", "locked")


def _now_micros() -> int:
    return time.time_ns() // 1000


class Domain:
    def __init__(
        self,
        store: Store,
        *,
        history_limit: int = 10_000,
        clock: Callable[[], int] = _now_micros,
    ) -> None:
        self.store = store
        self.sink = EventSink()
        self.history_limit = history_limit
        self._clock = clock
        self._pending: list[Pending] = []
        self._pending_lock = Lock()
        self._drain_scheduled = False
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self.sink.add_listener(self._wake_waiters)
        self._commands_since_prune = 0
        with store.db.atomic():
            members.ensure_owner(clock())
            self._prune_applied_requests()

    # ---- changes -------------------------------------------------------------------------

    async def command(
        self, actor: Actor, envelope: websocket_pb2.WebSocketMessage
    ) -> websocket_pb2.Ack:
        """Run one command; raises DomainError when refused (and then nothing was written).

        Commands that arrive while the database thread is busy are committed together in one
        transaction (group commit), each in its own savepoint: one fsync for the group, and a
        refused command still changes nothing.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[websocket_pb2.Ack] = loop.create_future()
        with self._pending_lock:
            self._pending.append((actor, envelope, loop, answer))
            start = not self._drain_scheduled
            self._drain_scheduled = True
        if start:
            try:
                self.store.submit(self._drain)
            except RuntimeError:  # the database thread is gone (shutting down)
                with self._pending_lock:
                    self._drain_scheduled = False
                    stranded, self._pending = self._pending, []
                for _, _, pending_loop, pending in stranded:
                    pending_loop.call_soon_threadsafe(_settle, pending, _SHUTTING_DOWN)
        return await answer

    def _drain(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
            self._drain_scheduled = False
        outcomes: list[websocket_pb2.Ack | DomainError]
        try:
            outcomes = self._commit([(actor, envelope) for actor, envelope, _, _ in batch])
        except Exception:  # never leave a caller waiting forever
            log.exception("a group of %d commands failed", len(batch))
            failure = DomainError(ErrorCode.ERROR_CODE_INTERNAL, "internal error; not saved")
            outcomes = [failure for _ in batch]
        for (_, _, loop, answer), outcome in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                loop.call_soon_threadsafe(_settle, answer, outcome)

    def execute(self, actor: Actor, envelope: websocket_pb2.WebSocketMessage) -> websocket_pb2.Ack:
        """Run one command synchronously, in its own transaction, on the calling thread."""
        outcome = self._commit([(actor, envelope)])[0]
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    def _commit(
        self, batch: list[tuple[Actor, websocket_pb2.WebSocketMessage]]
    ) -> list[websocket_pb2.Ack | DomainError]:
        outcomes: list[websocket_pb2.Ack | DomainError] = []
        events: list[CommittedEvent] = []
        try:
            with self.store.db.atomic():
                for actor, envelope in batch:
                    key = _request_key(actor, envelope)
                    try:
                        with self.store.db.atomic():  # a savepoint
                            ack, tx = self._run(actor, envelope, key)
                    except DomainError as err:
                        # Recorded after its savepoint rolled back, so the record stays.
                        if key is not None and err.code not in _RETRYABLE:
                            self._remember_refusal(key, envelope, err, self._clock())
                        outcomes.append(err)
                        continue
                    except pw.DatabaseError:
                        # The storage itself failed (disk full, I/O error). SQLite may have
                        # rolled back the whole transaction, so the group fails as one:
                        # nothing of it was saved, and every command in it may be retried.
                        raise
                    except Exception:  # a bug: refuse this command, keep serving the rest
                        log.exception("command %s failed", envelope.WhichOneof("payload"))
                        outcomes.append(
                            DomainError(ErrorCode.ERROR_CODE_INTERNAL, "internal error; not saved")
                        )
                        continue
                    outcomes.append(ack)
                    events.extend(tx.events)
                self._commands_since_prune += len(batch)
                if self._commands_since_prune >= PRUNE_EVERY:
                    self._prune_applied_requests()
        except pw.DatabaseError as err:  # the commit itself failed: nothing was saved
            failure = self._storage_error(err)
            return [failure for _ in batch]
        self.sink.publish(events)
        return outcomes

    def _prune_applied_requests(self) -> None:
        self._commands_since_prune = 0
        horizon = self._clock() - IDEMPOTENCY_WINDOW_MICROS
        AppliedRequestRow.delete().where(AppliedRequestRow.created_at < horizon).execute()

    def _run(
        self, actor: Actor, envelope: websocket_pb2.WebSocketMessage, key: str | None
    ) -> tuple[websocket_pb2.Ack, Tx]:
        kind = envelope.WhichOneof("payload") or ""
        tx = Tx(actor=actor, now=self._clock(), history_limit=self.history_limit)
        command = COMMANDS.get(kind)
        if command is None:
            raise DomainError(
                ErrorCode.ERROR_CODE_UNSUPPORTED, f"{kind or 'an empty message'} is not a command"
            )
        if command.mutates and not actor.can_edit:
            raise DomainError(
                ErrorCode.ERROR_CODE_PERMISSION_DENIED, "viewers cannot change the board"
            )
        fingerprint = _fingerprint(envelope) if key is not None else None
        if key is not None:
            seen = AppliedRequestRow.get_or_none(AppliedRequestRow.key == key)
            if seen is not None:
                if seen.fingerprint is not None and bytes(seen.fingerprint) != fingerprint:
                    raise DomainError(
                        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
                        "this message id was already used for a different command; "
                        "nothing was changed (use a new id for each command)",
                        field="message_id",
                    )
                return self._replay(seen), tx
        try:
            with self.store.db.atomic():
                ack = command.run(tx, getattr(envelope, kind))
                if key is not None:
                    AppliedRequestRow.insert(
                        key=key,
                        answer=ack.SerializeToString(),
                        is_error=False,
                        created_at=tx.now,
                        fingerprint=fingerprint,
                    ).execute()
        except pw.IntegrityError as err:
            log.warning("integrity error on %s: %s", kind, err)
            raise DomainError(
                ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
                f"the change breaks a rule of the data: {err}",
            ) from err
        return ack, tx

    def _remember_refusal(
        self, key: str, envelope: websocket_pb2.WebSocketMessage, err: DomainError, now: int
    ) -> None:
        # A replayed command must get the same answer, refusals included. Best effort: if the
        # disk is full this write fails too, and the replay is simply evaluated again.
        try:
            with self.store.db.atomic():
                AppliedRequestRow.insert(
                    key=key,
                    answer=err.to_proto().SerializeToString(),
                    is_error=True,
                    created_at=now,
                    fingerprint=_fingerprint(envelope),
                ).on_conflict_ignore().execute()
        except pw.DatabaseError:
            log.warning("could not record the refusal of %s", key)

    @staticmethod
    def _replay(seen: AppliedRequestRow) -> websocket_pb2.Ack:
        try:
            if seen.is_error:
                error = errors_pb2.Error.FromString(bytes(seen.answer))
                raise DomainError(
                    error.code,
                    error.message,
                    field=error.field,
                    conflicting_fields=list(error.conflicting_fields),
                    current=_current_of(error),
                )
            return websocket_pb2.Ack.FromString(bytes(seen.answer))
        except DecodeError as err:  # pragma: no cover - only a corrupted row gets here
            raise DomainError(ErrorCode.ERROR_CODE_INTERNAL, "stored answer unreadable") from err

    @staticmethod
    def _storage_error(err: BaseException) -> DomainError:
        # A failed rollback ("no such savepoint") can hide the cause: read the whole chain.
        cause: BaseException | None = err
        for _ in range(10):
            if cause is None:
                break
            text = str(cause)
            if any(word in text.lower() for word in _STORAGE_UNAVAILABLE):
                log.error("storage unavailable: %s", text)
                return DomainError(
                    ErrorCode.ERROR_CODE_UNAVAILABLE,
                    f"the database cannot take changes right now ({text}); nothing was saved",
                    retry_after_ms=1000,
                )
            cause = cause.__cause__ or cause.__context__
        log.error("storage error", exc_info=err)
        return DomainError(ErrorCode.ERROR_CODE_INTERNAL, "storage error; nothing was saved")

    # ---- reads ---------------------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a synchronous read on the database thread."""
        return await self.store.call(fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a synchronous change outside the command log (invites, sessions, settings) on
        the database thread, in one transaction: it commits whole or not at all."""

        def run() -> T:
            with self.store.db.atomic():
                return fn(*args)

        return await self.store.call(run)

    def owner_actor(self) -> Actor:
        return Actor(member_id=members.OWNER_ID)

    async def local_member(self, client_id: str, display_name: str) -> entities_pb2.Member:
        return await self.write(members.local, client_id, display_name, self._clock())

    def list_projects(self) -> list[entities_pb2.Project]:
        return projects.list_all()

    def get_project(self, project_id: str) -> entities_pb2.Project:
        return projects.get(project_id)

    def list_tasks(self, project_id: str, flt: TaskFilter) -> api_pb2.ListTasksResponse:
        with self.store.db.atomic():
            return tasks.list_tasks(project_id, flt)

    def get_task(self, task_id: str) -> entities_pb2.Task:
        return tasks.get(task_id)

    def list_comments(self, task_id: str) -> list[entities_pb2.Comment]:
        return comments.list_for(task_id)

    def list_sprints(self, project_id: str) -> list[entities_pb2.Sprint]:
        return sprints.list_for(project_id)

    def get_sprint(self, sprint_id: str) -> entities_pb2.Sprint:
        return sprints.get(sprint_id)

    def list_members(self) -> list[entities_pb2.Member]:
        return members.list_all()

    def _epoch(self, project: ProjectRow) -> str:
        """Which history a project's seqs belong to: a restored database has a new epoch, and
        so has a project deleted and made again under the same id (its creation time)."""
        return f"{self.store.epoch()}.{int(project.created_at):x}"

    def head(self, project_id: str) -> tuple[str, int]:
        project = projects.row(project_id)
        head = LogHeadRow.get_by_id(project_id)
        return self._epoch(project), int(head.head_seq)

    def snapshot(self, project_id: str) -> websocket_pb2.Snapshot:
        """The board as of one seq: everything read in one transaction."""
        with self.store.db.atomic():
            project = projects.row(project_id)
            head = LogHeadRow.get_by_id(project_id)
            return websocket_pb2.Snapshot(
                project_id=project_id,
                seq=head.head_seq,
                epoch=self._epoch(project),
                project=projects.get(project_id),
                tasks=tasks.all_in_project(project_id, project.key),
                sprints=sprints.list_for(project_id),
                members=members.in_project(project_id),
            )

    def events_since(
        self, project_id: str, since_seq: int, limit: int = 1000
    ) -> api_pb2.ListEventsResponse:
        with self.store.db.atomic():
            project = projects.row(project_id)
            head = LogHeadRow.get_by_id(project_id)
            out = api_pb2.ListEventsResponse(
                project_id=project_id, epoch=self._epoch(project), head_seq=head.head_seq
            )
            if since_seq < head.floor_seq or since_seq > head.head_seq:
                out.resync_required = True
                return out
            rows = (
                EventRow.select(EventRow.frame)
                .where((EventRow.project_id == project_id) & (EventRow.seq > since_seq))
                .order_by(EventRow.seq)
                .limit(limit)
            )
            for row in rows:
                out.events.add().ParseFromString(bytes(row.frame))
            return out

    async def wait_for_events(self, project_id: str, since_seq: int, timeout: float) -> None:
        """Return once the project's log is past ``since_seq``, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        entry = (loop, woken)
        self._waiters.setdefault(project_id, []).append(entry)
        try:
            _, head = await self.read(self.head, project_id)
            if head > since_seq:
                return
            try:
                await asyncio.wait_for(woken.wait(), timeout)
            except TimeoutError:
                return
        finally:
            waiting = self._waiters.get(project_id, [])
            if entry in waiting:
                waiting.remove(entry)
            if not waiting:
                self._waiters.pop(project_id, None)

    def _wake_waiters(self, events: Any) -> None:
        for project_id in {e.project_id for e in events}:
            for loop, woken in list(self._waiters.get(project_id, [])):
                loop.call_soon_threadsafe(woken.set)

    # ---- upkeep --------------------------------------------------------------------------

    def backup(self, dest: Path) -> Path:
        return self.store.backup(dest)

    async def backup_async(self, dest: Path) -> Path:
        return await self.store.call(self.store.backup, dest)

    def close(self) -> None:
        self.store.close()


def _fingerprint(envelope: websocket_pb2.WebSocketMessage) -> bytes:
    """What the command asks, without its id: equal for a retry, different for another command."""
    copy = websocket_pb2.WebSocketMessage()
    copy.CopyFrom(envelope)
    copy.message_id = ""
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()


def _request_key(actor: Actor, envelope: websocket_pb2.WebSocketMessage) -> str | None:
    """The idempotency key of a command that changes something, if it carries an id."""
    command = COMMANDS.get(envelope.WhichOneof("payload") or "")
    if command is None or not command.mutates:
        return None
    return actor.request_key(envelope.message_id)


def _settle(
    answer: asyncio.Future[websocket_pb2.Ack], outcome: websocket_pb2.Ack | DomainError
) -> None:
    if answer.done():  # the caller went away (connection closed); the change stands
        return
    if isinstance(outcome, DomainError):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)


def _current_of(error: errors_pb2.Error) -> Any:
    which = error.WhichOneof("current")
    return getattr(error, which) if which else None


def open_domain(config: ServerConfig) -> Domain:
    """Open (creating or migrating) the database in ``config.data_dir``."""
    return Domain(Store(config.database_path), history_limit=config.history_limit)
