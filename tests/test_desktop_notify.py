"""The tray's notifications come from the inbox: which @mentions name someone, which items
make a notice for the person at the desktop, and a due date told once on its day (a real
server, a real Qt event loop, the server's clock moved by the test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from tandem.v1 import entities_pb2, inbox_pb2

from app.notify import Notifier
from server.domain.mentions import mentions
from server.handle import is_desktop_member
from tests.desktop_support import BackgroundLoop
from tests.test_desktop_app import Browser, Harness

pytestmark = pytest.mark.desktop
Kind = inbox_pb2.InboxItemKind


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("@Ann Lee please review", True),
        ("thanks @ann!", True),
        ("ping @AnnLee", True),
        ("@Annabel can you?", False),
        ("mail ann@Ann.example", False),
        ("no mention of Ann here", False),
    ],
)
def test_mentions(body: str, expected: bool) -> None:
    assert mentions(body, "Ann Lee") is expected


OWNER = entities_pb2.MemberRole.MEMBER_ROLE_OWNER
EDITOR = entities_pb2.MemberRole.MEMBER_ROLE_EDITOR


class Board:
    """Members in memory, counting how often the notifier reads them."""

    def __init__(self) -> None:
        self.members = [
            entities_pb2.Member(id="ana", display_name="Ana Lee", role=OWNER),
            entities_pb2.Member(id="ana-2", display_name="Ana Lee", role=OWNER),
            entities_pb2.Member(id="sam", display_name="Sam", role=EDITOR),
        ]
        self.reads = 0

    def notifier(self) -> Notifier:
        def everyone() -> list[entities_pb2.Member]:
            self.reads += 1
            return list(self.members)

        return Notifier(members=everyone, is_desktop_member=is_desktop_member)


def item(kind: int, source: str, actor: str = "sam", **more: object) -> inbox_pb2.InboxItem:
    return inbox_pb2.InboxItem(
        kind=kind,  # type: ignore[arg-type]
        source=source,
        actor_id=actor,
        task_key="WEB-1",
        task_title="Fix it",
        **more,  # type: ignore[arg-type]
    )


def update(*items: inbox_pb2.InboxItem) -> inbox_pb2.InboxUpdate:
    return inbox_pb2.InboxUpdate(items=list(items))


def test_one_notice_per_source_for_the_person_never_their_own_doing() -> None:
    board = Board()
    n = board.notifier()
    mention = item(Kind.INBOX_ITEM_KIND_MENTION, "event:p:5", excerpt="@Ana Lee look")
    titles = [x.title for x in n.notices_for("ana", update(mention))]
    assert titles == ["Sam mentioned you on WEB-1 Fix it"]
    # The same change in the inbox of her other browser: already shown.
    assert n.notices_for("ana-2", update(mention)) == []
    # Sam's own inbox is not this person's; her own doing is not news; read items are not;
    # changes to watched tasks stay in the inbox.
    assert n.notices_for("sam", update(item(Kind.INBOX_ITEM_KIND_MENTION, "event:p:6"))) == []
    assert n.notices_for("ana", update(item(Kind.INBOX_ITEM_KIND_ASSIGNED, "e:7", "ana-2"))) == []
    read = item(Kind.INBOX_ITEM_KIND_COMMENT, "event:p:8")
    read.read_time.FromSeconds(1)
    assert n.notices_for("ana", update(read)) == []
    assert n.notices_for("ana", update(item(Kind.INBOX_ITEM_KIND_CHANGED, "event:p:9"))) == []
    assert board.reads == 1
    # A new invitee is someone else: the members are read again.
    board.members.append(entities_pb2.Member(id="bo", display_name="Bo", role=EDITOR))
    got = n.notices_for("ana", update(item(Kind.INBOX_ITEM_KIND_ASSIGNED, "event:p:10", "bo")))
    assert [x.title for x in got] == ["Bo assigned you WEB-1"] and board.reads == 2
    # Items back with their task from the trash are not news, whenever they were told.
    back = inbox_pb2.InboxUpdate(
        items=[item(Kind.INBOX_ITEM_KIND_MENTION, "event:p:11")], restored=True
    )
    assert n.notices_for("ana", back) == []


class Clock:
    """The server's clock (microseconds), moved by the test; ``now`` is what the server reads
    (a plain function: the server's config is copied, the function with it as it is)."""

    def __init__(self, when: datetime) -> None:
        self._micros = [0]
        self.set(when)
        micros = self._micros

        def now() -> int:
            return micros[0]

        self.now = now

    def set(self, when: datetime) -> None:
        self._micros[0] = int(when.timestamp() * 1_000_000)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 11, 17, 0))


@pytest.fixture
def timed(tmp_path: Path, qtbot: QtBot, clock: Clock) -> Iterator[Harness]:
    h = Harness(tmp_path, qtbot, clock=clock.now, day_check_seconds=0.02)
    h.controller.start()
    yield h
    h.controller.shutdown()


def test_a_task_due_today_is_told_once_on_its_day(
    timed: Harness, qtbot: QtBot, clock: Clock
) -> None:
    handled: list[str] = []
    timed.controller._inbox_handled.connect(lambda m, _f, _n: handled.append(m))
    assert timed.controller.url is not None
    loop = BackgroundLoop()
    ana = Browser(loop, timed.controller.url, "ana-chromium", "Ana Lee")
    firefox = Browser(loop, timed.controller.url, "ana-firefox", "Ana Lee")
    try:
        project = ana._ack(
            create_project={"project": entities_pb2.Project(key="WEB", name="Web")}
        ).project
        # Ana made it (she watches it) and her second browser is assigned: two of the
        # desktop person's members are concerned, and it is due tomorrow.
        task = ana._ack(
            create_task={
                "project_id": project.id,
                "task": entities_pb2.Task(
                    title="Send the report", due_date="2026-03-12", assignee_id=firefox.member_id
                ),
            }
        ).task
        # "Due tomorrow" reaches both inboxes, but is no desktop notice.
        qtbot.waitUntil(lambda: len(handled) >= 2, timeout=10000)
        assert timed.notices == []
        page = ana._ack(list_inbox=inbox_pb2.ListInbox()).inbox
        assert [i.kind for i in page.items] == [Kind.INBOX_ITEM_KIND_DUE_TOMORROW]
        # The day comes: one notice, though two of this person's members have the item.
        clock.set(datetime(2026, 3, 12, 0, 1))
        qtbot.waitUntil(lambda: bool(timed.notices), timeout=10000)
        assert timed.notices == [("WEB-1 is due today", "Send the report")]
        seen = len(handled)
        # Later that day (the server looks again and again): nothing new, no second notice.
        clock.set(datetime(2026, 3, 12, 15, 0))
        page = firefox._ack(list_inbox=inbox_pb2.ListInbox()).inbox
        assert [i.kind for i in page.items] == [
            Kind.INBOX_ITEM_KIND_DUE_TODAY,
            Kind.INBOX_ITEM_KIND_DUE_TOMORROW,
            Kind.INBOX_ITEM_KIND_ASSIGNED,  # by her other browser: in the inbox, not a notice
        ]
        assert page.items[0].task_id == task.id
        assert len(handled) == seen and len(timed.notices) == 1
    finally:
        ana.close()
        firefox.close()
        loop.close()
