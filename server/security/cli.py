"""``tandem invite`` and ``tandem invites``: managing LAN invites from the command line.

They open the database file directly, so they work whether or not the app is running
(SQLite lets the two share the file; a running server notices a revocation within a
second). Tokens are printed, never read from arguments: process arguments are visible
to every user of the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable

from server import paths
from server.config import add_database_url_argument, chosen_database_url
from server.security import invites, tls
from server.security.sharing import invite_link, remembered_lan_url
from server.storage.database import Store

ArgumentAdder = Callable[[argparse.ArgumentParser], None]
Runner = Callable[[argparse.Namespace], int]

PLACEHOLDER_BASE = "http://ADDRESS:PORT"


def add_invite_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role",
        choices=sorted(invites.ROLES),
        default="viewer",
        help="what the person may do: viewer reads, editor also changes (default: viewer)",
    )
    parser.add_argument("--name", help="the person's name, as others will see it")
    parser.add_argument("--revoke", metavar="ID", help="revoke the invite with this id instead")
    paths.add_data_dir_argument(parser)
    add_database_url_argument(parser)


def add_invites_arguments(parser: argparse.ArgumentParser) -> None:
    paths.add_data_dir_argument(parser)
    add_database_url_argument(parser)


def _open(args: argparse.Namespace) -> Store:
    data_dir = paths.chosen_data_dir(args.data_dir)
    return Store(paths.database_path(data_dir), chosen_database_url(args.database_url))


def _when(micros: int | None) -> str:
    if micros is None:
        return "never"
    return dt.datetime.fromtimestamp(micros / 1e6).strftime("%Y-%m-%d %H:%M")


def run_invite(args: argparse.Namespace) -> int:
    if args.revoke is None and not (args.name or "").strip():
        print("tandem invite: give the person's name with --name NAME", file=sys.stderr)
        return 2
    data_dir = paths.chosen_data_dir(args.data_dir)
    store = _open(args)
    try:
        if args.revoke is not None:
            revoked = invites.revoke(args.revoke)
            print(f"Revoked invite {revoked.id} ({revoked.name}, {revoked.role}).")
            return 0
        made = invites.create(args.name, args.role)
        base = remembered_lan_url()
    except invites.InviteError as exc:
        print(f"tandem invite: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    invite = made.invite
    print(f"Invite {invite.id} for {invite.name} ({invite.role}):")
    print(f"  {invite_link(base or PLACEHOLDER_BASE, made.token)}")
    fingerprint = tls.known_fingerprint(data_dir) if base.startswith("https:") else ""
    if fingerprint:
        print("Certificate SHA-256 fingerprint (the browser should show the same):")
        print(f"  {fingerprint}")
    if not base:
        print(
            "Sharing on the LAN has not been switched on yet: switch it on, then use the "
            "address and port Tandem shows in place of ADDRESS:PORT."
        )
    print(
        f"Send it to {invite.name} only: whoever has it joins as {invite.name}. "
        f"Revoke it with: tandem invite --revoke {invite.id}"
    )
    return 0


def run_invites(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        found = invites.list_all()
    finally:
        store.close()
    if not found:
        print("No invites yet. Make one with: tandem invite --role viewer --name NAME")
        return 0
    rows = [("ID", "NAME", "ROLE", "CREATED", "LAST USED", "STATUS")]
    for invite in found:
        status = "active" if invite.active else f"revoked {_when(invite.revoked_at)}"
        rows.append(
            (
                invite.id,
                invite.name,
                invite.role,
                _when(invite.created_at),
                _when(invite.last_used_at),
                status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


#: name -> (help, add_arguments, run), the shape of ``server.cli.Subcommand``.
SUBCOMMANDS: dict[str, tuple[str, ArgumentAdder, Runner]] = {
    "invite": (
        "invite someone to the shared board (prints the link), or --revoke an invite",
        add_invite_arguments,
        run_invite,
    ),
    "invites": (
        "list the LAN invites and whether they are active",
        add_invites_arguments,
        run_invites,
    ),
}
