"""The ``tandem`` command: serve as a real subprocess, --version, decode, and the README."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from google.protobuf.message import DecodeError
from tandem.v1 import entities_pb2, events_pb2, websocket_pb2

import server
from server.cli import SUBCOMMANDS, build_parser, decode_frame

REPO = Path(__file__).resolve().parent.parent
READY = re.compile(r"^Tandem is running at (http://127\.0\.0\.1:(\d+)/)$")


def tandem(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


def run_tandem(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(tandem(*args), input=stdin, capture_output=True, timeout=60, cwd=REPO)


def test_version() -> None:
    done = run_tandem("--version")
    assert done.returncode == 0
    assert done.stdout.decode().strip() == f"tandem {server.__version__}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_ready_line_answers_and_stops_on_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TANDEM_DATA_DIR"}
    proc = subprocess.Popen(
        tandem("serve", "--port", "0", "--data-dir", str(tmp_path / "data")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().rstrip("\n")
        match = READY.match(line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "api/health", timeout=10) as resp:
            assert json.load(resp)["status"] == "ok"
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert (tmp_path / "data" / "tandem.sqlite3").exists()


def test_serve_honours_tandem_data_dir(tmp_path: Path) -> None:
    env = {**os.environ, "TANDEM_DATA_DIR": str(tmp_path / "from-env")}
    proc = subprocess.Popen(
        tandem("serve", "--port", "0"), stdout=subprocess.PIPE, cwd=REPO, env=env
    )
    try:
        assert proc.stdout is not None
        assert READY.match(proc.stdout.readline().decode().rstrip("\n"))
        assert (tmp_path / "from-env" / "tandem.sqlite3").exists()
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_serve_on_a_taken_port_says_so(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_tandem("serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert b"already in use" in done.stderr


def test_serve_refuses_a_newer_database_in_one_line(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "tandem.sqlite3")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    done = run_tandem("serve", "--port", "0", "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert b"newer Tandem" in done.stderr and b"Traceback" not in done.stderr


def _frame() -> bytes:
    return websocket_pb2.WebSocketMessage(
        task_created=events_pb2.TaskCreated(
            project_id="p1", seq=7, task=entities_pb2.Task(id="t1", title="Decode me")
        )
    ).SerializeToString()


def test_decode_reads_raw_hex_and_base64(tmp_path: Path) -> None:
    frame = _frame()
    raw_file = tmp_path / "frame.bin"
    raw_file.write_bytes(frame)
    for args, stdin in [
        ((str(raw_file),), b""),
        (("-",), frame),
        (("--hex",), frame.hex().encode() + b"\n"),
        (("--base64",), base64.b64encode(frame) + b"\n"),
    ]:
        done = run_tandem("decode", *args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        decoded = json.loads(done.stdout)
        assert decoded["taskCreated"]["task"]["title"] == "Decode me"
        assert decoded["taskCreated"]["seq"] == "7"


def test_decode_refuses_garbage() -> None:
    done = run_tandem("decode", "--hex", stdin=b"zz")
    assert done.returncode == 1
    assert b"not a tandem.v1.WebSocketMessage" in done.stderr
    with pytest.raises(DecodeError):
        decode_frame(b"\xff\xff\xff")


def _subcommand_names(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def test_parser_lists_every_registered_subcommand() -> None:
    assert _subcommand_names(build_parser()) == list(SUBCOMMANDS)


def test_readme_names_the_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme
    assert "make test" in readme
    missing = [n for n in _subcommand_names(build_parser()) if f"tandem {n}" not in readme]
    assert not missing, f"README.md does not mention: {', '.join('tandem ' + n for n in missing)}"
