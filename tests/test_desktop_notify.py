"""Which @mentions name the person at the desktop, and when the notifier reads the members."""

from __future__ import annotations

import pytest
from tandem.v1 import entities_pb2, websocket_pb2

from app.notify import Notifier, mentions
from server.handle import is_desktop_member

pytestmark = pytest.mark.desktop


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
    """Members and tasks in memory, counting how often the notifier reads the members."""

    def __init__(self) -> None:
        self.members = [
            entities_pb2.Member(id="owner", display_name="Owner", role=OWNER),
            entities_pb2.Member(id="ana", display_name="Ana Lee", role=OWNER),
            entities_pb2.Member(id="sam", display_name="Sam", role=EDITOR),
        ]
        self.tasks = {
            "t1": entities_pb2.Task(id="t1", key="WEB-1", title="Fix it", assignee_id="ana"),
            "t2": entities_pb2.Task(id="t2", key="WEB-2", title="Other", assignee_id="sam"),
        }
        self.reads = 0

    def notifier(self) -> Notifier:
        def everyone() -> list[entities_pb2.Member]:
            self.reads += 1
            return list(self.members)

        return Notifier(
            members=everyone, is_desktop_member=is_desktop_member, get_task=self.tasks.get
        )


def comment(author: str, task_id: str, body: str) -> websocket_pb2.WebSocketMessage:
    message = websocket_pb2.WebSocketMessage()
    message.comment_added.actor_id = author
    message.comment_added.comment.author_id = author
    message.comment_added.comment.task_id = task_id
    message.comment_added.comment.body = body
    return message


def test_members_are_read_again_only_when_someone_new_appears() -> None:
    board = Board()
    notifier = board.notifier()
    notice = notifier.notice_for(comment("sam", "t1", "Done?"))
    assert notice is not None and notice.title == "Sam commented on WEB-1 Fix it"
    assert notifier.notice_for(comment("sam", "t2", "Fine.")) is None
    assert board.reads == 1
    # A second browser on this machine says hello, then comments on Ana's task: it is her.
    board.members.append(entities_pb2.Member(id="ana-2", display_name="Ana Lee", role=OWNER))
    assert notifier.notice_for(comment("ana-2", "t1", "@Ana Lee note to self")) is None
    assert board.reads == 2
    # A new invitee is someone else.
    board.members.append(entities_pb2.Member(id="bo", display_name="Bo", role=EDITOR))
    notice = notifier.notice_for(comment("bo", "t2", "@ana can you help?"))
    assert notice is not None and notice.title == "Bo mentioned you on WEB-2 Other"
    assert board.reads == 3


def test_a_browser_renamed_since_is_mentioned_by_its_new_name() -> None:
    board = Board()
    notifier = board.notifier()
    assert notifier.notice_for(comment("sam", "t2", "@Bea please")) is None
    board.members[1] = entities_pb2.Member(id="ana", display_name="Bea Lee", role=OWNER)
    notice = notifier.notice_for(comment("sam", "t2", "@Bea please"))
    assert notice is not None and notice.title == "Sam mentioned you on WEB-2 Other"
