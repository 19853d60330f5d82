"""The inbox's REST reads: one's inbox, paged, and a task's watchers.

Marking read (``POST /api/v1/inbox/read``) and watching (``POST /api/v1/tasks/{taskId}/watch``)
are commands of the command table, served by ``server.api.commands``.
"""

from __future__ import annotations

from google.protobuf.message import Message
from tandem.v1 import inbox_pb2

from server.api.errors import bad_request
from server.api.operation import Call, Operation, QueryParam
from server.api.query import int_query
from server.domain.inbox import DEFAULT_PAGE, MAX_PAGE

_TRUE = ("true", "1")
_FALSE = ("false", "0", "")


async def list_inbox(call: Call) -> Message:
    unread = (call.query("unreadOnly") or "").lower()
    if unread not in _TRUE + _FALSE:
        raise bad_request("unreadOnly must be true or false", field="unreadOnly")
    command = inbox_pb2.ListInbox(
        page_size=int_query(call.request.query, "pageSize", DEFAULT_PAGE, low=1, high=MAX_PAGE),
        page_token=call.query("pageToken") or "",
        unread_only=unread in _TRUE,
    )
    return (await call.command(command)).inbox


async def list_watchers(call: Call) -> Message:
    command = inbox_pb2.ListWatchers(task_id=call.path("taskId"))
    return (await call.command(command)).watchers


INBOX_PARAMS = (
    QueryParam(
        "pageSize",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
        "Items per page, newest first.",
    ),
    QueryParam("pageToken", {"type": "string"}, "nextPageToken from the previous page."),
    QueryParam("unreadOnly", {"type": "boolean", "default": False}, "Only unread items."),
)

INBOX_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/api/v1/inbox",
        "listInbox",
        "Your inbox, newest first: mentions, assignments, changes to tasks you watch, due"
        " dates; with the unread count",
        list_inbox,
        "inbox",
        inbox_pb2.InboxPage,
        query=INBOX_PARAMS,
    ),
    Operation(
        "GET",
        "/api/v1/tasks/{taskId}/watchers",
        "listWatchers",
        "Who watches a task",
        list_watchers,
        "inbox",
        inbox_pb2.TaskWatchers,
    ),
)
