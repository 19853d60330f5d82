"""The domain service: the one door every change and read goes through.

REST handlers and WebSocket commands both call ``Domain.command`` with a command message
of the command table (``CreateTask``, ...) and the client's id for it, if any. Each
command runs in one transaction that writes the change and its events (on the database
thread, or for a group of edits on SQLite on the loop that queued it: see group_commit);
the events are published to the sink after commit, in commit order. How commands are
batched is ``group_commit``'s, how ids are remembered ``idempotency``'s, which storage
failures may be retried ``storage_errors``', and what runs after the commits (the inbox's
items, search's reindex) ``upkeep``'s; reads are in ``reads`` and ``changelog``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import peewee as pw
from google.protobuf.message import Message
from tandem.v1 import entities_pb2, websocket_pb2

from server import command_table, paths
from server.config import ServerConfig
from server.domain import (
    attachments,
    hellos,
    idempotency,
    inbox,
    members,
    registry,
    rows,
    storage_errors,
    trash,
    validate,
)
from server.domain.actor import Actor
from server.domain.changelog import ChangeLog
from server.domain.errors import DomainError, ErrorCode
from server.domain.events import CommittedEvent, Delivery, EventSink
from server.domain.group_commit import CommandRequest, GroupCommit, Outcome, Staged
from server.domain.reads import BoardReads
from server.domain.tasks import TaskFilter
from server.domain.tx import GroupLog, Tx
from server.domain.upkeep import Ran, Upkeep
from server.storage.blobs import Blobs, BlobStore, referenced_by
from server.storage.database import Store
from server.storage.models import AttachmentRow

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["CommandRequest", "Domain", "TaskFilter", "open_domain"]

# How many commands between two prunings of remembered ids.
PRUNE_EVERY = 1000


# A request id is the client's id (at most validate.MAX_ID_LENGTH) with its scope (a REST
# method and path); longer is no id a client of ours made.
MAX_REQUEST_ID = 1024


def _check_request(command: Message, request_id: str) -> None:
    """Every command's strings capped before it is queued, whichever edge it came from."""
    if len(request_id) > MAX_REQUEST_ID:
        raise DomainError(
            ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
            f"the command's id is longer than {MAX_REQUEST_ID} characters",
            field="message_id",
        )
    validate.client_strings(command)


# Local browsers whose member is kept in memory at most (then forgotten, and read again).
LOCAL_MEMBERS_REMEMBERED = 100_000
#: Of those, read at start (the browsers made last): a start stays a few milliseconds
#: longer, however many browsers have ever said hello here.
LOCAL_MEMBERS_READ_AT_START = 10_000


def _copy(member: entities_pb2.Member) -> entities_pb2.Member:
    out = entities_pb2.Member()
    out.CopyFrom(member)
    return out


def _now_micros() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A command of a batch as ``Domain._prepare`` made it ready: its handler (or why it
    has none) and, when it is remembered, its idempotency key and fingerprint."""

    request: CommandRequest
    command: registry.Command | DomainError
    key: bytes | None = None
    fingerprint: bytes = b""


#: Commands that touch the change log only through ``Tx.emit`` (no read of a log, no head
#: moved otherwise): their events may wait to be written with their group's (GroupLog).
_EMITS_ONLY = frozenset({"update_task", "move_task"})


#: Commands whose work is bounded by the one task, comment or sprint they name: a group of
#: only these may run on the event loop that queued it (see group_commit). The others (an
#: import, a bulk edit, a project's deletion, a sprint's completion, the reads) may take
#: seconds, and run on the database thread.
_STAGED_KINDS = frozenset(
    {
        "update_task",
        "move_task",
        "create_task",
        "archive_task",
        "delete_task",
        "restore_task",
        "watch_task",
        "add_comment",
        "edit_comment",
        "delete_comment",
        "restore_comment",
        "create_sprint",
        "update_sprint",
        "update_profile",
    }
)


def _stages(request: CommandRequest) -> bool:
    return command_table.kind_of(request.command) in _STAGED_KINDS


def _tasks_changed(batch: list[_Prepared]) -> list[str]:
    """The tasks a batch's _EMITS_ONLY commands change (read together: GroupLog.row)."""
    return [
        p.request.command.task_id  # type: ignore[attr-defined]
        for p in batch
        if not isinstance(p.command, DomainError) and p.command.kind in _EMITS_ONLY
    ]


