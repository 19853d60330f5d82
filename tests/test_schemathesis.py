"""Property-based checks of the live REST API against its own OpenAPI document.

Schemathesis generates requests from /api/openapi.json and checks that none gets a
5xx, that every answer matches the documented status codes, media types and body
schemas, and that a successful change answers with the message the table declares.

Random ids almost always miss, so each operation runs against a freshly seeded project
(tasks, an active and a planned sprint, comments): schemathesis's own hooks draw path
ids from the seed most of the time and random ones sometimes, and replace some
generated bodies and task filters with plausible ones (valid field masks, real member
and sprint ids, real page tokens) so the handlers behind the lookups are reached.
Bounded: positive generation, a fixed seed and ~30 cases per operation.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.hooks import HookDispatcher, HookScope
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tandem.v1 import entities_pb2

from server.api.codec import JSON, PROTOBUF, reject_unknown_fields
from server.api.operation import IDEMPOTENCY_HEADER, Operation
from server.api.routes import OPERATIONS
from tests.fixtures import ServerThread

MAX_EXAMPLES = 30
OPERATIONS_BY_ID: dict[str, Operation] = {op.operation_id: op for op in OPERATIONS}
# Schemathesis leaves out the document's own route; test_openapi covers it.
FUZZED = [op.operation_id for op in OPERATIONS if op.operation_id != "getOpenApi"]
# Before the seeded run, only the four operations without path ids (health, me, members,
# projects) ever got a 2xx; the seeded run reaches all 26, and must keep reaching most.
MIN_OPERATIONS_WITH_2XX = 24


def _request_message(operation_id: str) -> type[Message] | None:
    op = OPERATIONS_BY_ID.get(operation_id)
    return op.request if op is not None else None


@schemathesis.serializer(PROTOBUF)
def _protobuf_bytes(ctx: Any, value: Any) -> bytes:
    # Generated binary bodies go as they are; plausible bodies (JSON-mapping dicts) are
    # encoded as the operation's request message, so binary requests reach handlers too.
    if isinstance(value, bytes):
        return value
    message_type = _request_message(ctx.case.operation.definition.raw.get("operationId", ""))
    if isinstance(value, dict) and message_type is not None:
        try:
            return json_format.ParseDict(value, message_type()).SerializeToString()
        except (json_format.ParseError, ValueError, TypeError):
            pass
    return str(value).encode()


@pytest.fixture(scope="module")
def live_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on its own event loop thread, since schemathesis calls are blocking."""
    server = ServerThread(tmp_path_factory.mktemp("schemathesis"), max_poll_seconds=0.2)
    try:
        yield server.start().url
    finally:
        if server.is_running:
            server.stop()


@pytest.fixture(scope="module")
def api_schema(live_server_url: str) -> Any:
    config = schemathesis.Config()
    project = config.projects.default
    project.phases.update(phases=["examples", "fuzzing"])
    project.generation.update(
        max_examples=MAX_EXAMPLES, deterministic=True, modes=[schemathesis.GenerationMode.POSITIVE]
    )
    project.update(base_url=live_server_url.rstrip("/"))
    return schemathesis.openapi.from_url(live_server_url + "api/openapi.json", config=config)


# --- the seed ---------------------------------------------------------------------------


@dataclass
class Seed:
    """Real ids in one fresh project, by the path parameter that takes them."""

    project_id: str
    member_id: str
    task_ids: list[str]
    sprint_ids: list[str]
    planned_sprint_id: str
    comment_ids: list[str]
    labels: list[str]
    titles: list[str]
    page_tokens: list[str] = field(default_factory=list)

    def ids(self, name: str) -> list[str]:
        return {
            "projectId": [self.project_id],
            "taskId": self.task_ids,
            "sprintId": self.sprint_ids,
            "commentId": self.comment_ids,
        }.get(name, [])


class SeedClient:
    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.http = requests.Session()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, self.base + path, json=body, timeout=30)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


# Seeds take the next number for their projects' keys, so no two seeds share a key.
_seed_numbers = itertools.count(1)


