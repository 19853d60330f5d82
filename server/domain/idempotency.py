"""Idempotency: a command's id is remembered with its answer, refusals included.

A client that retries a command (from its outbox after a reconnect, or REST with the same
Idempotency-Key) gets the first answer again and changes nothing again. The key is the
hash of the actor's scope plus the command's request id; the fingerprint tells a retry
from another command that reused the id. Each member's records are kept within a byte
budget (``Ledger``). All functions here run inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import peewee as pw
from google.protobuf.message import DecodeError, Message
from tandem.v1 import errors_pb2, websocket_pb2

from server.domain import rows
from server.domain.errors import DomainError, ErrorCode
from server.domain.events import envelope_frame
from server.storage import dialect

log = logging.getLogger(__name__)

# Refusals a retry may turn into success (the disk freed, a bug fixed): never replayed.
RETRYABLE = frozenset({ErrorCode.ERROR_CODE_UNAVAILABLE, ErrorCode.ERROR_CODE_INTERNAL})
# Refusals decided by the command alone or by who sent it: asked again, they are refused
# again, so they are never stored (a refusal that fills the disk costs nothing to send).
STATELESS = frozenset(
    {
        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        ErrorCode.ERROR_CODE_PERMISSION_DENIED,
        ErrorCode.ERROR_CODE_UNAUTHENTICATED,
        ErrorCode.ERROR_CODE_UNSUPPORTED,
        ErrorCode.ERROR_CODE_RATE_LIMITED,
    }
)
# How long a command id is remembered: longer than any client keeps an unsent outbox.
IDEMPOTENCY_WINDOW_MICROS = 7 * 24 * 3600 * 1_000_000
# Bytes of remembered answers one member may hold; past it their oldest are forgotten.
BUDGET_BYTES = 16 * 1024 * 1024


def fingerprint(kind: str, command: Message) -> bytes:
    """What the command asks, without its id: equal for a retry, different for another command.

    Taken over the command as the envelope's payload, so that keys remembered before the
    domain stopped taking envelopes still recognise their retries. An envelope holding only
    that payload encodes as the payload's tag, its length and its bytes, so those are hashed
    as they are, without building the envelope.
    """
    body = command.SerializeToString(deterministic=True)
    return hashlib.sha256(envelope_frame(kind, body)).digest()


def key_of(scoped_id: str) -> bytes:
    """The stored key of a scoped request id: its SHA-256, 32 bytes however long the id."""
    return hashlib.sha256(scoped_id.encode()).digest()


# Statements written once: a command's lookups and its record run on the hot path, through
# the connection with parameters, with no SQL built per command.
_REMEMBER = (
    "INSERT INTO applied_request (key, member_id, answer, is_error, created_at, fingerprint, "
    "size) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_REMEMBER_REFUSAL = _REMEMBER + " ON CONFLICT DO NOTHING"
# A row's bytes beyond its answer: key, fingerprint, member id, index entries.
ROW_OVERHEAD = 128


def _answer(seen: Any, fingerprint: bytes) -> websocket_pb2.Ack | None:
    """What a remembered (answer, is_error, fingerprint) says to a command with this
    fingerprint: None when nothing is remembered, else the remembered answer, or the
    remembered refusal raised. A key seen with another command is refused: nothing is
    changed."""
    if seen is None:
        return None
    answer, is_error, stored_fingerprint = seen
    if stored_fingerprint is not None and bytes(stored_fingerprint) != fingerprint:
        raise DomainError(
            ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
            "this message id was already used for a different command; "
            "nothing was changed (use a new id for each command)",
            field="message_id",
        )
    try:
        if is_error:
            error = errors_pb2.Error.FromString(bytes(answer))
            raise DomainError(
                error.code,
                error.message,
                field=error.field,
                conflicting_fields=list(error.conflicting_fields),
                current=_current_of(error),
            )
        return websocket_pb2.Ack.FromString(bytes(answer))
    except DecodeError as err:  # pragma: no cover - only a corrupted row gets here
        raise DomainError(ErrorCode.ERROR_CODE_INTERNAL, "stored answer unreadable") from err


_LOOKUP = "SELECT key, answer, is_error, fingerprint FROM applied_request WHERE key IN ({})"


class Group:
    """The ids of one group of commands (one transaction): looked up together before the
    first command runs, and the answers stored together after the last, with one statement
    each instead of one per command.

    Within the group a command sees the answers of the commands before it, as it would
    have seen their stored rows. A success is stored only if the group commits (``store``
    runs in its transaction); a refusal is stored at once (see ``Ledger.remember_refusal``).
    """

    __slots__ = ("_known", "_records")

    def __init__(self, keys: list[bytes]) -> None:
        self._known: dict[bytes, tuple[Any, Any, Any]] = {}
        self._records: list[tuple[bytes, str, bytes, bool, int, bytes, int]] = []
        if keys:
            for key, *seen in rows.select_in(_LOOKUP, keys):
                self._known[bytes(key)] = (seen[0], seen[1], seen[2])

    def replay(self, key: bytes, fingerprint: bytes) -> websocket_pb2.Ack | None:
        """The remembered answer to this key, or None when it is new; raises a remembered
        refusal (see ``_answer``)."""
        return _answer(self._known.get(key), fingerprint)

    def remember_answer(
        self, member_id: str, key: bytes, fingerprint: bytes, ack: websocket_pb2.Ack, now: int
    ) -> None:
        """A success, stored with the group (``store``)."""
        answer = ack.SerializeToString()
        size = len(answer) + ROW_OVERHEAD
        self._records.append((key, member_id, answer, False, now, fingerprint, size))
        self._known[key] = (answer, False, fingerprint)

    def refused(self, key: bytes, fingerprint: bytes, err: DomainError) -> None:
        """A refusal the ledger stored (``Ledger.remember_refusal`` said True)."""
        self._known[key] = (err.to_proto().SerializeToString(), True, fingerprint)

    def store(self, ledger: Ledger) -> None:
        """Write the group's successes, in its transaction, and charge them to their members."""
        if not self._records:
            return
        rows.execute_many(_REMEMBER, self._records)
        # Once per member: a count read from the table already holds all of them.
        spent: dict[str, int] = {}
        for _key, member_id, _answer, _error, _now, _fingerprint, size in self._records:
            spent[member_id] = spent.get(member_id, 0) + size
        for member_id, size in spent.items():
            ledger.charge(member_id, size)
        self._records = []


