"""Idempotency: a command's id is remembered with its answer, refusals included.

A client that retries a command (from its outbox after a reconnect, or REST with the same
Idempotency-Key) gets the first answer again and changes nothing again. The key is the
actor's scope plus the command's request id; the fingerprint tells a retry from another
command that reused the id. All functions here run inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import peewee as pw
from google.protobuf.message import DecodeError, Message
from tandem.v1 import errors_pb2, websocket_pb2

from server.domain.errors import DomainError, ErrorCode
from server.storage.models import AppliedRequestRow

log = logging.getLogger(__name__)

# Refusals a retry may turn into success (the disk freed, a bug fixed): never replayed.
RETRYABLE = frozenset({ErrorCode.ERROR_CODE_UNAVAILABLE, ErrorCode.ERROR_CODE_INTERNAL})
# How long a command id is remembered: longer than any client keeps an unsent outbox.
IDEMPOTENCY_WINDOW_MICROS = 7 * 24 * 3600 * 1_000_000


def fingerprint(kind: str, command: Message) -> bytes:
    """What the command asks, without its id: equal for a retry, different for another command.

    Taken over the command as the envelope's payload, so that keys remembered before the
    domain stopped taking envelopes still recognise their retries.
    """
    envelope = websocket_pb2.WebSocketMessage()
    getattr(envelope, kind).CopyFrom(command)
    return hashlib.sha256(envelope.SerializeToString(deterministic=True)).digest()


def replay(key: str, fingerprint: bytes) -> websocket_pb2.Ack | None:
    """The remembered answer to this key, or None when it is new; raises a remembered refusal.

    A key seen with another command is refused: nothing is changed.
    """
    seen = AppliedRequestRow.get_or_none(AppliedRequestRow.key == key)
    if seen is None:
        return None
    if seen.fingerprint is not None and bytes(seen.fingerprint) != fingerprint:
        raise DomainError(
            ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
            "this message id was already used for a different command; "
            "nothing was changed (use a new id for each command)",
            field="message_id",
        )
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


def remember_answer(key: str, fingerprint: bytes, ack: websocket_pb2.Ack, now: int) -> None:
    """Store a success, in the command's own savepoint: it stands or falls with the change."""
    AppliedRequestRow.insert(
        key=key,
        answer=ack.SerializeToString(),
        is_error=False,
        created_at=now,
        fingerprint=fingerprint,
    ).execute()


def remember_refusal(
    db: pw.Database, key: str, fingerprint: bytes, err: DomainError, now: int
) -> None:
    """Store a refusal after its savepoint rolled back, so the record stays.

    A replayed command must get the same answer, refusals included. Best effort: if the
    disk is full this write fails too, and the replay is simply evaluated again.
    """
    if err.code in RETRYABLE:
        return
    try:
        with db.atomic():
            AppliedRequestRow.insert(
                key=key,
                answer=err.to_proto().SerializeToString(),
                is_error=True,
                created_at=now,
                fingerprint=fingerprint,
            ).on_conflict_ignore().execute()
    except pw.DatabaseError:
        log.warning("could not record the refusal of %s", key)


def prune(now: int) -> None:
    """Forget ids older than the window."""
    horizon = now - IDEMPOTENCY_WINDOW_MICROS
    AppliedRequestRow.delete().where(AppliedRequestRow.created_at < horizon).execute()


def _current_of(error: errors_pb2.Error) -> Any:
    which = error.WhichOneof("current")
    return getattr(error, which) if which else None
