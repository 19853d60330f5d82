"""The ``tandem`` entry point: the tray app, or one of the server's subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from server import cli, paths

DESCRIPTION = (
    "Tandem, a desktop project board shared live on your network. "
    "Without a command it starts the desktop app (tray)."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.build_parser(description=DESCRIPTION)
    parser.add_argument(
        "--quit", action="store_true", help="ask the running Tandem to quit and wait until it has"
    )
    args = parser.parse_args(argv)
    if args.quit:
        return run_quit()
    if args.command is None:
        return run_desktop(parser, args.log_level)
    return cli.run(args)


def run_desktop(parser: argparse.ArgumentParser, log_level: str = "info") -> int:
    """The tray app; where it cannot run here, the server with the browser instead."""
    try:
        # Imported only now: the server alone runs without Qt installed.
        from app import main as desktop
    except ImportError as exc:
        return _fallback_to_serve(parser, f"the desktop app is not available ({exc})")
    try:
        return int(desktop.main(log_level=log_level) or 0)
    except desktop.NoTrayError as exc:
        return _fallback_to_serve(parser, str(exc) or type(exc).__name__)


def run_quit() -> int:
    """``tandem --quit``: installers call it before replacing the program's files."""
    try:
        from app.instance import request_quit
    except ImportError:
        # Without the desktop app installed, no desktop app of this install can be running.
        print("tandem: Tandem is not running", file=sys.stderr)
        return 0
    return request_quit(paths.default_data_dir())


def _fallback_to_serve(parser: argparse.ArgumentParser, reason: str) -> int:
    reason = reason.rstrip(". ")
    print(f"tandem: {reason}; running as `tandem serve --open` instead", file=sys.stderr)
    return cli.run(parser.parse_args(["serve", "--open"]))


if __name__ == "__main__":
    sys.exit(main())
