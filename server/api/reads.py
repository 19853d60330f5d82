"""The REST-only operations: reads of the board, the change log, and the API's own health
and document. Changes are not here: they are the command table's (``server.api.commands``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from google.protobuf.message import Message
from tandem.v1 import api_pb2, entities_pb2, errors_pb2, reports_pb2, websocket_pb2

import server
from server.api.actor import request_actor
from server.api.errors import ApiError
from server.api.operation import Call, Handler, Operation, QueryParam
from server.api.polls import wait_for_events
from server.api.query import STATUS_NAMES, float_query, int_query, status_query
from server.appkeys import CONFIG
from server.domain.service import TaskFilter
from server.domain.sprint_reports import VELOCITY_DEFAULT, VELOCITY_MAX

ErrorCode = errors_pb2.ErrorCode

MAX_PAGE_SIZE = 1000

#: The OpenAPI document this application serves, stored when the routes are mounted.
OPENAPI_DOCUMENT = web.AppKey("openapi_document", dict[str, Any])


async def get_health(call: Call) -> Message:
    return api_pb2.HealthResponse(status="ok", version=server.__version__)


async def get_openapi(call: Call) -> web.StreamResponse:
    return web.json_response(call.request.app[OPENAPI_DOCUMENT])


async def list_members(call: Call) -> Message:
    members = await call.domain.read(call.domain.list_members)
    return api_pb2.ListMembersResponse(members=members)


async def get_me(call: Call) -> Message:
    """The member this request acts as, with its role (a polling client's "who am I")."""
    actor = await request_actor(call.request)
    for member in await call.domain.read(call.domain.list_members):
        if member.id == actor.member_id:
            member.role = actor.role
            return member
    raise ApiError(ErrorCode.ERROR_CODE_NOT_FOUND, "this request acts as no known member")


async def list_projects(call: Call) -> Message:
    projects = await call.domain.read(call.domain.list_projects)
    return api_pb2.ListProjectsResponse(projects=projects)


async def get_project(call: Call) -> Message:
    project: Message = await call.domain.read(call.domain.get_project, call.path("projectId"))
    return project


async def list_tasks(call: Call) -> Message:
    project_id = call.path("projectId")
    query = call.request.query
    task_filter = TaskFilter(
        status=status_query(query),
        assignee_id=call.query("assignee") or "",
        sprint_id=call.query("sprint") or "",
        label=call.query("label") or "",
        text=call.query("q") or "",
        archived=call.query("archived") or "exclude",
        page_size=int_query(query, "pageSize", 100, low=1, high=MAX_PAGE_SIZE),
        page_token=call.query("pageToken") or "",
    )
    result: Message = await call.domain.read(call.domain.list_tasks, project_id, task_filter)
    return result


async def list_trash(call: Call) -> Message:
    result: Message = await call.domain.read(call.domain.list_trash, call.path("projectId"))
    return result


async def list_trashed_projects(call: Call) -> Message:
    result: Message = await call.domain.read(call.domain.list_trashed_projects)
    return result


async def list_archive(call: Call) -> Message:
    domain = call.domain
    text = call.query("q") or ""
    result: Message = await domain.read(domain.list_archive, call.path("projectId"), text)
    return result


async def get_task(call: Call) -> Message:
    task: Message = await call.domain.read(call.domain.get_task, call.path("taskId"))
    return task


async def list_comments(call: Call) -> Message:
    comments = await call.domain.read(call.domain.list_comments, call.path("taskId"))
    return api_pb2.ListCommentsResponse(comments=comments)


async def list_sprints(call: Call) -> Message:
    sprints = await call.domain.read(call.domain.list_sprints, call.path("projectId"))
    return api_pb2.ListSprintsResponse(sprints=sprints)


async def get_sprint(call: Call) -> Message:
    sprint: Message = await call.domain.read(call.domain.get_sprint, call.path("sprintId"))
    return sprint


async def get_sprint_report(call: Call) -> Message:
    report: Message = await call.domain.read(call.domain.sprint_report, call.path("sprintId"))
    return report


async def get_velocity(call: Call) -> Message:
    last = int_query(call.request.query, "last", VELOCITY_DEFAULT, low=1, high=VELOCITY_MAX)
    result: Message = await call.domain.read(call.domain.velocity, call.path("projectId"), last)
    return result


async def get_snapshot(call: Call) -> Message:
    snapshot: Message = await call.domain.read(call.domain.snapshot, call.path("projectId"))
    return snapshot


async def list_events(call: Call) -> Message:
    """The change log after ``since``; with ``wait``, hold the request until there is some."""
    project_id = call.path("projectId")
    query = call.request.query
    since = int_query(query, "since", 0, low=0, high=2**53)
    config = call.request.app[CONFIG]
    wait = float_query(query, "wait", 0.0, low=0.0, high=config.max_poll_seconds)
    domain = call.domain
    page = await domain.read(domain.events_since, project_id, since)
    if page.events or page.resync_required or wait <= 0:
        return page
    return await wait_for_events(call.request, project_id, since, wait)


TEXT_QUERY = QueryParam(
    "q", {"type": "string"}, "Only tasks whose key, title or description match."
)

TASK_FILTERS = (
    QueryParam(
        "status",
        {"type": "string", "enum": list(STATUS_NAMES)},
        "Only tasks in this column (TASK_STATUS_TODO or todo).",
    ),
    QueryParam("assignee", {"type": "string"}, "Only tasks assigned to this member id."),
    QueryParam("sprint", {"type": "string"}, "Only tasks in this sprint id."),
    QueryParam("label", {"type": "string"}, "Only tasks carrying this label."),
    TEXT_QUERY,
    QueryParam(
        "archived",
        {"type": "string", "enum": ["exclude", "include", "only"], "default": "exclude"},
        "Archived tasks: left out (exclude), listed too (include), or alone (only).",
    ),
    QueryParam(
        "pageSize",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 100},
        "Tasks per page.",
    ),
    QueryParam("pageToken", {"type": "string"}, "nextPageToken from the previous page."),
)