def make_seed(base_url: str) -> Seed:
    number = next(_seed_numbers)
    client = SeedClient(base_url)
    member_id = client.call("GET", "/api/v1/me")["id"]
    # Generated keys start with a letter before I, so they never take a seed's key.
    key = f"SEED{number:02d}"
    project = client.call("POST", "/api/v1/projects", {"key": key, "name": f"Seed {key}"})
    pid = project["id"]
    active = client.call("POST", f"/api/v1/projects/{pid}/sprints", {"name": "Now", "goal": "g"})
    client.call("POST", f"/api/v1/sprints/{active['id']}/start", {})
    planned = client.call(
        "POST",
        f"/api/v1/projects/{pid}/sprints",
        {"name": "Next", "startDate": "2030-01-05", "endDate": "2030-01-19"},
    )
    titles = ["Write the docs", "Fix login", "Ship it", "Plan retro", "Tidy backlog"]
    tasks: list[dict[str, Any]] = []
    for n, title in enumerate(titles):
        body: dict[str, Any] = {"title": title, "labels": ["ui"] if n % 2 else ["api", "ui"]}
        if n < 3:
            body |= {"sprintId": active["id"], "assigneeId": member_id, "storyPoints": n + 1}
        if n == 4:
            body["parentTaskId"] = tasks[0]["id"]
        tasks.append(client.call("POST", f"/api/v1/projects/{pid}/tasks", body))
    comments = [
        client.call("POST", f"/api/v1/tasks/{tasks[0]['id']}/comments", {"body": text})
        for text in ("First!", "Looks good", "One more thing")
    ]
    page = client.call("GET", f"/api/v1/projects/{pid}/tasks?pageSize=2")
    # A sprint that can start: its project has no active sprint.
    idle = client.call("POST", "/api/v1/projects", {"key": f"IDLE{number:02d}", "name": "I"})
    startable = client.call("POST", f"/api/v1/projects/{idle['id']}/sprints", {"name": "Later"})
    return Seed(
        project_id=pid,
        member_id=member_id,
        task_ids=[t["id"] for t in tasks],
        sprint_ids=[active["id"], planned["id"], startable["id"]],
        planned_sprint_id=planned["id"],
        comment_ids=[c["id"] for c in comments],
        labels=["ui", "api"],
        titles=titles,
        page_tokens=[page["nextPageToken"]],
    )


# --- plausible values -------------------------------------------------------------------


def _enum_names(enum: Any) -> list[str]:
    return [value.name for value in enum.DESCRIPTOR.values]


STATUS_NAMES = _enum_names(entities_pb2.TaskStatus)
PRIORITY_NAMES = _enum_names(entities_pb2.TaskPriority)
texts = st.text(min_size=1, max_size=24)
dates = st.dates().map(lambda d: d.isoformat())
# Seeded entities are at version 1 or 2; a higher base version is refused as unknown.
versions = st.integers(min_value=0, max_value=2)


