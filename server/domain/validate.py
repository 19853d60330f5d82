"""Checks on values arriving from clients, each failing with a coded, field-named error."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from server.domain.errors import invalid

__all__ = ["date", "enum", "invalid", "labels", "new_id", "project_key", "text"]

KEY_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")


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
