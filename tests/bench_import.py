"""Benchmark: importing 10,000 Trello cards into a project a live client is watching.

Tandem's import (one command: the file read, every row built, one bulk transaction, one
``project_imported`` event), sent to a real ``tandem serve`` process as ``tandem import``
sends it, runs side by side with its reference: the same 10,000 cards made one
``create_task`` command each through the domain, 200 in flight (group-committed, no network
and no rate limit: the cheapest that way can be). Printed: each one's time, the ratio, and
how many change-log events live clients get for it. The target: the import within 5 s,
reaching the client as one event, not 10,000. Run with `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
from tandem.v1 import commands_pb2, entities_pb2, transfer_pb2

from server.config import ServerConfig
from server.domain.service import open_domain
from server.storage.models import TaskRow
from tests import transfer_files as files
from tests.fixtures import start_process
from tests.ws_client import WsClient, make_project, subscribe

CARDS = 10_000
TARGET_SECONDS = 5.0
IN_FLIGHT = 200


async def watcher(http: aiohttp.ClientSession, ws: str, key: str) -> tuple[WsClient, str]:
    client = await WsClient.connect(http, ws)
    project = await make_project(client, key, key)
    await subscribe(client, project.id)
    return client, project.id


def frames_since(client: WsClient, start: int) -> list[str]:
    return [str(m.WhichOneof("payload")) for m in client.received[start:]]


async def tandem_import(http: aiohttp.ClientSession, base: str, ws: str) -> tuple[float, int, int]:
    client, _ = await watcher(http, ws, "IMP")
    board = files.trello_board(cards=CARDS - 6)
    data = json.dumps(board).encode()
    command = transfer_pb2.ImportWorkspace(data=data, file_name="board.json", project_key="IMP")
    start = len(client.received)
    began = time.perf_counter()
    async with http.post(
        f"{base}/api/v1/imports",
        data=command.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", "Accept": "application/x-protobuf"},
    ) as reply:
        body = await reply.read()
        if reply.status != 200:
            raise SystemExit(f"import failed: {reply.status} {body[:300]!r}")
    summary = transfer_pb2.ImportSummary.FromString(body)
    await client.wait_for(lambda m: m.WhichOneof("payload") == "project_imported", 60, start)
    took = time.perf_counter() - began
    events = [f for f in frames_since(client, start) if f not in ("presence_diff", "user_presence")]
    await client.close()
    return took, summary.projects[0].tasks, len(events)


async def one_command_per_card(data_dir: Path) -> tuple[float, int, int]:
    """The same cards as 10,000 ``create_task`` commands through the domain (no network, no
    rate limit: the cheapest that way can be), 200 in flight, committed in groups."""
    domain = open_domain(ServerConfig(data_dir=data_dir))
    try:
        owner = domain.owner_actor()
        made = await domain.command(
            owner,
            commands_pb2.CreateProject(project=entities_pb2.Project(key="REF", name="Reference")),
        )
        project_id = made.project.id
        events: list[int] = []
        domain.sink.add_listener(lambda committed: events.append(len(committed)))
        began = time.perf_counter()

        def card(i: int) -> commands_pb2.CreateTask:
            task = entities_pb2.Task(title=f"Card {i}", description="words " * 10)
            return commands_pb2.CreateTask(project_id=project_id, task=task)

        for first in range(0, CARDS, IN_FLIGHT):
            batch = range(first, min(CARDS, first + IN_FLIGHT))
            await asyncio.gather(*(domain.command(owner, card(i)) for i in batch))
        took = time.perf_counter() - began
        count = await domain.read(
            lambda: TaskRow.select().where(TaskRow.project_id == project_id).count()
        )
    finally:
        domain.close()
    return took, count, sum(events)


def met(seconds: float, events: int) -> bool:
    return seconds <= TARGET_SECONDS and events == 1


async def run(base: str, reference_dir: Path) -> dict[str, float]:
    ws = base.replace("http://", "ws://") + "/ws"
    async with aiohttp.ClientSession(headers={"Origin": base}) as http:
        imported, made, import_frames = await tandem_import(http, base, ws)
    reference, ref_made, ref_frames = await one_command_per_card(reference_dir)
    print(
        f"  Tandem import, one transaction:     {made} cards in {imported:.2f} s,"
        f" {import_frames} change-log event(s) to the live client"
    )
    print(
        f"  reference, one command per card:   {ref_made} cards in {reference:.2f} s,"
        f" {ref_frames} change-log events for live clients"
    )
    print(
        f"  ratio (reference / import): {reference / imported:.1f}x;"
        f" target: import <= {TARGET_SECONDS:.0f} s and one frame:"
        f" {'met' if met(imported, import_frames) else 'MISSED'}"
    )
    return {"import_s": imported, "reference_s": reference, "frames": import_frames}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_process(Path(tmp) / "data")
        try:
            result = asyncio.run(run(base, Path(tmp) / "reference"))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if not met(result["import_s"], int(result["frames"])):
        raise SystemExit("the import missed its target")


if __name__ == "__main__":
    main()
