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
import signal
import sys
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from tandem.v1 import websocket_pb2

import server
from server import paths
from server.config import ServerConfig
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


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        data_dir=paths.chosen_data_dir(args.data_dir),
        host=args.host,
        port=args.port,
        lan=args.lan,
        lan_host=args.lan_host,
        lan_tls=args.lan_tls,
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
    config = config_from_args(args)
    try:
        asyncio.run(serve(config, open_browser=args.open))
    except PortInUseError as exc:
        print(f"tandem: {exc.strerror}", file=sys.stderr)
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


def _run_decode(args: argparse.Namespace) -> int:
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
        "print a captured binary WebSocket frame as JSON", _add_decode_arguments, _run_decode
    ),
}
# Invites for LAN sharing: "invite" and "invites", which work whether or not the app runs.
SUBCOMMANDS.update({name: Subcommand(*spec) for name, spec in security_cli.SUBCOMMANDS.items()})
# Your data in and out: "backup", "restore", "export", "import".
SUBCOMMANDS.update({name: Subcommand(*spec) for name, spec in transfer_cli.SUBCOMMANDS.items()})


def build_parser(description: str = "The Tandem server and its tools.") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description=description)
    parser.add_argument("--version", action="version", version=f"tandem {server.__version__}")
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