def _masked(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A non-empty subset of ``fields`` with values, as (mask, values)."""
    names = sorted(fields)
    return st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({name: fields[name] for name in chosen})
    )


def _update(entity: str, fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    return st.tuples(_masked(fields), versions).map(
        lambda pair: {"updateMask": ",".join(pair[0]), "baseVersion": pair[1], entity: pair[0]}
    )


def plausible_bodies(seed: Seed) -> dict[str, st.SearchStrategy[Any]]:
    """Bodies the domain may well accept, per operation: real ids, valid masks and enums."""
    task_ids = st.sampled_from(seed.task_ids)
    task_fields: dict[str, st.SearchStrategy[Any]] = {
        "title": texts,
        "description": st.text(max_size=40),
        "status": st.sampled_from(STATUS_NAMES),
        "priority": st.sampled_from(PRIORITY_NAMES),
        "assigneeId": st.sampled_from([seed.member_id, ""]),
        "storyPoints": st.integers(min_value=0, max_value=13),
        "labels": st.lists(st.sampled_from(["ui", "api", "bug", "x" * 60]), max_size=3),
        "dueDate": dates | st.just(""),
        "sprintId": st.sampled_from([*seed.sprint_ids, ""]),
        "parentTaskId": st.sampled_from([*seed.task_ids, ""]),
    }
    project_fields: dict[str, st.SearchStrategy[Any]] = {
        "key": st.from_regex(r"[A-H][A-Z0-9]{1,9}", fullmatch=True),
        "name": texts,
        "description": st.text(max_size=40),
    }
    sprint_fields: dict[str, st.SearchStrategy[Any]] = {
        "name": texts,
        "goal": st.text(max_size=40),
        "startDate": dates,
        "endDate": dates,
    }
    return {
        "createProject": _masked(project_fields).map(lambda p: {"name": "P"} | p),
        "updateProject": _update("project", project_fields),
        "createTask": _masked(task_fields).map(lambda t: {"title": "T"} | t),
        "updateTask": _update("task", task_fields),
        "moveTask": st.fixed_dictionaries(
            {"status": st.sampled_from(STATUS_NAMES)},
            optional={"afterTaskId": task_ids, "beforeTaskId": task_ids, "baseVersion": versions},
        ),
        "addComment": st.fixed_dictionaries({"body": texts}),
        "editComment": st.fixed_dictionaries({"body": texts}, optional={"baseVersion": versions}),
        "createSprint": _masked(sprint_fields).map(lambda s: {"name": "S"} | s),
        "updateSprint": _update("sprint", sprint_fields),
        "startSprint": st.just({}),
        "completeSprint": st.fixed_dictionaries(
            {}, optional={"moveOpenTasksToSprintId": st.sampled_from(seed.sprint_ids)}
        ),
    }


def plausible_queries(seed: Seed) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    return {
        "listTasks": st.fixed_dictionaries(
            {},
            optional={
                "status": st.sampled_from(STATUS_NAMES[1:]),
                "assignee": st.just(seed.member_id),
                "sprint": st.sampled_from(seed.sprint_ids),
                "label": st.sampled_from(seed.labels),
                "q": st.sampled_from(seed.titles).map(lambda t: t.split()[-1].lower()),
                "pageSize": st.integers(min_value=1, max_value=3),
                "pageToken": st.sampled_from(seed.page_tokens),
            },
        ),
        "listEvents": st.fixed_dictionaries(
            {"since": st.integers(min_value=0, max_value=20)}, optional={"wait": st.just(0)}
        ),
    }


def _mostly(real: st.SearchStrategy[Any], generated: Any) -> st.SearchStrategy[Any]:
    """``real`` four times in five, else the value schemathesis generated."""
    return st.integers(min_value=0, max_value=4).flatmap(
        lambda n: real if n else st.just(generated)
    )


def seeded_hooks(seed: Seed, operation_id: str) -> HookDispatcher:
    """Schemathesis hooks steering one operation's cases towards the seeded project."""
    hooks = HookDispatcher(scope=HookScope.TEST)

    def flatmap_path_parameters(ctx: Any, params: dict[str, Any] | None) -> st.SearchStrategy[Any]:
        if not params:
            return st.just(params)
        real = st.fixed_dictionaries(
            {name: st.sampled_from(seed.ids(name) or [value]) for name, value in params.items()}
        )
        return _mostly(real, params)

    hooks.register_hook_with_name(flatmap_path_parameters, "flatmap_path_parameters")
    body = plausible_bodies(seed).get(operation_id)
    if body is not None:

        def flatmap_body(ctx: Any, generated: Any) -> st.SearchStrategy[Any]:
            return _mostly(body, generated)

        hooks.register_hook_with_name(flatmap_body, "flatmap_body")
    if OPERATIONS_BY_ID[operation_id].mutation:

        def flatmap_headers(ctx: Any, generated: Any) -> st.SearchStrategy[Any]:
            # Generated keys repeat ("0", "") across operations, and a repeated key replays
            # the first answer: keep replays, but let most changes carry a key of their own.
            others = {k: v for k, v in (generated or {}).items() if k != IDEMPOTENCY_HEADER}
            fresh = st.none() | st.uuids().map(str)
            return _mostly(
                fresh.map(lambda key: others | ({IDEMPOTENCY_HEADER: key} if key else {})),
                generated,
            )

        hooks.register_hook_with_name(flatmap_headers, "flatmap_headers")
    query = plausible_queries(seed).get(operation_id)
    if query is not None:

        def flatmap_query(ctx: Any, generated: Any) -> st.SearchStrategy[Any]:
            return _mostly(query, generated)

        hooks.register_hook_with_name(flatmap_query, "flatmap_query")
    return hooks


# --- checks -----------------------------------------------------------------------------


def _parent_field(operation_id: str) -> tuple[str, str] | None:
    """For a create under a parent: (path parameter, field of the answer naming it)."""
    return {
        "createTask": ("projectId", "project_id"),
        "createSprint": ("projectId", "project_id"),
        "addComment": ("taskId", "task_id"),
        "uploadAttachment": ("taskId", "task_id"),
    }.get(operation_id)


def declared_message(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 2xx answer to POST or PATCH is exactly the declared message, about that entity."""
    if case.operation.method.upper() not in {"POST", "PATCH"}:
        return None
    if not 200 <= response.status_code < 300:
        return None
    operation_id = case.operation.definition.raw["operationId"]
    op = OPERATIONS_BY_ID[operation_id]
    assert op.response is not None, operation_id
    message = op.response()
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if content_type == PROTOBUF:
        message.ParseFromString(response.content)
        reject_unknown_fields(message)
    else:
        assert content_type == JSON, content_type
        json_format.Parse(response.content, message, ignore_unknown_fields=False)
    params = case.path_parameters or {}
    fields = json_format.MessageToDict(message, preserving_proto_field_name=True)
    parent = _parent_field(operation_id)
    if parent is not None:
        param, name = parent
        assert fields.get(name) == params[param], (operation_id, fields)
    elif len(params) == 1 and "id" in message.DESCRIPTOR.fields_by_name:
        # An update, move, start or complete answers with the entity the path named.
        assert fields.get("id") == next(iter(params.values())), (operation_id, fields)
    return True


CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    declared_message,
]


# --- the run ----------------------------------------------------------------------------


@dataclass
class OperationRun:
    """What one operation's seeded run saw: the status codes answered, and its failure."""

    statuses: Counter[int] = field(default_factory=Counter)
    failure: BaseException | None = None


class SeededRuns:
    """Each operation's seeded run, made at most once per module, on first demand: by its
    own test, or by the summary when that runs alone."""

    def __init__(self, schema: Any, base_url: str) -> None:
        self.schema = schema
        self.base_url = base_url
        self._runs: dict[str, OperationRun] = {}

    def of(self, operation_id: str) -> OperationRun:
        if operation_id not in self._runs:
            self._runs[operation_id] = self._run(operation_id)
        return self._runs[operation_id]

    def _run(self, operation_id: str) -> OperationRun:
        # Each operation runs as its own Hypothesis test against its own fresh project, so
        # a delete fuzzed earlier cannot empty the board for the operations after it.
        seed = make_seed(self.base_url)
        operation = next(
            result.ok()
            for result in self.schema.get_all_operations()
            if result.ok().definition.raw.get("operationId") == operation_id
        )
        run = OperationRun()
        strategy = operation.as_strategy(hooks=seeded_hooks(seed, operation_id))

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call()
            run.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as failure:  # reported by the operation's own test
            run.failure = failure
        return run


@pytest.fixture(scope="module")
def seeded_runs(api_schema: Any, live_server_url: str) -> SeededRuns:
    return SeededRuns(api_schema, live_server_url)


@pytest.mark.parametrize("operation_id", FUZZED)
def test_api_conforms_to_its_openapi_document(seeded_runs: SeededRuns, operation_id: str) -> None:
    failure = seeded_runs.of(operation_id).failure
    if failure is not None:
        raise failure


def test_the_seeded_run_reached_the_handlers(seeded_runs: SeededRuns) -> None:
    statuses = {op: seeded_runs.of(op).statuses for op in FUZZED}
    reached = sorted(op for op, codes in statuses.items() if any(200 <= c < 300 for c in codes))
    print(f"\n{len(reached)} of {len(statuses)} operations got a 2xx; status codes per operation:")
    for op in FUZZED:
        codes = statuses[op]
        print(f"  {op:16} {len(codes)} distinct: {dict(sorted(codes.items()))}")
    assert len(reached) >= MIN_OPERATIONS_WITH_2XX, reached


# --- regressions the seeded run found ---------------------------------------------------


def test_an_idempotency_key_is_scoped_to_its_request(live_server_url: str) -> None:
    # Found by the seeded run: generated keys repeat across operations, and the replayed
    # answer of another command made a change fail with a 500 ("the change gave no result")
    # or answer with another request's refusal while changing nothing.
    seed = make_seed(live_server_url)
    http = requests.Session()
    base = live_server_url.rstrip("/")
    key = {IDEMPOTENCY_HEADER: "same-key"}
    created = http.post(f"{base}/api/v1/projects", json={"key": "KEYS", "name": "K"}, headers=key)
    assert created.status_code == 201, created.text
    task_id = seed.task_ids[0]
    comment = http.post(f"{base}/api/v1/tasks/{task_id}/comments", json={"body": "hi"}, headers=key)
    assert comment.status_code == 201, comment.text
    assert comment.json()["taskId"] == task_id and comment.json()["body"] == "hi"
    # A refusal under a key is not the answer to a different request with that key.
    refused = http.patch(f"{base}/api/v1/tasks/{task_id}", json={}, headers=key)
    assert refused.status_code == 400, refused.text
    deleted = http.delete(f"{base}/api/v1/tasks/{task_id}", headers=key)
    assert deleted.status_code == 204, deleted.text
    assert http.get(f"{base}/api/v1/tasks/{task_id}").status_code == 404
    # The same request with the same key is still a retry: the first answer, nothing new.
    retry = http.post(f"{base}/api/v1/projects", json={"key": "KEYS", "name": "K"}, headers=key)
    assert retry.status_code == 201 and retry.json() == created.json()


def test_an_answer_of_another_kind_is_refused_not_a_server_error() -> None:
    from tandem.v1 import websocket_pb2

    from server.api.errors import ApiError
    from server.api.operation import result_of as _result

    with pytest.raises(ApiError) as refused:
        _result(websocket_pb2.Ack(project=entities_pb2.Project(id="p")), "task")
    assert refused.value.status == 422
    assert refused.value.field == IDEMPOTENCY_HEADER