class Ledger:
    """The bytes of remembered answers per member, kept within a budget.

    Without it one member (a viewer even) could fill the owner's disk with ids. Past the
    budget, that member's oldest records are forgotten first: a retry of a week-old
    command is the least likely. Counts are kept in memory, read once per member from the
    table; they can only run high (a rolled-back record), never low.
    """

    def __init__(self, budget_bytes: int = BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._spent: dict[str, int] = {}

    def remember_refusal(
        self,
        db: pw.Database,
        member_id: str,
        key: bytes,
        fingerprint: bytes,
        err: DomainError,
        now: int,
    ) -> bool:
        """Store a refusal after its savepoint rolled back, so the record stays; True when
        it was stored.

        A replayed command must get the same answer when the answer depends on the board
        (not found, a conflict). Refusals that need no memory are not stored: the command
        itself decides them (invalid) or who sent it (permission), so asking again gives
        the same answer anyway. Best effort: if the disk is full this write fails too, and
        the replay is simply evaluated again.
        """
        if err.code in RETRYABLE or err.code in STATELESS:
            return False
        answer = err.to_proto().SerializeToString()
        size = len(answer) + ROW_OVERHEAD
        try:
            with db.atomic():
                rows.execute(
                    _REMEMBER_REFUSAL, (key, member_id, answer, True, now, fingerprint, size)
                )
                self.charge(member_id, size)
        except pw.DatabaseError:
            log.warning("could not record a refusal for member %s", member_id)
            return False
        return True

    def forget_counts(self) -> None:
        """After rows went by other means (pruning): count again from the table."""
        self._spent.clear()

    def charge(self, member_id: str, size: int) -> None:
        """Count a stored record of ``size`` bytes against its member's budget (its oldest
        records forgotten past it)."""
        spent = self._spent.get(member_id)
        if spent is None:
            spent = int(
                rows.execute(dialect.current().remembered_bytes, (member_id,)).fetchone()[0]
            )
        else:
            spent += size
        if spent > self.budget_bytes:
            spent = self._evict(member_id, spent)
        self._spent[member_id] = spent

    def _evict(self, member_id: str, spent: int) -> int:
        # Down to three quarters, so that eviction runs once per quarter budget, not per row.
        target = self.budget_bytes * 3 // 4
        oldest_first = rows.execute(dialect.current().oldest_remembered, (member_id,))
        drop: list[tuple[bytes]] = []
        try:
            # Read only as far as needed: on SQLite the table is read in its order, and the
            # member's oldest rows are the first of theirs it meets.
            for key, size in oldest_first:
                if spent <= target:
                    break
                drop.append((key,))
                spent -= size
        finally:
            oldest_first.close()
        rows.execute_many("DELETE FROM applied_request WHERE key = ?", drop)
        log.info("forgot %d of member %s's oldest command ids (over budget)", len(drop), member_id)
        return spent


# Expired ids where there is an index by member (PostgreSQL): the members are walked one index
# seek each (MIN past the last), then each member's expired ids are the start of its range.
_PRUNE_BY_MEMBER = """
DELETE FROM applied_request WHERE created_at < ? AND member_id IN (
    WITH RECURSIVE members (id) AS (
        SELECT MIN(member_id) FROM applied_request
        UNION ALL
        SELECT (SELECT MIN(member_id) FROM applied_request WHERE member_id > members.id)
        FROM members WHERE members.id IS NOT NULL
    )
    SELECT id FROM members
)
"""
# Where there is none (SQLite): every row is looked at, or a slice of rowids at a time.
_PRUNE_ALL = "DELETE FROM applied_request WHERE created_at < ?"
_SLICE_END = (
    "SELECT max(rowid) FROM (SELECT rowid FROM applied_request WHERE rowid > ?"
    " ORDER BY rowid LIMIT ?)"
)
_PRUNE_SLICE = "DELETE FROM applied_request WHERE rowid > ? AND rowid <= ? AND created_at < ?"


def prune(now: int) -> int:
    """Forget every id older than the window; returns how many were forgotten."""
    horizon = now - IDEMPOTENCY_WINDOW_MICROS
    whole = _PRUNE_BY_MEMBER if dialect.current().prune_slice is None else _PRUNE_ALL
    return int(rows.execute(whole, (horizon,)).rowcount)


class Pruner:
    """Forgets ids older than the window as commands come, in the caller's transaction.

    Where the dialect has no index to find expired ids by (``Dialect.prune_slice``), each
    run looks at the next slice of rows in the order they were stored, going round the
    table: a run costs a slice, not the table, however many ids are remembered. Runs come
    every ``PRUNE_EVERY`` commands (service.py), far fewer rows than a slice, so the sweep
    goes round faster than the table grows: an id is forgotten within a round of its
    expiry. The oldest rows come first, so most expired ids go in the round's first runs.
    """

    __slots__ = ("_after",)

    def __init__(self) -> None:
        # The rowid the next slice starts after (0: from the first row).
        self._after = 0

    def run(self, now: int) -> int:
        """Prune the next slice (or everything, where the dialect does it at once); returns
        how many ids were forgotten."""
        size = dialect.current().prune_slice
        if size is None:
            return prune(now)
        (end,) = rows.execute(_SLICE_END, (self._after, size)).fetchone()
        if end is None:  # past the last row: round again from the first
            self._after = 0
            (end,) = rows.execute(_SLICE_END, (0, size)).fetchone()
            if end is None:
                return 0
        horizon = now - IDEMPOTENCY_WINDOW_MICROS
        gone = int(rows.execute(_PRUNE_SLICE, (self._after, end, horizon)).rowcount)
        self._after = end
        return gone


def _current_of(error: errors_pb2.Error) -> Any:
    which = error.WhichOneof("current")
    return getattr(error, which) if which else None
