"""Which committed events deserve a tray message for the person at the desktop.

Someone else commenting on a task assigned to them, assigning a task to them, or
mentioning them with ``@name``. Pure logic: no Qt and no server, so it is tested alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tandem.v1 import entities_pb2, websocket_pb2


@dataclass(frozen=True)
class Notice:
    title: str
    message: str
    task_id: str


def mention_aliases(display_name: str) -> list[str]:
    """The ways people write ``@name`` for a display name: full, first word, no spaces."""
    name = display_name.strip()
    if not name:
        return []
    aliases = {name, name.split()[0], name.replace(" ", "")}
    # Longest first, so "@Ann Lee" is matched as a whole before "@Ann".
    return sorted(aliases, key=len, reverse=True)


def mentions(body: str, display_name: str) -> bool:
    for alias in mention_aliases(display_name):
        if re.search(rf"(?<![\w@])@{re.escape(alias)}(?![\w-])", body, re.IGNORECASE):
            return True
    return False


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Notifier:
    """Turns events into notices for one member (the owner)."""

    def __init__(
        self,
        owner: entities_pb2.Member,
        *,
        members: Callable[[], Iterable[entities_pb2.Member]],
        get_task: Callable[[str], entities_pb2.Task | None],
    ) -> None:
        self.owner = owner
        self._members = members
        self._get_task = get_task

    def _name(self, member_id: str) -> str:
        for member in self._members():
            if member.id == member_id:
                return member.display_name or "Someone"
        return "Someone"

    def notice_for(self, message: websocket_pb2.WebSocketMessage) -> Notice | None:
        kind = message.WhichOneof("payload")
        me = self.owner.id
        if kind == "comment_added":
            event = message.comment_added
            author = event.comment.author_id or event.actor_id
            if not author or author == me:
                return None
            task = self._get_task(event.comment.task_id)
            label = f"{task.key} {task.title}" if task is not None else "a task"
            who = self._name(author)
            body = _short(event.comment.body)
            if mentions(event.comment.body, self.owner.display_name):
                return Notice(f"{who} mentioned you on {label}", body, event.comment.task_id)
            if task is not None and task.assignee_id == me:
                return Notice(f"{who} commented on {label}", body, task.id)
            return None
        if kind == "task_created":
            return self._assigned(message.task_created.task, message.task_created.actor_id)
        if kind == "task_updated" and "assignee_id" in message.task_updated.update_mask.paths:
            return self._assigned(message.task_updated.task, message.task_updated.actor_id)
        return None

    def _assigned(self, task: entities_pb2.Task, actor_id: str) -> Notice | None:
        if not actor_id or actor_id == self.owner.id or task.assignee_id != self.owner.id:
            return None
        who = self._name(actor_id)
        return Notice(f"{who} assigned you {task.key}", _short(task.title), task.id)
