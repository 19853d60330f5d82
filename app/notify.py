"""Which inbox items the tray shows as a desktop notification, and in what words.

The tray's notifications come from the same source as the board's inbox: the items the
server puts in members' inboxes (``server.domain.inbox``), delivered after each commit.
The person at the desktop is several members at once (the owner, and one member per
browser on this machine), so an item for any of them is for this person, one made by any
of them is their own doing (no notice), and items of several of them about the same thing
(the same change, the same task due today) make one notice. Pure logic: no Qt and no
server; the members and which of them are this person are handed in as callables.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tandem.v1 import entities_pb2, inbox_pb2

Kind = inbox_pb2.InboxItemKind

#: The notification switches, in one place (the settings can show them): which kinds of
#: inbox item make a desktop notification. Changes to watched tasks and "due tomorrow" stay
#: in the inbox only.
NOTIFIED_KINDS: Mapping[int, str] = MappingProxyType(
    {
        Kind.INBOX_ITEM_KIND_MENTION: "Mentions",
        Kind.INBOX_ITEM_KIND_ASSIGNED: "Assignments",
        Kind.INBOX_ITEM_KIND_COMMENT: "Comments on tasks you watch",
        Kind.INBOX_ITEM_KIND_DUE_TODAY: "Tasks due today",
    }
)

# Sources already shown, remembered at most (oldest forgotten first).
REMEMBERED_SOURCES = 10_000


@dataclass(frozen=True)
class Notice:
    title: str
    message: str
    task_id: str


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Notifier:
    """Turns inbox updates into notices for the person at the desktop.

    The members are read once, then again whenever an update names a member not seen yet
    (a browser opened since, a new invitee), so a reading is never stale for long.
    """

    def __init__(
        self,
        *,
        members: Callable[[], Iterable[entities_pb2.Member]],
        is_desktop_member: Callable[[entities_pb2.Member], bool],
    ) -> None:
        self._read_members = members
        self._is_desktop_member = is_desktop_member
        self._names: dict[str, str] = {}
        self._me: set[str] = set()
        self._loaded = False
        self._shown: OrderedDict[str, None] = OrderedDict()

    def refresh(self) -> None:
        everyone = list(self._read_members())
        self._names = {m.id: m.display_name or "Someone" for m in everyone}
        self._me = {m.id for m in everyone if self._is_desktop_member(m)}
        self._loaded = True

    def _know(self, member_ids: Iterable[str]) -> None:
        if not self._loaded or any(i and i not in self._names for i in member_ids):
            self.refresh()

    def is_me(self, member_id: str) -> bool:
        return bool(member_id) and member_id in self._me

    def notices_for(self, member_id: str, update: inbox_pb2.InboxUpdate) -> list[Notice]:
        """The notices one member's inbox update makes (none for someone else's inbox, none
        for items back with their task from the trash)."""
        if update.restored:
            return []
        fresh = [
            item
            for item in update.items
            if not item.HasField("read_time") and item.kind in NOTIFIED_KINDS
        ]
        if not fresh:
            return []
        self._know([member_id, *(item.actor_id for item in fresh)])
        if not self.is_me(member_id):
            return []
        out: list[Notice] = []
        for item in fresh:
            if self.is_me(item.actor_id) or item.source in self._shown:
                continue
            self._shown[item.source] = None
            if len(self._shown) > REMEMBERED_SOURCES:
                self._shown.popitem(last=False)
            out.append(self._notice(item))
        return out

    def _notice(self, item: inbox_pb2.InboxItem) -> Notice:
        who = self._names.get(item.actor_id, "Someone")
        label = f"{item.task_key} {item.task_title}"
        if item.kind == Kind.INBOX_ITEM_KIND_MENTION:
            title = f"{who} mentioned you on {label}"
            return Notice(title, _short(item.excerpt), item.task_id)
        if item.kind == Kind.INBOX_ITEM_KIND_ASSIGNED:
            title = f"{who} assigned you {item.task_key}"
            return Notice(title, _short(item.task_title), item.task_id)
        if item.kind == Kind.INBOX_ITEM_KIND_COMMENT:
            title = f"{who} commented on {label}"
            return Notice(title, _short(item.excerpt), item.task_id)
        return Notice(f"{item.task_key} is due today", _short(item.task_title), item.task_id)