@dataclass(slots=True)
class _Staged:
    """A batch run in a transaction not yet committed (``Domain._stage``): its answers, and
    what to publish once ``_finish`` has committed it."""

    outcomes: list[Outcome] = field(default_factory=list)
    events: list[CommittedEvent] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    ran: Ran | None = None
    # The open transaction; None once it failed (then rolled back, and ``failure`` says why).
    transaction: Any = None
    failure: DomainError | None = None

    def failed(self, failure: DomainError, commands: int) -> _Staged:
        """Nothing of the batch was saved: ``failure`` answers every command."""
        self.transaction, self.failure = None, failure
        self.outcomes = [failure for _ in range(commands)]
        return self


class _Redo(Exception):
    """A command was refused after it wrote, in a group run without savepoints: the group's
    transaction rolls back and the group runs again, each command in its own savepoint."""


class _Unwritten:
    """In place of a command's savepoint on a connection that counts the rows it changes
    (sqlite3's ``total_changes``, triggers' rows included): a command refused before its
    first write left nothing to undo; one refused after raises ``_Redo``. A storage failure
    passes as it is (the group fails as one)."""

    __slots__ = ("_before", "_conn")

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._before = 0

    def __enter__(self) -> None:
        self._before = self._conn.total_changes

    def __exit__(self, kind: type[BaseException] | None, exc: object, tb: object) -> None:
        if (
            kind is not None
            and not issubclass(kind, pw.DatabaseError)
            and self._conn.total_changes != self._before
        ):
            raise _Redo from None


_Guard = rows.Savepoint | _Unwritten
_savepoint = rows.Savepoint()


