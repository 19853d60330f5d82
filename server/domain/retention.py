"""How long the trash keeps what was deleted: one figure for tasks, comments and projects."""

from __future__ import annotations

#: How long a deleted task, comment or project can be restored.
TRASH_DAYS = 30
TRASH_MICROS = TRASH_DAYS * 24 * 3600 * 1_000_000


def cutoff(now: int) -> int:
    """Entries deleted before this (microseconds) are past their time."""
    return now - TRASH_MICROS
