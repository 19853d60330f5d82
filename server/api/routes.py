"""The REST API's operations: one table of routes, their bodies and parameters.

Each ``Operation`` names its method, path, request and response messages and query
parameters; the same table mounts the aiohttp routes and generates the OpenAPI
document, so the two cannot drift apart. Every change goes through
``Domain.command`` with the same command messages the WebSocket uses.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf import message_factory
from google.protobuf.message import Message
from tandem.v1 import (
    api_pb2,
    commands_pb2,
    entities_pb2,
    errors_pb2,
    websocket_pb2,
)

import server
from server.api.actor import REQUEST_ACTOR, request_actor
from server.api.codec import parse_body, render
from server.api.errors import ApiError, bad_request
from server.appkeys import CONFIG, DOMAIN
from server.domain.actor import Actor
from server.domain.errors import DomainError
from server.domain.service import Domain, TaskFilter

ErrorCode = errors_pb2.ErrorCode

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200
MAX_PAGE_SIZE = 1000


@dataclass(eq=False)
class ParkedPoll:
    """A long poll waiting for a change: who asked, and how it is ended without data."""

    request: web.Request
    # The peer's address from the socket, and the actor the security layer resolved for
    # it (None for the person at this machine).
    remote: str | None
    actor: Actor | None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    refusal: ApiError | None = None


#: Asked once more when a long poll wakes, before it reads anything: may this request
#: still see the board? None for yes, else the refusal to answer with. The security
#: layer sets it; without it every poll that got in may read.
PollCheck = Callable[[web.Request], Awaitable[ApiError | None]]
LONG_POLL_CHECK: web.AppKey[PollCheck] = web.AppKey("long_poll_check")


@dataclass
class LongPolls:
    """Long polls in progress, and the signal that ends them all at shutdown."""

    stop: asyncio.Event
    parked: set[ParkedPoll] = field(default_factory=set)

    @property
    def waiting(self) -> int:
        return len(self.parked)


LONG_POLLS = web.AppKey("long_polls", LongPolls)


def waiting_polls(app: web.Application) -> int:
    """How many long polls are waiting for a change (for status displays and tests)."""
    return app[LONG_POLLS].waiting


def end_polls(
    app: web.Application,
    predicate: Callable[[ParkedPoll], bool],
    code: errors_pb2.ErrorCode.ValueType,
    message: str,
) -> int:
    """End the parked long polls ``predicate`` picks with an error instead of data.

    For access that has just ended (an invite revoked, sharing switched off): a poll
    parked before would otherwise answer with whatever is committed next. Returns how
    many were ended.
    """
    polls = app.get(LONG_POLLS)
    if polls is None:
        return 0
    ended = 0
    for poll in list(polls.parked):
        if poll.refusal is None and predicate(poll):
            poll.refusal = ApiError(code, message)
            poll.ended.set()
            ended += 1
    return ended


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False


@dataclass
class Call:
    """One request as an operation sees it: its path ids, parsed body and query."""

    request: web.Request
    body: Message | None

    @property
    def domain(self) -> Domain:
        return self.request.app[DOMAIN]

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    async def command(self, command: Message) -> websocket_pb2.Ack:
        key = self.request.headers.get(IDEMPOTENCY_HEADER, "")
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise bad_request(
                f"{IDEMPOTENCY_HEADER} is longer than {MAX_IDEMPOTENCY_KEY} characters",
                field=IDEMPOTENCY_HEADER,
            )
        # A key names a retry of this request, so it is scoped to the method and path: the
        # same key sent with another request must not replay that request's answer (or
        # refusal) in its place.
        request_id = f"{self.request.method} {self.request.path}\x1f{key}" if key else ""
        try:
            actor = await request_actor(self.request)
            return await self.domain.command(actor, command, request_id)
        except DomainError as err:
            if key and err.field == "message_id":  # the same key, another body
                raise _reused_key() from err
            raise


Result = Message | web.StreamResponse | None
Handler = Callable[[Call], Awaitable[Result]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    tag: str
    response: type[Message] | None = None
    status: int = 200
    request: type[Message] | None = None
    # Every field of the body is optional; the body itself, and so its Content-Type, is
    # not (see ``parse_body``): send {} for the defaults.
    empty_body_ok: bool = False
    query: tuple[QueryParam, ...] = ()
    # Mutations accept an Idempotency-Key header.
    mutation: bool = False
    # For operations answering something other than a protobuf message (the OpenAPI
    # document itself): its JSON schema.
    raw_json_schema: Mapping[str, Any] | None = None


def _reused_key() -> ApiError:
    # The draft IETF Idempotency-Key header answers 422 to a key reused for another request.
    return ApiError(
        ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        f"this {IDEMPOTENCY_HEADER} was already used for a different change; nothing was changed",
        status=422,
        field=IDEMPOTENCY_HEADER,
    )


def _result(ack: websocket_pb2.Ack, name: str) -> Message:
    # A fresh command always answers with its own kind of result, so another kind can only
    # be the replayed answer to a different command that carried the same id (a WebSocket
    # message id equal to a scoped REST key): refuse, rather than fail with a 500.
    if ack.WhichOneof("result") != name:
        raise _reused_key()
    result: Message = getattr(ack, name)
    return result


def _created(call: Call, ack: websocket_pb2.Ack, name: str) -> web.Response:
    """201 with the new entity (the Ack's ``name`` result), and its address in Location."""
    entity = _result(ack, name)
    response = render(call.request, entity, status=201)
    entity_id = getattr(entity, "id")  # noqa: B009 - every entity has an id; Message types none
    response.headers["Location"] = f"/api/v1/{name}s/{entity_id}"
    return response


def _body(call: Call, kind: type[Any]) -> Any:
    assert isinstance(call.body, kind)
    return call.body


# --- query parsing --------------------------------------------------------------------


def _int_query(call: Call, name: str, default: int, *, low: int, high: int) -> int:
    raw = call.query(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise bad_request(f"{name} must be a whole number", field=name) from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}", field=name)
    return value


def _float_query(call: Call, name: str, default: float, *, low: float, high: float) -> float:
    raw = call.query(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number of seconds", field=name) from None
    if not math.isfinite(value) or value < low:
        raise bad_request(f"{name} must be a number of seconds, at least {low}", field=name)
    return min(value, high)


_STATUS_BY_NAME: dict[str, int] = {}
for _value in entities_pb2.TaskStatus.DESCRIPTOR.values:
    if _value.number == entities_pb2.TASK_STATUS_UNSPECIFIED:
        continue
    _STATUS_BY_NAME[_value.name] = _value.number
    _STATUS_BY_NAME[_value.name.removeprefix("TASK_STATUS_").lower()] = _value.number
STATUS_NAMES = tuple(_STATUS_BY_NAME)


def _status_query(call: Call) -> int:
    raw = call.query("status")
    if raw is None or raw == "":
        return 0
    number = _STATUS_BY_NAME.get(raw) or _STATUS_BY_NAME.get(raw.lower())
    if number is None:
        raise bad_request(f"status must be one of {', '.join(STATUS_NAMES)}", field="status")
    return number


# --- handlers -------------------------------------------------------------------------


async def get_health(call: Call) -> Message:
    return api_pb2.HealthResponse(status="ok", version=server.__version__)


async def get_openapi(call: Call) -> web.StreamResponse:
    from server.api.openapi import openapi_document

    return web.json_response(openapi_document(call.request.app))


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


async def create_project(call: Call) -> web.StreamResponse:
    project = _body(call, entities_pb2.Project)
    ack = await call.command(commands_pb2.CreateProject(project=project))
    return _created(call, ack, "project")


async def get_project(call: Call) -> Message:
    project: Message = await call.domain.read(call.domain.get_project, call.path("projectId"))
    return project


async def list_tasks(call: Call) -> Message:
    project_id = call.path("projectId")
    task_filter = TaskFilter(
        status=_status_query(call),
        assignee_id=call.query("assignee") or "",
        sprint_id=call.query("sprint") or "",
        label=call.query("label") or "",
        text=call.query("q") or "",
        page_size=_int_query(call, "pageSize", 100, low=1, high=MAX_PAGE_SIZE),
        page_token=call.query("pageToken") or "",
    )
    result: Message = await call.domain.read(call.domain.list_tasks, project_id, task_filter)
    return result


async def create_task(call: Call) -> web.StreamResponse:
    task = _body(call, entities_pb2.Task)
    cmd = commands_pb2.CreateTask(project_id=call.path("projectId"), task=task)
    ack = await call.command(cmd)
    return _created(call, ack, "task")


async def get_task(call: Call) -> Message:
    task: Message = await call.domain.read(call.domain.get_task, call.path("taskId"))
    return task


async def list_comments(call: Call) -> Message:
    comments = await call.domain.read(call.domain.list_comments, call.path("taskId"))
    return api_pb2.ListCommentsResponse(comments=comments)


async def add_comment(call: Call) -> web.StreamResponse:
    comment = _body(call, entities_pb2.Comment)
    cmd = commands_pb2.AddComment(
        task_id=call.path("taskId"), body=comment.body, comment_id=comment.id
    )
    ack = await call.command(cmd)
    return _created(call, ack, "comment")


async def list_sprints(call: Call) -> Message:
    sprints = await call.domain.read(call.domain.list_sprints, call.path("projectId"))
    return api_pb2.ListSprintsResponse(sprints=sprints)


async def create_sprint(call: Call) -> web.StreamResponse:
    sprint = _body(call, entities_pb2.Sprint)
    cmd = commands_pb2.CreateSprint(project_id=call.path("projectId"), sprint=sprint)
    ack = await call.command(cmd)
    return _created(call, ack, "sprint")


async def get_sprint(call: Call) -> Message:
    sprint: Message = await call.domain.read(call.domain.get_sprint, call.path("sprintId"))
    return sprint


def _change(kind: str, path_param: str, result: str, *, body: bool = True) -> Handler:
    """A handler for a command on the entity named in the path.

    With ``body``, the command is the request body (PATCH and the sprint actions) and the
    path's id wins over one in the body; without, it is only that id (DELETE, 204).
    """
    field = websocket_pb2.WebSocketMessage.DESCRIPTOR.fields_by_name[kind]
    assert field.message_type is not None
    command_type = message_factory.GetMessageClass(field.message_type)
    id_field = command_type.DESCRIPTOR.fields[0].name  # task_id, sprint_id, ...

    async def handler(call: Call) -> Message | None:
        command = _body(call, command_type) if body else command_type()
        setattr(command, id_field, call.path(path_param))
        ack = await call.command(command)
        entity = _result(ack, result)
        return entity if body else None

    return handler


update_project = _change("update_project", "projectId", "project")
delete_project = _change("delete_project", "projectId", "project", body=False)
update_task = _change("update_task", "taskId", "task")
move_task = _change("move_task", "taskId", "task")
delete_task = _change("delete_task", "taskId", "task", body=False)
edit_comment = _change("edit_comment", "commentId", "comment")
delete_comment = _change("delete_comment", "commentId", "comment", body=False)
update_sprint = _change("update_sprint", "sprintId", "sprint")
start_sprint = _change("start_sprint", "sprintId", "sprint")
complete_sprint = _change("complete_sprint", "sprintId", "sprint")


async def get_snapshot(call: Call) -> Message:
    snapshot: Message = await call.domain.read(call.domain.snapshot, call.path("projectId"))
    return snapshot


async def list_events(call: Call) -> Message:
    """The change log after ``since``; with ``wait``, hold the request until there is some."""
    project_id = call.path("projectId")
    since = _int_query(call, "since", 0, low=0, high=2**53)
    config = call.request.app[CONFIG]
    wait = _float_query(call, "wait", 0.0, low=0.0, high=config.max_poll_seconds)
    domain = call.domain
    page = await domain.read(domain.events_since, project_id, since)
    if page.events or page.resync_required or wait <= 0:
        return page
    request = call.request
    polls = request.app[LONG_POLLS]
    parked = ParkedPoll(request, request.remote, request.get(REQUEST_ACTOR))
    # Shutdown ends the wait at once, so a long poll never holds up a graceful stop; the
    # security layer ends it when this person's access ends (see ``end_polls``).
    waiter = asyncio.ensure_future(domain.wait_for_events(project_id, since, wait))
    stopper = asyncio.ensure_future(polls.stop.wait())
    ender = asyncio.ensure_future(parked.ended.wait())
    polls.parked.add(parked)
    try:
        await asyncio.wait({waiter, stopper, ender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        polls.parked.discard(parked)
        for task in (waiter, stopper, ender):
            task.cancel()
    if parked.refusal is not None:
        raise parked.refusal
    # Access may have ended while the poll waited without anyone ending it (a revocation
    # not yet noticed): ask again before reading anything.
    check = request.app.get(LONG_POLL_CHECK)
    refusal = await check(request) if check is not None else None
    if refusal is not None:
        raise refusal
    return await domain.read(domain.events_since, project_id, since)


# --- the table ------------------------------------------------------------------------

IDEMPOTENT_NOTE = (
    " Send an Idempotency-Key header to make a retry safe: the same key returns the"
    " first answer and changes nothing again."
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
    QueryParam("q", {"type": "string"}, "Only tasks whose key, title or description match."),
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

P = "/api/v1/projects/{projectId}"
T = "/api/v1/tasks/{taskId}"
S = "/api/v1/sprints/{sprintId}"
C = "/api/v1/comments/{commentId}"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/api/health",
        "getHealth",
        "Is the server up",
        get_health,
        "meta",
        api_pb2.HealthResponse,
    ),
    Operation(
        "GET",
        "/api/openapi.json",
        "getOpenApi",
        "This API's OpenAPI 3.1 document",
        get_openapi,
        "meta",
        raw_json_schema={"type": "object"},
    ),
    Operation(
        "GET",
        "/api/v1/me",
        "getMe",
        "The member this request acts as (local browsers name themselves with"
        " X-Tandem-Client-Id; LAN requests by their invite)",
        get_me,
        "members",
        entities_pb2.Member,
    ),
    Operation(
        "GET",
        "/api/v1/members",
        "listMembers",
        "Everyone who has used this board",
        list_members,
        "members",
        api_pb2.ListMembersResponse,
    ),
    Operation(
        "GET",
        "/api/v1/projects",
        "listProjects",
        "All projects",
        list_projects,
        "projects",
        api_pb2.ListProjectsResponse,
    ),
    Operation(
        "POST",
        "/api/v1/projects",
        "createProject",
        "Create a project (key and name required)." + IDEMPOTENT_NOTE,
        create_project,
        "projects",
        entities_pb2.Project,
        201,
        entities_pb2.Project,
        mutation=True,
    ),
    Operation("GET", P, "getProject", "One project", get_project, "projects", entities_pb2.Project),
    Operation(
        "PATCH",
        P,
        "updateProject",
        "Change the fields named in updateMask, based on baseVersion." + IDEMPOTENT_NOTE,
        update_project,
        "projects",
        entities_pb2.Project,
        200,
        commands_pb2.UpdateProject,
        mutation=True,
    ),
    Operation(
        "DELETE",
        P,
        "deleteProject",
        "Delete a project and everything in it.",
        delete_project,
        "projects",
        None,
        204,
        mutation=True,
    ),
    Operation(
        "GET",
        P + "/tasks",
        "listTasks",
        "A project's tasks, filtered and paged",
        list_tasks,
        "tasks",
        api_pb2.ListTasksResponse,
        query=TASK_FILTERS,
    ),
    Operation(
        "POST",
        P + "/tasks",
        "createTask",
        "Create a task (title required)." + IDEMPOTENT_NOTE,
        create_task,
        "tasks",
        entities_pb2.Task,
        201,
        entities_pb2.Task,
        mutation=True,
    ),
    Operation("GET", T, "getTask", "One task", get_task, "tasks", entities_pb2.Task),
    Operation(
        "PATCH",
        T,
        "updateTask",
        "Change the fields named in updateMask, based on baseVersion." + IDEMPOTENT_NOTE,
        update_task,
        "tasks",
        entities_pb2.Task,
        200,
        commands_pb2.UpdateTask,
        mutation=True,
    ),
    Operation(
        "DELETE",
        T,
        "deleteTask",
        "Delete a task and its subtasks.",
        delete_task,
        "tasks",
        None,
        204,
        mutation=True,
    ),
    Operation(
        "POST",
        T + "/move",
        "moveTask",
        "Move a task to a column, between two neighbours." + IDEMPOTENT_NOTE,
        move_task,
        "tasks",
        entities_pb2.Task,
        200,
        commands_pb2.MoveTask,
        mutation=True,
    ),
    Operation(
        "GET",
        T + "/comments",
        "listComments",
        "A task's comments, oldest first",
        list_comments,
        "comments",
        api_pb2.ListCommentsResponse,
    ),
    Operation(
        "POST",
        T + "/comments",
        "addComment",
        "Comment on a task (body required)." + IDEMPOTENT_NOTE,
        add_comment,
        "comments",
        entities_pb2.Comment,
        201,
        entities_pb2.Comment,
        mutation=True,
    ),
    Operation(
        "PATCH",
        C,
        "editComment",
        "Change a comment's body." + IDEMPOTENT_NOTE,
        edit_comment,
        "comments",
        entities_pb2.Comment,
        200,
        commands_pb2.EditComment,
        mutation=True,
    ),
    Operation(
        "DELETE",
        C,
        "deleteComment",
        "Delete a comment.",
        delete_comment,
        "comments",
        None,
        204,
        mutation=True,
    ),
    Operation(
        "GET",
        P + "/sprints",
        "listSprints",
        "A project's sprints",
        list_sprints,
        "sprints",
        api_pb2.ListSprintsResponse,
    ),
    Operation(
        "POST",
        P + "/sprints",
        "createSprint",
        "Plan a sprint (name required)." + IDEMPOTENT_NOTE,
        create_sprint,
        "sprints",
        entities_pb2.Sprint,
        201,
        entities_pb2.Sprint,
        mutation=True,
    ),
    Operation("GET", S, "getSprint", "One sprint", get_sprint, "sprints", entities_pb2.Sprint),
    Operation(
        "PATCH",
        S,
        "updateSprint",
        "Change the fields named in updateMask, based on baseVersion." + IDEMPOTENT_NOTE,
        update_sprint,
        "sprints",
        entities_pb2.Sprint,
        200,
        commands_pb2.UpdateSprint,
        mutation=True,
    ),
    Operation(
        "POST",
        S + "/start",
        "startSprint",
        "Start a planned sprint." + IDEMPOTENT_NOTE,
        start_sprint,
        "sprints",
        entities_pb2.Sprint,
        200,
        commands_pb2.StartSprint,
        empty_body_ok=True,
        mutation=True,
    ),
    Operation(
        "POST",
        S + "/complete",
        "completeSprint",
        "Complete the active sprint, carrying unfinished tasks over." + IDEMPOTENT_NOTE,
        complete_sprint,
        "sprints",
        entities_pb2.Sprint,
        200,
        commands_pb2.CompleteSprint,
        empty_body_ok=True,
        mutation=True,
    ),
    Operation(
        "GET",
        P + "/snapshot",
        "getSnapshot",
        "Everything needed to draw the project's board, read at one seq (what a WebSocket"
        " subscription sends first); poll the events endpoint from its seq.",
        get_snapshot,
        "events",
        websocket_pb2.Snapshot,
    ),
    Operation(
        "GET",
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


def _endpoint(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    allowed = {param.name for param in op.query}

    async def endpoint(request: web.Request) -> web.StreamResponse:
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            raise bad_request(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
        body: Message | None = None
        if op.request is not None:
            body = await parse_body(request, op.request)
        result = await op.handler(Call(request, body))
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        return render(request, result, status=op.status)

    endpoint.__name__ = op.operation_id
    return endpoint


def add_routes(app: web.Application) -> None:
    app[LONG_POLLS] = LongPolls(asyncio.Event())

    async def stop_polls(app: web.Application) -> None:
        app[LONG_POLLS].stop.set()

    app.on_shutdown.append(stop_polls)
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, _endpoint(op), name=op.operation_id)
