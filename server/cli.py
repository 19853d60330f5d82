"""The server's subcommands of ``tandem``: the server alone, and tools around it.

Subcommands live in ``SUBCOMMANDS``, one entry each (name, help, arguments, run);
adding one is adding an entry. The README test reads this table, so the
documentation has to name every subcommand listed here. The ``tandem`` command itself,
which starts the tray app when given no subcommand, is ``launcher.main``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import os
import signal
import sys
import webbrowser
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from tandem.v1 import websocket_pb2

import server
from server import paths
from server.cluster import BusUnreachableError, BusUrlError, parse_bus_url
from server.config import ServerConfig, add_database_url_argument, chosen_database_url
from server.monitoring import logs, recording
from server.runner import PortInUseError, start_server
from server.security import cli as security_cli
from server.storage.health import DatabaseUnusableError
from server.storage.migrations import DatabaseTooNewError
from server.transfer import cli as transfer_cli

READY_LINE = "Tandem is running at {url}"


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- serve ----------------------------------------------------------------------------


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ServerConfig.__dataclass_fields__
    parser.add_argument("--host", default=defaults["host"].default, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (0, the default, picks a free one)"
    )
    paths.add_data_dir_argument(parser)
    add_database_url_argument(parser)
    parser.add_argument("--lan", action="store_true", help="share on the local network too")
    parser.add_argument(
        "--lan-host",
        default=defaults["lan_host"].default,
        help="address of the LAN listener (default: all interfaces)",
    )
    parser.add_argument(
        "--lan-tls",
        action="store_true",
        help="serve the LAN listener over HTTPS with a self-signed certificate "
        "(made on first use; its fingerprint is shown with each invite)",
    )
    parser.add_argument("--open", action="store_true", help="open the board in the browser")
    parser.add_argument(
        "--backups-kept",
        type=int,
        default=defaults["backups_kept"].default,
        metavar="N",
        help="daily backups kept in the data folder's backups/ (default %(default)s)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="record the WebSocket traffic into FILE (read it with tandem decode --recording)",
    )
    parser.add_argument(
        "--record-for",
        type=float,
        default=recording.DEFAULT_SECONDS,
        metavar="SECONDS",
        help=f"stop recording after this long (default {recording.DEFAULT_SECONDS:.0f}; "
        f"it also stops at {recording.DEFAULT_MAX_BYTES >> 20} MiB)",
    )
    parser.add_argument(
        "--bus-url",
        default=os.environ.get("TANDEM_BUS_URL") or None,
        metavar="URL",
        help="join a team server of several instances over this NATS bus, "
        "nats://[USER:PASSWORD@]HOST[:PORT][?prefix=NAME] (default: $TANDEM_BUS_URL; "
        "none: this instance is alone); see docs/team-server.md",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=defaults["heartbeat_seconds"].default,
        metavar="SECONDS",
        help="WebSocket heartbeat interval; a silent client is dropped after ~1.5 of it, "
        "and a stopped instance's people leave the others within 2 (default %(default)s)",
    )
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        help="count nothing for /metrics and the diagnostics page (to measure what it costs)",
    )
    logs.add_log_arguments(parser)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        data_dir=paths.chosen_data_dir(args.data_dir),
        database_url=chosen_database_url(args.database_url),
        host=args.host,
        port=args.port,
        lan=args.lan,
        lan_host=args.lan_host,
        lan_tls=args.lan_tls,
        metrics=not args.no_metrics,
        record_path=args.record,
        record_seconds=args.record_for,
        backups_kept=max(1, args.backups_kept),
        bus_url=args.bus_url,
        heartbeat_seconds=args.heartbeat,
    )


async def serve(config: ServerConfig, *, open_browser: bool = False) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows event loops have no signal handlers; Ctrl+C arrives as KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    running = await start_server(config)
    try:
        print(READY_LINE.format(url=running.url), flush=True)
        for url in running.lan_urls:
            print(f"Shared on the LAN at {url}", flush=True)
        if running.lan_fingerprint:
            print(f"Certificate SHA-256 fingerprint: {running.lan_fingerprint}", flush=True)
        if open_browser:
            webbrowser.open(running.url)
        await stop.wait()
    finally:
        await running.close()
        for signum in installed:
            loop.remove_signal_handler(signum)


def _run_serve(args: argparse.Namespace) -> int:
    if args.record is not None and not 0 < args.record_for <= recording.MAX_SECONDS:
        print(
            f"tandem serve: --record-for must be more than 0 and at most "
            f"{recording.MAX_SECONDS:.0f} seconds",
            file=sys.stderr,
        )
        return 2
    if not args.heartbeat > 0:
        print("tandem serve: --heartbeat must be more than 0 seconds", file=sys.stderr)
        return 2
    if args.bus_url is not None:
        try:
            parse_bus_url(args.bus_url)
        except BusUrlError as exc:
            print(f"tandem serve: {exc}", file=sys.stderr)
            return 2
    logs.setup_logging(level=args.log_level, log_dir=args.log_dir, console_json=args.log_json)
    config = config_from_args(args)
    try:
        asyncio.run(serve(config, open_browser=args.open))
    except PortInUseError as exc:
        print(f"tandem: {exc.strerror}", file=sys.stderr)
        return 1
    except BusUnreachableError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 1
    except DatabaseTooNewError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


# --- decode ---------------------------------------------------------------------------


def _add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", default="-", help="a captured binary frame (default -: standard input)"
    )
    parser.add_argument(
        "--recording",
        type=Path,
        metavar="FILE",
        help="print a traffic recording (tandem serve --record) as JSON, one message a line",
    )
    parser.add_argument(
        "--connection", metavar="ID", help="with --recording: only this connection's messages"
    )
    parser.add_argument(
        "--type",
        metavar="PAYLOAD",
        help="with --recording: only messages of this payload type (e.g. update_task)",
    )
    encoding = parser.add_mutually_exclusive_group()
    encoding.add_argument("--hex", action="store_true", help="the input is hexadecimal text")
    encoding.add_argument("--base64", action="store_true", help="the input is base64 text")


def decode_frame(data: bytes, *, hex_text: bool = False, base64_text: bool = False) -> str:
    """A binary ``WebSocketMessage`` (raw, hex or base64) as protobuf JSON."""
    if hex_text:
        data = bytes.fromhex(data.decode("ascii"))
    elif base64_text:
        data = base64.b64decode(b"".join(data.split()), validate=True)
    message = websocket_pb2.WebSocketMessage()
    message.ParseFromString(data)
    return json_format.MessageToJson(message, indent=2, ensure_ascii=False)


def decode_recording(
    data: bytes, *, connection: str | None = None, payload: str | None = None
) -> Iterator[str]:
    """A recording's messages as JSON lines: time, connection, direction, message."""
    for frame in recording.read_recording(data):
        if connection is not None and frame.connection_id != connection:
            continue
        message = websocket_pb2.WebSocketMessage()
        message.ParseFromString(frame.message)
        if payload is not None and message.WhichOneof("payload") != payload:
            continue
        yield json.dumps(
            {
                "time": frame.time.ToJsonString(),
                "connection": frame.connection_id,
                "direction": "in" if frame.direction == recording.IN else "out",
                "message": json_format.MessageToDict(message),
            },
            ensure_ascii=False,
        )


