"""Which committed events deserve a tray message for the person at the desktop.

Someone else commenting on a task assigned to them, assigning a task to them, or
mentioning them with ``@name``. The person at the desktop is several members at once
(the owner, and one member per browser on this machine), so "them" means any of those.
Pure logic: no Qt and no server; the members, which of them are this person, and the
tasks are handed in as callables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tandem.v1 import entities_pb2, events_pb2, websocket_pb2


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
    """Turns committed events into notices for the person at the desktop.

    ``members`` lists every member and ``is_desktop_member`` tells which of them are this
    person. The members are read once, then again whenever an event names a member not seen yet (a
    browser opened since, a new invitee) or a comment's ``@`` matches none of this
    person's names (a browser may have renamed them), so a reading is never stale for long.
    """

    def __init__(
        self,
        *,
        members: Callable[[], Iterable[entities_pb2.Member]],
        is_desktop_member: Callable[[entities_pb2.Member], bool],
        get_task: Callable[[str], entities_pb2.Task | None],
    ) -> None:
        self._read_members = members
        self._is_desktop_member = is_desktop_member
        self._get_task = get_task
        self._names: dict[str, str] = {}
        self._me: dict[str, entities_pb2.Member] = {}
        self._loaded = False

    def refresh(self) -> None:
        """Read the members again."""
        everyone = list(self._read_members())
        self._names = {m.id: m.display_name or "Someone" for m in everyone}
        self._me = {m.id: m for m in everyone if self._is_desktop_member(m)}
        self._loaded = True

    def _know(self, *member_ids: str) -> bool:
        """Read the members again if any of these is unknown; True when it did."""
        if self._loaded and all(not i or i in self._names for i in member_ids):
            return False
        self.refresh()
        return True

    def is_me(self, member_id: str) -> bool:
        return bool(member_id) and member_id in self._me

    def _name(self, member_id: str) -> str:
        return self._names.get(member_id, "Someone")

    def _mentions_me(self, body: str) -> bool:
        return any(mentions(body, member.display_name) for member in self._me.values())

    def notice_for(self, message: websocket_pb2.WebSocketMessage) -> Notice | None:
        kind = message.WhichOneof("payload")
        if kind == "comment_added":
            return self._commented(message.comment_added)
        if kind == "task_created":
            return self._assigned(message.task_created.task, message.task_created.actor_id)
        if kind == "task_updated" and "assignee_id" in message.task_updated.update_mask.paths:
            return self._assigned(message.task_updated.task, message.task_updated.actor_id)
        return None

    def _commented(self, event: events_pb2.CommentAdded) -> Notice | None:
        author = event.comment.author_id or event.actor_id
        if not author:
            return None
        task = self._get_task(event.comment.task_id)
        assignee = task.assignee_id if task is not None else ""
        refreshed = self._know(author, event.actor_id, assignee)
        if self.is_me(author) or self.is_me(event.actor_id):
            return None
        body = event.comment.body
        mentioned = self._mentions_me(body)
        if not mentioned and "@" in body and not refreshed:
            # Perhaps a browser here renamed its person since the last reading.
            self.refresh()
            mentioned = self._mentions_me(body)
        label = f"{task.key} {task.title}" if task is not None else "a task"
        who = self._name(author)
        if mentioned:
            return Notice(f"{who} mentioned you on {label}", _short(body), event.comment.task_id)
        if task is not None and self.is_me(task.assignee_id):
            return Notice(f"{who} commented on {label}", _short(body), task.id)
        return None

    def _assigned(self, task: entities_pb2.Task, actor_id: str) -> Notice | None:
        if not actor_id or not task.assignee_id:
            return None
        self._know(actor_id, task.assignee_id)
        if self.is_me(actor_id) or not self.is_me(task.assignee_id):
            return None
        who = self._name(actor_id)
        return Notice(f"{who} assigned you {task.key}", _short(task.title), task.id)
