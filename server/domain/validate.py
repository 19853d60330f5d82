"""Checks on values arriving from clients, each failing with a coded, field-named error."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Final

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from server.domain.errors import invalid

__all__ = [
    "MAX_ID_LENGTH",
    "client_strings",
    "date",
    "enum",
    "invalid",
    "labels",
    "new_id",
    "project_key",
    "text",
]

KEY_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")

#: Longest id a client may send: a message id, or any ``id``/``*_id`` field of a command.
MAX_ID_LENGTH: Final = 128
#: Longest text in any other string field (a task description, the largest there is).
MAX_TEXT_LENGTH: Final = 100_000
# Ids, field-mask paths and labels are short; anything listed is capped like an id.
_ID_LIKE = re.compile(r"(^|_)id$")


def client_strings(command: Message) -> None:
    """Refuse a command carrying an oversized string anywhere, before anything reads it.

    Each command's own checks name tighter limits for what they store; this is the cap
    every field has, whatever command it is in and whether or not it is ever stored.
    """
    # No string is longer in characters than in UTF-8 bytes, nor than the whole encoded
    # command: a command that small (most are) has no string over any cap.
    if command.ByteSize() <= MAX_ID_LENGTH:
        return
    _strings_within_caps(command)


def _strings_within_caps(command: Message) -> None:
    for field, value in command.ListFields():
        if field.type == FieldDescriptor.TYPE_STRING:
            repeated = field.is_repeated
            limit = MAX_ID_LENGTH if repeated or _ID_LIKE.search(field.name) else MAX_TEXT_LENGTH
            for text_value in value if repeated else (value,):
                if len(text_value) > limit:
                    raise invalid(field.name, f"{field.name} is longer than {limit} characters")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                for key, item in value.items():  # a map of short names to short names
                    if len(key) > MAX_ID_LENGTH or len(str(item)) > MAX_ID_LENGTH:
                        raise invalid(field.name, f"{field.name} holds a name longer than"
                                      f" {MAX_ID_LENGTH} characters")  # fmt: skip
            elif field.is_repeated:
                for item in value:
                    _strings_within_caps(item)
            else:
                _strings_within_caps(value)


def text(field: str, value: str, *, max_len: int, required: bool = False) -> str:
    if required and not value.strip():
        raise invalid(field, f"{field} must not be empty")
    if len(value) > max_len:
        raise invalid(field, f"{field} is longer than {max_len} characters")
    if "\x00" in value:
        raise invalid(field, f"{field} contains a NUL character")
    return value.strip() if required else value


def project_key(value: str) -> str:
    key = value.strip().upper()
    if not KEY_RE.match(key):
        raise invalid(
            "key", "key must be 2-10 letters or digits, starting with a letter (e.g. WEB)"
        )
    return key


def date(field: str, value: str) -> str:
    if not value:
        return ""
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise invalid(field, f"{field} must be a date like 2026-11-26, not {value!r}") from None


def enum(field: str, value: int, allowed: range, default: int) -> int:
    if value == 0:
        return default
    if value not in allowed:
        raise invalid(field, f"{field} has an unknown value {value}")
    return value


def new_id(field: str, proposed: str) -> str:
    """The client's proposed id when it is a UUID (optimistic clients), else a fresh one."""
    if not proposed:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(proposed))
    except ValueError:
        raise invalid(field, f"{field} must be a UUID when given") from None


def labels(values: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for raw in values:
        label = raw.strip()
        if not label or len(label) > 50 or "\x00" in label:
            raise invalid("labels", "each label must be 1-50 characters")
        # "Bug" and "bug" are one label: the first spelling given is kept.
        if label.casefold() not in seen:
            seen.add(label.casefold())
            out.append(label)
    if len(out) > 20:
        raise invalid("labels", "a task takes at most 20 labels")
    return out