def _run_decode_recording(args: argparse.Namespace) -> int:
    payloads = websocket_pb2.WebSocketMessage.DESCRIPTOR.oneofs_by_name["payload"].fields
    if args.type is not None and args.type not in {f.name for f in payloads}:
        print(f"tandem decode: {args.type!r} is not a payload type", file=sys.stderr)
        return 2
    try:
        data = args.recording.read_bytes()
    except OSError as exc:
        print(f"tandem decode: {exc}", file=sys.stderr)
        return 1
    try:
        for line in decode_recording(data, connection=args.connection, payload=args.type):
            print(line)
    except (recording.RecordingError, DecodeError) as exc:
        print(f"tandem decode: {args.recording}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_decode(args: argparse.Namespace) -> int:
    if args.recording is not None:
        return _run_decode_recording(args)
    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            print(f"tandem decode: {exc}", file=sys.stderr)
            return 1
    try:
        print(decode_frame(data, hex_text=args.hex, base64_text=args.base64))
    except (ValueError, binascii.Error, DecodeError) as exc:
        print(f"tandem decode: not a tandem.v1.WebSocketMessage: {exc}", file=sys.stderr)
        return 1
    return 0


# --- the table ------------------------------------------------------------------------

SUBCOMMANDS: dict[str, Subcommand] = {
    "serve": Subcommand(
        "run the server alone (no tray): REST, WebSocket and the web UI",
        _add_serve_arguments,
        _run_serve,
    ),
    "decode": Subcommand(
        "print a captured binary WebSocket frame, or a traffic recording, as JSON",
        _add_decode_arguments,
        _run_decode,
    ),
}
# Invites for LAN sharing: "invite" and "invites", which work whether or not the app runs.
SUBCOMMANDS.update({name: Subcommand(*spec) for name, spec in security_cli.SUBCOMMANDS.items()})
# Your data in and out: "backup", "restore", "export", "import".
SUBCOMMANDS.update({name: Subcommand(*spec) for name, spec in transfer_cli.SUBCOMMANDS.items()})


def build_parser(description: str = "The Tandem server and its tools.") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description=description)
    parser.add_argument("--version", action="version", version=f"tandem {server.__version__}")
    logs.add_log_arguments(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, sub in SUBCOMMANDS.items():
        sub.add_arguments(commands.add_parser(name, help=sub.help, description=sub.help))
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the subcommand ``args`` names (parsed by ``build_parser``).

    A database that cannot be used ends any command in one line, whoever called it (this
    module's ``main`` or the ``tandem`` launcher), never a traceback.
    """
    try:
        return SUBCOMMANDS[args.command].run(args)
    except DatabaseUnusableError as exc:  # any command that opens the database
        print(f"tandem: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error("name a command (the desktop app is the `tandem` command itself)")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