EVENT_PARAMS = (
    QueryParam(
        "since",
        {"type": "integer", "minimum": 0, "maximum": 2**53, "default": 0},
        "Return the events after this seq.",
    ),
    QueryParam(
        "wait",
        {"type": "number", "minimum": 0, "default": 0},
        "Long poll: wait up to this many seconds (capped by the server) for an event.",
    ),
)

VELOCITY_PARAMS = (
    QueryParam(
        "last",
        {"type": "integer", "minimum": 1, "maximum": VELOCITY_MAX, "default": VELOCITY_DEFAULT},
        "How many of the latest completed sprints.",
    ),
)

P = "/api/v1/projects/{projectId}"
T = "/api/v1/tasks/{taskId}"
S = "/api/v1/sprints/{sprintId}"


def _read(
    path: str,
    operation_id: str,
    summary: str,
    handler: Handler,
    tag: str,
    response: type[Message] | None,
    **more: Any,
) -> Operation:
    return Operation("GET", path, operation_id, summary, handler, tag, response, **more)


READ_OPERATIONS: tuple[Operation, ...] = (
    _read(
        "/api/health", "getHealth", "Is the server up", get_health, "meta", api_pb2.HealthResponse
    ),
    _read(
        "/api/openapi.json",
        "getOpenApi",
        "This API's OpenAPI 3.1 document",
        get_openapi,
        "meta",
        None,
        raw_json_schema={"type": "object"},
    ),
    _read(
        "/api/v1/me",
        "getMe",
        "The member this request acts as (local browsers name themselves with"
        " X-Tandem-Client-Id; LAN requests by their invite)",
        get_me,
        "members",
        entities_pb2.Member,
    ),
    _read(
        "/api/v1/members",
        "listMembers",
        "Everyone who has used this board",
        list_members,
        "members",
        api_pb2.ListMembersResponse,
    ),
    _read(
        "/api/v1/projects",
        "listProjects",
        "All projects",
        list_projects,
        "projects",
        api_pb2.ListProjectsResponse,
    ),
    _read(P, "getProject", "One project", get_project, "projects", entities_pb2.Project),
    _read(
        "/api/v1/trash/projects",
        "listTrashedProjects",
        "Deleted projects still restorable, newest first",
        list_trashed_projects,
        "projects",
        api_pb2.ListTrashedProjectsResponse,
    ),
    _read(
        P + "/tasks",
        "listTasks",
        "A project's tasks, filtered and paged",
        list_tasks,
        "tasks",
        api_pb2.ListTasksResponse,
        query=TASK_FILTERS,
    ),
    _read(T, "getTask", "One task", get_task, "tasks", entities_pb2.Task),
    _read(
        P + "/trash",
        "listTrash",
        "The project's deleted tasks, newest first, each restorable until its purgeTime",
        list_trash,
        "tasks",
        api_pb2.ListTrashResponse,
    ),
    _read(
        P + "/archive",
        "listArchive",
        "The project's archived tasks and sprints, newest first",
        list_archive,
        "tasks",
        api_pb2.ListArchiveResponse,
        query=(TEXT_QUERY,),
    ),
    _read(
        T + "/comments",
        "listComments",
        "A task's comments, oldest first",
        list_comments,
        "comments",
        api_pb2.ListCommentsResponse,
    ),
    _read(
        P + "/sprints",
        "listSprints",
        "A project's sprints",
        list_sprints,
        "sprints",
        api_pb2.ListSprintsResponse,
    ),
    _read(S, "getSprint", "One sprint", get_sprint, "sprints", entities_pb2.Sprint),
    _read(
        S + "/report",
        "getSprintReport",
        "A sprint's record: committed, added, removed, completed and carried-over points, day"
        " by day and per task (frozen once the sprint completed)",
        get_sprint_report,
        "sprints",
        reports_pb2.SprintReport,
    ),
    _read(
        P + "/velocity",
        "getVelocity",
        "Committed and completed points of the project's latest completed sprints, with the"
        " averages",
        get_velocity,
        "sprints",
        reports_pb2.VelocityResponse,
        query=VELOCITY_PARAMS,
    ),
    _read(
        P + "/snapshot",
        "getSnapshot",
        "Everything needed to draw the project's board, read at one seq (what a WebSocket"
        " subscription sends first); poll the events endpoint from its seq.",
        get_snapshot,
        "events",
        websocket_pb2.Snapshot,
    ),
    _read(
        P + "/events",
        "listEvents",
        "The project's change log after since; with wait, a long poll (the fallback"
        " for clients without a WebSocket).",
        list_events,
        "events",
        api_pb2.ListEventsResponse,
        query=EVENT_PARAMS,
    ),
)