class Domain(BoardReads, ChangeLog):
    def __init__(
        self,
        store: Store,
        *,
        history_limit: int = 10_000,
        clock: Callable[[], int] = _now_micros,
        blobs: Blobs | None = None,
    ) -> None:
        self.store = store
        # Attachment content: beside the database (its folder's attachments/, or in it).
        self.blobs: Blobs = blobs or store.blob_store()
        self.sink: EventSink[CommittedEvent] = EventSink()
        # Changes to members' inboxes, for their own connections (after commit, in order).
        self.inbox_sink: EventSink[Delivery] = EventSink()
        self.history_limit = history_limit
        self._clock = clock
        staged = None
        if store.stages_on_loop:
            staged = Staged(store.turn, self._stage, self._finish, store.hand_off, _stages)
        self._group = GroupCommit(store.submit, self._commit, staged)
        # The inbox's items and search's reindex, after the commits, when due.
        self.upkeep = Upkeep(store, self.inbox_sink.publish)
        self._listen_for_commits(self.sink)
        self._commands_since_prune = 0
        self._pruner = idempotency.Pruner()
        self.ledger = idempotency.Ledger()
        # Local browsers' members by client id, as last read or written (see local_member).
        self._local_members: dict[str, entities_pb2.Member] = {}
        self._hellos = hellos.local_members(store.db, store.submit, clock)
        with store.db.atomic():
            members.ensure_owner(clock())
            self._prune_applied_requests(whole=True)
            referenced = {a.sha256 for a in AttachmentRow.select(AttachmentRow.sha256)}
            referenced |= trash.kept_hashes()  # restorable for a while: their files stay
            # Known before anyone says hello: after a restart every open tab says it again
            # at once, and each is then answered from memory (see local_member).
            self._local_members.update(members.local_browsers(LOCAL_MEMBERS_READ_AT_START))
        self.upkeep.drain()  # what a crash left between a commit and its inbox items
        try:
            self.blobs.tidy(referenced, paths.attachments_dir(paths.backups_dir(store.path.parent)))
        except OSError as exc:  # a read-only data folder: the files simply stay
            log.warning("could not tidy the attachments folder: %s", exc)

    def observe_commits(self, observe: Callable[[float, int], None]) -> None:
        """Call ``observe(seconds, commands)`` after each group commit, in the connection's turn."""
        self._group.observe = observe

    # ---- changes -------------------------------------------------------------------------

    async def command(
        self, actor: Actor, command: Message, request_id: str = ""
    ) -> websocket_pb2.Ack:
        """Run one command; raises DomainError when refused (and then nothing was written).

        ``request_id`` is the client's id for the command (its idempotency key, scoped to
        the actor's client): a command sent again with it gets the first answer again.
        Commands that arrive while the database is busy are committed together in
        one transaction: one fsync for the group, and a refused command still changes
        nothing (see ``_commit``).
        """
        return await self.submit(actor, command, request_id)

    def submit(
        self, actor: Actor, command: Message, request_id: str = ""
    ) -> asyncio.Future[websocket_pb2.Ack]:
        """``command`` without waiting: its answer settles the future (a DomainError when
        refused); a request that is invalid as sent raises DomainError at once."""
        _check_request(command, request_id)
        return self._group.queue(CommandRequest(actor, command, request_id))

    def execute(self, actor: Actor, command: Message, request_id: str = "") -> websocket_pb2.Ack:
        """Run one command synchronously, in its own transaction, on the calling thread."""
        _check_request(command, request_id)
        outcome = self._commit([CommandRequest(actor, command, request_id)], follow=True)[0]
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    def _commit(self, batch: list[CommandRequest], *, follow: bool = False) -> list[Outcome]:
        """Commit a batch in one transaction; a refused command changes nothing.

        Where the connection counts the rows it changes (SQLite), the commands run without
        a savepoint each: most are refused, if at all, before their first write, and then
        there is nothing to undo. One refused after writing makes the whole group run again
        with a savepoint per command, as it always runs on PostgreSQL.

        After the commands, when upkeep is due (or with ``follow``), the transaction makes
        the inbox items of the events committed since the last upkeep and this batch's own,
        and reindexes search's changed texts (see upkeep).
        """
        return self._finish(self._stage(batch, follow=follow))

    def _stage(self, batch: list[CommandRequest], *, follow: bool = False) -> _Staged:
        """Run a batch in a transaction left open (``_finish`` commits it): the first step
        of ``_commit``, which a loop may take itself on SQLite (see group_commit)."""
        prepared = [self._prepare(request) for request in batch]
        if self.store.dialect.counts_changes:
            try:
                return self._stage_group(prepared, follow=follow, careful=False)
            except _Redo:
                log.debug("a command was refused after writing; its group runs again")
        return self._stage_group(prepared, follow=follow, careful=True)

    def _stage_group(self, batch: list[_Prepared], *, follow: bool, careful: bool) -> _Staged:
        staged = _Staged()
        transaction = self.store.db.atomic()
        try:
            transaction.__enter__()
        except pw.DatabaseError as err:  # not even begun (the file is locked, the disk gone)
            return staged.failed(storage_errors.classify(err), len(batch))
        try:
            answers = idempotency.Group([p.key for p in batch if p.key is not None])
            guard = _savepoint if careful else _Unwritten(self.store.db.connection())  # type: ignore[no-untyped-call]
            # Without savepoints, the group's events are written together (see GroupLog).
            log = None if careful else GroupLog(_tasks_changed(batch))
            for prepared in batch:
                outcome = self._one(prepared, answers, guard, log)
                if isinstance(outcome, DomainError):
                    staged.outcomes.append(outcome)
                    continue
                ack, tx = outcome
                staged.outcomes.append(ack)
                staged.events.extend(tx.events)
                staged.deliveries.extend(tx.deliveries)
            if log is not None:
                log.flush()
            answers.store(self.ledger)
            staged.touched = {e.project_id for e in staged.events}
            if follow or self.upkeep.due(len(staged.events)):
                staged.ran = self.upkeep.run(staged.touched, staged.deliveries)
            self._commands_since_prune += len(batch)
            if self._commands_since_prune >= PRUNE_EVERY:
                self._prune_applied_requests()
        except BaseException as err:
            transaction.__exit__(type(err), err, err.__traceback__)  # rolls back
            if not isinstance(err, pw.DatabaseError):
                raise
            # Nothing was saved: the failure answers every command (see _finish).
            return staged.failed(storage_errors.classify(err), len(batch))
        staged.transaction = transaction
        return staged

    def _finish(self, staged: _Staged) -> list[Outcome]:
        """Commit what ``_stage`` ran (the fsync), then publish its events and deliveries."""
        if staged.transaction is not None:
            try:
                staged.transaction.__exit__(None, None, None)
            except pw.DatabaseError as err:  # the commit itself failed: nothing was saved
                staged.failed(storage_errors.classify(err), len(staged.outcomes))
        if staged.failure is not None:
            # Nor were the records the ledger counted for it: count again from the table.
            self.ledger.forget_counts()
            self.upkeep.failed()
            return staged.outcomes
        self.upkeep.committed(staged.touched, len(staged.events), staged.ran)
        self.sink.publish(staged.events)
        self.inbox_sink.publish(staged.deliveries)
        return staged.outcomes

    def _prepare(self, request: CommandRequest) -> _Prepared:
        """What a command's run needs that no transaction does: its handler, its key."""
        try:
            command = registry.find(request.command)
        except DomainError as err:
            return _Prepared(request, err)
        # Only changes are remembered: a read asked again is simply read again.
        scoped = request.actor.request_key(request.request_id) if command.mutates else None
        if scoped is None:
            return _Prepared(request, command)
        fingerprint = idempotency.fingerprint(command.kind, request.command)
        return _Prepared(request, command, idempotency.key_of(scoped), fingerprint)

    def _one(
        self,
        prepared: _Prepared,
        answers: idempotency.Group,
        guard: _Guard,
        group_log: GroupLog | None,
    ) -> tuple[websocket_pb2.Ack, Tx] | DomainError:
        """One command of a batch: its answer, or its refusal (having changed nothing)."""
        command, request, key = prepared.command, prepared.request, prepared.key
        if isinstance(command, DomainError):
            return command
        deferred = None
        if group_log is not None:
            if command.kind in _EMITS_ONLY:
                deferred = group_log
            else:  # it may read a log, or move a head: the log as the group left it
                group_log.forget()
        waiting = len(deferred.pending) if deferred is not None else 0
        try:
            with guard:
                try:
                    fingerprint = prepared.fingerprint
                    return self._run(command, request, answers, key, fingerprint, deferred)
                except Exception as err:
                    if (
                        deferred is not None
                        and len(deferred.pending) != waiting
                        and not isinstance(err, pw.DatabaseError)
                    ):
                        # Refused after emitting: undone with the group, run again.
                        raise _Redo from None
                    raise
        except DomainError as err:
            # Recorded once its guard undid it (or it wrote nothing), so the record stays.
            member_id, fingerprint = request.actor.member_id, prepared.fingerprint
            if key is not None and self.ledger.remember_refusal(
                self.store.db, member_id, key, fingerprint, err, self._clock()
            ):
                answers.refused(key, fingerprint, err)
            return err
        except (pw.DatabaseError, _Redo):
            # The storage itself failed (disk full, I/O error). SQLite may have rolled back
            # the whole transaction, so the group fails as one: nothing of it was saved, and
            # every command in it may be retried. (_Redo: the group runs again, see _commit.)
            raise
        except Exception:  # a bug: refuse this command, keep serving the rest
            log.exception("command %s failed", command.kind)
            return DomainError(ErrorCode.ERROR_CODE_INTERNAL, "internal error; not saved")

    def _prune_applied_requests(self, *, whole: bool = False) -> None:
        """Forget expired ids (a slice of them, unless ``whole``: see idempotency.Pruner) and
        purge the trash of what expired."""
        self._commands_since_prune = 0
        now = self._clock()
        if idempotency.prune(now) if whole else self._pruner.run(now):
            # Counted again from the table when next charged; while nothing was forgotten,
            # the counts kept are still exact (a member's count is read once, not per prune).
            self.ledger.forget_counts()
        trash.purge_expired(now)
        # Give the pages freed by forgotten ids and trimmed history back to the disk.
        if self.store.dialect.reclaim_space:
            self.store.db.execute_sql(self.store.dialect.reclaim_space)  # type: ignore[no-untyped-call]

    def _run(
        self,
        command: registry.Command,
        request: CommandRequest,
        answers: idempotency.Group,
        key: bytes | None,
        fingerprint: bytes,
        group_log: GroupLog | None,
    ) -> tuple[websocket_pb2.Ack, Tx]:
        actor = request.actor
        tx = Tx(
            actor=actor,
            now=self._clock(),
            history_limit=self.history_limit,
            blobs=self.blobs,
            log=group_log,
        )
        if command.mutates and not command.personal and not actor.can_edit:
            raise DomainError(
                ErrorCode.ERROR_CODE_PERMISSION_DENIED, "viewers cannot change the board"
            )
        if key is not None:
            replayed = answers.replay(key, fingerprint)
            if replayed is not None:
                return replayed, tx
        # In the command's guard (see _one): a refusal here leaves nothing behind.
        try:
            ack = command.run(tx, request.command)
            if key is not None:
                answers.remember_answer(actor.member_id, key, fingerprint, ack, tx.now)
        except pw.IntegrityError as err:
            log.warning("integrity error on %s: %s", command.kind, err)
            raise DomainError(
                ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
                f"the change breaks a rule of the data: {err}",
            ) from err
        return ack, tx

    # ---- reads and upkeep ----------------------------------------------------------------

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

    async def run_upkeep(self) -> None:
        """Run the after-commit upkeep that waits (the inbox's items, told to their members,
        and search's reindex) now, on the database thread: before a shutdown closes the
        connections it would tell (see upkeep)."""
        await self.store.call(self.upkeep.drain)

    def sweep_due(self) -> int:
        """Put "due today/tomorrow" items in the inboxes of the people concerned, as of the
        domain's clock (each once per task, member and day); returns how many were made."""

        def run() -> list[Delivery]:
            with self.store.db.atomic():
                return inbox.sweep_due(self._clock())

        deliveries = run()
        self.inbox_sink.publish(deliveries)
        return sum(len(d.message().inbox_update.items) for d in deliveries)

    async def sweep_due_async(self) -> int:
        return await self.store.call(self.sweep_due)

    def today(self) -> date:
        """The calendar day of the domain's clock, in this computer's time zone."""
        return inbox.local_day(self._clock())

    def owner_actor(self) -> Actor:
        return Actor(member_id=members.OWNER_ID)

    async def local_member(self, client_id: str, display_name: str) -> entities_pb2.Member:
        """The member for a browser on this machine (made or renamed by its hello).

        A browser that says hello again with the name it has is answered from memory: a
        reconnect storm then costs the database thread nothing per hello. Every change to
        such a member goes through here, so what is remembered is what is stored.
        """
        known = self._local_members.get(client_id)
        if known is not None and display_name.strip() in ("", known.display_name):
            return _copy(known)
        member = await hellos.local_member(self._hellos, client_id, display_name)
        if len(self._local_members) >= LOCAL_MEMBERS_REMEMBERED:
            self._local_members.clear()
        self._local_members[client_id] = _copy(member)
        return member

    async def recolor_local(
        self, client_id: str, member_id: str, color: str
    ) -> entities_pb2.Member:
        """A browser on this machine chose its colour (UpdateProfile)."""
        member: entities_pb2.Member = await self.write(members.set_color, member_id, color)
        if client_id in self._local_members:
            self._local_members[client_id] = _copy(member)
        return member

    def attachment_files(
        self, project_id: str
    ) -> list[tuple[entities_pb2.Attachment, Path | bytes]]:
        """A project's attachments, each with the file holding its content, for exports
        (run it as a read: ``await domain.read(domain.attachment_files, project_id)``). An
        import puts each file's bytes in with ``blobs.put(data, limit)`` and records it with
        the ``add_attachment`` command (its ``sha256`` is what ``put`` returns)."""
        return attachments.files_of_project(project_id, self.blobs)

    def backup(self, dest: Path) -> Path:
        """An online backup of the database to ``dest``, with the attachments it refers to
        in ``attachments/`` beside it (shared by every backup in that folder: content never
        changes under its name, so each file is copied once)."""
        self.store.backup(dest)
        self._backup_attachments(dest)
        return dest

    async def backup_async(self, dest: Path) -> Path:
        await self.store.call(self.store.backup, dest)
        # Copying files is no work for the database thread.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._backup_attachments, dest)
        return dest

    def _backup_attachments(self, dest: Path) -> None:
        # Only a SQLite file is backed up here (Store.backup refuses PostgreSQL's first).
        assert isinstance(self.blobs, BlobStore)
        self.blobs.copy_to(BlobStore(backup_attachments_dir(dest)), referenced_by(dest))

    def close(self) -> None:
        """Run the upkeep that waits, then close the database."""
        self.upkeep.close()
        self.store.close()


def backup_attachments_dir(backup: Path) -> Path:
    """Where the attachments of a database backup are: ``attachments/`` beside it."""
    return paths.attachments_dir(backup.parent)


def open_domain(config: ServerConfig) -> Domain:
    """Open (creating or migrating) the database in ``config.data_dir``."""
    return Domain(
        Store(config.database_path, config.database_url),
        history_limit=config.history_limit,
        clock=config.clock or _now_micros,
    )
