"""Property: no byte string and no well-formed but wrong message harms the server or the data.

Two kinds of wrong message: ones that name things that do not exist, and ones aimed at real
entities (wrong versions and masks, out-of-range enums, another project's sprint or task, a
parent that would make a cycle in a deep chain, over-long strings). Every one of them must be
refused, so after each batch every table holds exactly the rows it held before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf import field_mask_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tandem.v1 import commands_pb2, entities_pb2, events_pb2, websocket_pb2

from server.appkeys import CONFIG
from tests.api_client import database_rows
from tests.fixtures import ServerThread
from tests.ws_client import WsClient

Msg = websocket_pb2.WebSocketMessage
ids = st.one_of(st.just(""), st.uuids().map(str), st.text(max_size=40))
text = st.text(max_size=60)
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)

# Each is well-formed protobuf but names things that do not exist, or is not a command.
wrong_messages = st.one_of(
    st.builds(
        lambda i, t: Msg(message_id=i, update_task=commands_pb2.UpdateTask(task_id=t)), ids, ids
    ),
    st.builds(
        lambda i, t, v: Msg(
            message_id=i, move_task=commands_pb2.MoveTask(task_id=t, base_version=v)
        ),
        ids,
        ids,
        ints,
    ),
    st.builds(
        lambda i, t: Msg(message_id=i, delete_task=commands_pb2.DeleteTask(task_id=t)), ids, ids
    ),
    st.builds(
        lambda i, t, b: Msg(message_id=i, add_comment=commands_pb2.AddComment(task_id=t, body=b)),
        ids,
        ids,
        text,
    ),
    st.builds(
        lambda i, p, t: Msg(
            message_id=i,
            create_task=commands_pb2.CreateTask(project_id=p, task=entities_pb2.Task(title=t)),
        ),
        ids,
        ids,
        text,
    ),
    st.builds(
        lambda i, s: Msg(message_id=i, start_sprint=commands_pb2.StartSprint(sprint_id=s)),
        ids,
        ids,
    ),
    st.builds(
        lambda i, p: Msg(message_id=i, delete_project=commands_pb2.DeleteProject(project_id=p)),
        ids,
        ids,
    ),
    st.builds(
        lambda i, p, s: Msg(
            message_id=i, subscribe=commands_pb2.Subscribe(project_id=p, since_seq=s)
        ),
        ids,
        ids,
        ints,
    ),
    st.builds(
        lambda i, v: Msg(message_id=i, hello=commands_pb2.Hello(protocol_version=v)),
        ids,
        st.integers(min_value=-(2**31), max_value=2**31 - 1),
    ),
    st.builds(
        lambda i, p, f: Msg(
            message_id=i,
            update_presence=commands_pb2.UpdatePresence(project_id=p, editing_field=f),
        ),
        ids,
        ids,
        text,
    ),
    st.builds(
        lambda i, p, s: Msg(message_id=i, task_created=events_pb2.TaskCreated(project_id=p, seq=s)),
        ids,
        ids,
        ints,
    ),
    st.builds(lambda i: Msg(message_id=i), ids),
)
frames = st.one_of(st.binary(max_size=300), wrong_messages.map(lambda m: m.SerializeToString()))


@dataclass
class World:
    """Real entities the aimed messages name. Nothing may change them."""

    project: entities_pb2.Project
    other_project: entities_pb2.Project
    # A chain of subtasks, root first; each task's parent is the one before it.
    chain: list[entities_pb2.Task]
    other_task: entities_pb2.Task
    active_sprint: entities_pb2.Sprint
    planned_sprint: entities_pb2.Sprint
    done_sprint: entities_pb2.Sprint
    other_sprint: entities_pb2.Sprint
    comment: entities_pb2.Comment

    @property
    def sprints(self) -> list[entities_pb2.Sprint]:
        # Not other_sprint: it is planned in a project with no active sprint, so starting
        # it would rightly succeed.
        return [self.active_sprint, self.planned_sprint, self.done_sprint]


Aimed = Callable[[World], Msg]
TASK_STATUSES = set(entities_pb2.TaskStatus.values())
TASK_PRIORITIES = set(entities_pb2.TaskPriority.values())
CHAIN_DEPTH = 40


def aimed(build: Callable[..., Msg], *parts: st.SearchStrategy[Any]) -> st.SearchStrategy[Aimed]:
    """A message built against the real World once it exists."""
    return st.tuples(*parts).map(lambda args: lambda world: build(world, *args))


def wrong_version(current: int, offset: int, below: bool) -> int:
    """Not a version of the entity: negative, or above its current version."""
    return -offset if below else min(current + offset, 2**63 - 1)


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def long_text(n: int) -> str:
    return "x" * n


picks = st.integers(min_value=0, max_value=10_000)
offsets = st.integers(min_value=1, max_value=2**62)
out_of_range = st.integers(min_value=-(2**31), max_value=2**31 - 1)
bad_paths = st.sampled_from(["", "id", "version", "project_id", "number", "task.title", "nope"])
good_task_paths = st.lists(st.sampled_from(["title", "description", "labels"]), max_size=2)
bad_dates = st.sampled_from(["2026-13-01", "yesterday", "01/02/2026", "2026-02-30"])


def task_at(world: World, i: int) -> entities_pb2.Task:
    return world.chain[i % len(world.chain)]


def update_task(mid: str, target: entities_pb2.Task, **kw: Any) -> Msg:
    return Msg(message_id=mid, update_task=commands_pb2.UpdateTask(task_id=target.id, **kw))


aimed_messages = st.one_of(
    # An update from a version the task never had.
    aimed(
        lambda w, mid, i, off, below, title: update_task(
            mid,
            task_at(w, i),
            base_version=wrong_version(task_at(w, i).version, off, below),
            update_mask=mask("title"),
            task=entities_pb2.Task(title=title or "t"),
        ),
        ids,
        picks,
        offsets,
        st.booleans(),
        text,
    ),
    # A mask naming a field that cannot be updated (alone or among good ones), or none.
    aimed(
        lambda w, mid, i, good, bad, empty: update_task(
            mid,
            task_at(w, i),
            update_mask=mask() if empty else mask(*good, bad),
            task=entities_pb2.Task(title="changed", description="changed", labels=["l"]),
        ),
        ids,
        picks,
        good_task_paths,
        bad_paths,
        st.booleans(),
    ),
    # Enum values outside the schema's.
    aimed(
        lambda w, mid, i, field, value: update_task(
            mid,
            task_at(w, i),
            update_mask=mask(field),
            task=entities_pb2.Task(**{field: value}),
        ),
        ids,
        picks,
        st.sampled_from(["status", "priority"]),
        out_of_range.filter(lambda v: v not in TASK_STATUSES | TASK_PRIORITIES),
    ),
    # Another project's sprint or task.
    aimed(
        lambda w, mid, i, sprint: update_task(
            mid,
            task_at(w, i),
            update_mask=mask("sprint_id" if sprint else "parent_task_id"),
            task=entities_pb2.Task(sprint_id=w.other_sprint.id, parent_task_id=w.other_task.id),
        ),
        ids,
        picks,
        st.booleans(),
    ),
    # A parent that would close a cycle in the deep chain (a task under its own subtask).
    aimed(
        lambda w, mid, i, j: update_task(
            mid,
            w.chain[min(i, j) % CHAIN_DEPTH],
            update_mask=mask("parent_task_id"),
            task=entities_pb2.Task(parent_task_id=w.chain[max(i, j) % CHAIN_DEPTH].id),
        ),
        ids,
        st.integers(0, CHAIN_DEPTH - 1),
        st.integers(0, CHAIN_DEPTH - 1),
    ),
    # Strings and numbers past their limits.
    aimed(
        lambda w, mid, i, field, n: update_task(
            mid,
            task_at(w, i),
            update_mask=mask(field),
            task=entities_pb2.Task(
                title=long_text(501 + n),
                description=long_text(100_001 + n),
                labels=[long_text(51 + n)],
                story_points=1001 + n,
            ),
        ),
        ids,
        picks,
        st.sampled_from(["title", "description", "labels", "story_points"]),
        st.integers(0, 1000),
    ),
    # A new task that breaks a rule while naming real things.
    aimed(
        lambda w, mid, how, i: Msg(
            message_id=mid,
            create_task=commands_pb2.CreateTask(
                project_id=w.project.id,
                task={
                    "reuse id": entities_pb2.Task(id=task_at(w, i).id, title="dup"),
                    "other sprint": entities_pb2.Task(title="t", sprint_id=w.other_sprint.id),
                    "other parent": entities_pb2.Task(title="t", parent_task_id=w.other_task.id),
                    "no title": entities_pb2.Task(parent_task_id=task_at(w, i).id),
                    "bad status": entities_pb2.Task(title="t", status=99),  # type: ignore[arg-type]
                    "long title": entities_pb2.Task(title=long_text(501)),
                }[how],
            ),
        ),
        ids,
        st.sampled_from(
            ["reuse id", "other sprint", "other parent", "no title", "bad status", "long title"]
        ),
        picks,
    ),
    # Moves from a wrong version, or next to another project's task, or to no status.
    aimed(
        lambda w, mid, i, how, off, below: Msg(
            message_id=mid,
            move_task=commands_pb2.MoveTask(
                task_id=task_at(w, i).id,
                base_version=(
                    wrong_version(task_at(w, i).version, off, below) if how == "version" else 0
                ),
                status=99 if how == "status" else entities_pb2.TASK_STATUS_DONE,  # type: ignore[arg-type]
                after_task_id=w.other_task.id if how == "neighbour" else "",
            ),
        ),
        ids,
        picks,
        st.sampled_from(["version", "status", "neighbour"]),
        offsets,
        st.booleans(),
    ),
    # A comment edit from a version it never had; comments too long or empty.
    aimed(
        lambda w, mid, off, below, body: Msg(
            message_id=mid,
            edit_comment=commands_pb2.EditComment(
                comment_id=w.comment.id,
                body=body or "other",
                base_version=wrong_version(w.comment.version, off, below),
            ),
        ),
        ids,
        offsets,
        st.booleans(),
        st.text(min_size=1, max_size=40).filter(lambda b: b.strip() and "\x00" not in b),
    ),
    aimed(
        lambda w, mid, i, n: Msg(
            message_id=mid,
            add_comment=commands_pb2.AddComment(
                task_id=task_at(w, i).id, body=" " if n < 0 else long_text(50_001 + n)
            ),
        ),
        ids,
        picks,
        st.integers(-1, 1000),
    ),
    # Sprints: started twice, completed when not active, carried into another project.
    aimed(
        lambda w, mid, i: Msg(
            message_id=mid,
            start_sprint=commands_pb2.StartSprint(sprint_id=w.sprints[i % 3].id),
        ),
        ids,
        picks,
    ),
    aimed(
        lambda w, mid, how: Msg(
            message_id=mid,
            complete_sprint=commands_pb2.CompleteSprint(
                sprint_id=w.active_sprint.id if how != "not active" else w.planned_sprint.id,
                move_open_tasks_to_sprint_id={
                    "other project": w.other_sprint.id,
                    "completed": w.done_sprint.id,
                    "not active": "",
                }[how],
            ),
        ),
        ids,
        st.sampled_from(["other project", "completed", "not active"]),
    ),
    aimed(
        lambda w, mid, i, how, off, below, date: Msg(
            message_id=mid,
            update_sprint=commands_pb2.UpdateSprint(
                sprint_id=w.sprints[i % 3].id,
                base_version=(
                    wrong_version(w.sprints[i % 3].version, off, below) if how == "version" else 0
                ),
                update_mask=mask("name" if how == "version" else "end_date"),
                sprint=entities_pb2.Sprint(
                    name="renamed",
                    end_date="2000-01-01" if how == "before start" else date,
                ),
            ),
        ),
        ids,
        picks,
        st.sampled_from(["version", "before start", "bad date"]),
        offsets,
        st.booleans(),
        bad_dates,
    ),
    aimed(
        lambda w, mid, name, end: Msg(
            message_id=mid,
            create_sprint=commands_pb2.CreateSprint(
                project_id=w.project.id,
                sprint=entities_pb2.Sprint(
                    name=name, start_date="2026-02-01", end_date=end or "2026-01-01"
                ),
            ),
        ),
        ids,
        text,
        st.one_of(st.just(""), bad_dates),
    ),
    # Projects: a wrong version, a taken or malformed key.
    aimed(
        lambda w, mid, how, off, below: Msg(
            message_id=mid,
            update_project=commands_pb2.UpdateProject(
                project_id=w.project.id,
                base_version=(
                    wrong_version(w.project.version, off, below) if how == "version" else 0
                ),
                update_mask=mask("name" if how == "version" else "key"),
                project=entities_pb2.Project(
                    name="renamed", key=w.other_project.key if how == "taken key" else "1x"
                ),
            ),
        ),
        ids,
        st.sampled_from(["version", "taken key", "bad key"]),
        offsets,
        st.booleans(),
    ),
    aimed(
        lambda w, mid, other: Msg(
            message_id=mid,
            create_project=commands_pb2.CreateProject(
                project=entities_pb2.Project(
                    key=(w.other_project if other else w.project).key, name="again"
                )
            ),
        ),
        ids,
        st.booleans(),
    ),
    # Reads and subscriptions on real projects change nothing either.
    aimed(
        lambda w, mid, since, epoch, sprint: Msg(
            message_id=mid,
            subscribe=commands_pb2.Subscribe(
                project_id=w.project.id,
                since_seq=since,
                epoch=epoch,
                sprint_id=w.other_sprint.id if sprint else "",
            ),
        ),
        ids,
        ints,
        text,
        st.booleans(),
    ),
    aimed(
        lambda w, mid, i: Msg(
            message_id=mid, list_comments=commands_pb2.ListComments(task_id=task_at(w, i).id)
        ),
        ids,
        picks,
    ),
)


class Running(ServerThread):
    """The server on its own thread and loop, so each example can be a plain asyncio.run."""

    world: World | None = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        rows = database_rows(self.app[CONFIG].database_path)
        # A refused command's answer is remembered under its message id, so that a client
        # repeating it gets the same reject (docs/protocol.md, idempotency): the one write
        # a refusal makes (with its member's count of remembered bytes), and it changes no
        # data.
        del rows["applied_request"]
        rows.pop("applied_request_spent", None)  # SQLite's alone (V_APPLIED_REQUEST_SPENT)
        return rows


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    server = Running(tmp_path / "data", access_log=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


#: Every fuzzing connection says hello as the same browser, so hello finds its member
#: instead of registering a new one (which would be a legitimate change).
CLIENT_ID = "fuzzer"


async def seed(url: str) -> World:
    async with aiohttp.ClientSession() as session:
        # The two members a fuzzed hello can act as: this browser, and the desktop owner.
        owner = await WsClient.connect(session, url, hello=False)
        r = await owner.request(hello=commands_pb2.Hello(protocol_version=1))
        assert r.HasField("ack"), r
        await owner.close()
        fuzzer = await WsClient.connect(session, url, client_id=CLIENT_ID)
        await fuzzer.close()
        # Seeded under another client id, so no fuzzed message id can replay a seed's Ack.
        client = await WsClient.connect(session, url, client_id="seeder")

        async def ack(**payload: Any) -> websocket_pb2.Ack:
            reply = await client.request(**payload)
            assert reply.HasField("ack"), reply
            return reply.ack

        async def project(key: str) -> entities_pb2.Project:
            made = await ack(
                create_project=commands_pb2.CreateProject(
                    project=entities_pb2.Project(key=key, name=key)
                )
            )
            return made.project

        async def task(project_id: str, title: str, parent: str = "") -> entities_pb2.Task:
            made = await ack(
                create_task=commands_pb2.CreateTask(
                    project_id=project_id,
                    task=entities_pb2.Task(title=title, parent_task_id=parent),
                )
            )
            return made.task

        async def sprint(project_id: str, name: str, *steps: str) -> entities_pb2.Sprint:
            made = (
                await ack(
                    create_sprint=commands_pb2.CreateSprint(
                        project_id=project_id,
                        sprint=entities_pb2.Sprint(
                            name=name, start_date="2026-01-01", end_date="2026-01-14"
                        ),
                    )
                )
            ).sprint
            for step in steps:
                if step == "start":
                    made = (
                        await ack(start_sprint=commands_pb2.StartSprint(sprint_id=made.id))
                    ).sprint
                else:
                    made = (
                        await ack(complete_sprint=commands_pb2.CompleteSprint(sprint_id=made.id))
                    ).sprint
            return made

        main = await project("FUZ")
        other = await project("OTH")
        chain = [await task(main.id, "keep me")]
        for depth in range(1, CHAIN_DEPTH):
            chain.append(await task(main.id, f"level {depth}", chain[-1].id))
        done = await sprint(main.id, "done", "start", "complete")
        active = await sprint(main.id, "active", "start")
        planned = await sprint(main.id, "planned")
        elsewhere = await sprint(other.id, "elsewhere")
        comment = (
            await ack(add_comment=commands_pb2.AddComment(task_id=chain[0].id, body="keep"))
        ).comment
        world = World(
            project=main,
            other_project=other,
            chain=chain,
            other_task=await task(other.id, "other"),
            active_sprint=active,
            planned_sprint=planned,
            done_sprint=done,
            other_sprint=elsewhere,
            comment=comment,
        )
        await client.close()
        return world


async def feed(url: str, batch: list[bytes], say_hello: bool) -> list[Msg]:
    """Send ``batch`` on one connection; return what the server sent back."""
    async with aiohttp.ClientSession() as session:
        client = await WsClient.connect(session, url, hello=say_hello, client_id=CLIENT_ID)
        for frame in batch:
            if client.closed.is_set():
                break
            try:
                await client.ws.send_bytes(frame)
            except ConnectionError:
                break
        if not client.closed.is_set():
            # Everything before it was answered or the socket closed: the probe shows which.
            try:
                probe = await client.request(
                    "probe", unsubscribe=commands_pb2.Unsubscribe(subscription_id="x")
                )
            except ConnectionError:
                pass  # closed with a code for a bad frame: allowed
            else:
                assert probe.HasField("reject")
        await client.ws.close()
        return client.received


def world_of(running: Running) -> World:
    if running.world is None:
        running.world = asyncio.run(seed(running.ws_url))
    return running.world


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(batch=st.lists(frames, min_size=1, max_size=4), say_hello=st.booleans())
def test_random_frames_never_harm_the_server_or_the_data(
    running: Running, batch: list[bytes], say_hello: bool
) -> None:
    world_of(running)
    before = running.rows()
    asyncio.run(feed(running.ws_url, batch, say_hello))
    assert running.rows() == before
    # The server still answers a well-behaved client.
    asyncio.run(feed(running.ws_url, [], True))


@SETTINGS
@given(batch=st.lists(aimed_messages, min_size=1, max_size=4))
def test_wrong_messages_about_real_entities_change_no_row(
    running: Running, batch: list[Aimed]
) -> None:
    world = world_of(running)
    before = running.rows()
    frames = [build(world).SerializeToString() for build in batch]
    answers = asyncio.run(feed(running.ws_url, frames, True))
    # Each was answered (the probe came after them), and none committed a change.
    assert not [m for m in answers if m.HasField("ack") and m.ack.seq]
    assert running.rows() == before
