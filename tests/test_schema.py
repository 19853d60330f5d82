"""The schema's promises: generated code is fresh, and the ADR-0005 envelope keeps its numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tandem.v1 import websocket_pb2

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "proto" / "tandem" / "v1"


def test_generated_python_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "tandem" / "v1").glob("*_pb2.py*")}
    committed = {p.name: p.read_bytes() for p in GENERATED.glob("*_pb2.py*")}
    assert fresh.keys() == committed.keys(), "generated files differ: run `make proto`"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"stale generated code {stale}: run `make proto` and commit the result"


def test_every_proto_has_generated_code() -> None:
    protos = {p.stem for p in GENERATED.glob("*.proto")}
    modules = {p.name.removesuffix("_pb2.py") for p in GENERATED.glob("*_pb2.py")}
    assert protos == modules


def test_envelope_keeps_adr_0005_field_numbers() -> None:
    fields = websocket_pb2.WebSocketMessage.DESCRIPTOR.fields_by_name
    expected = {
        "message_id": 1,
        "task_created": 2,
        "task_updated": 3,
        "task_deleted": 4,
        "comment_added": 5,
        "sprint_updated": 6,
        "user_presence": 7,
    }
    assert {name: fields[name].number for name in expected} == expected
    payload = websocket_pb2.WebSocketMessage.DESCRIPTOR.oneofs_by_name["payload"]
    assert {f.name for f in payload.fields} >= set(expected) - {"message_id"}


def test_every_event_carries_project_id_and_seq() -> None:
    payload = websocket_pb2.WebSocketMessage.DESCRIPTOR.oneofs_by_name["payload"]
    for field in payload.fields:
        event = field.message_type
        if field.number < 16 and event is not None:
            assert {"project_id", "seq"} <= set(event.fields_by_name), event.name
