"""``tandem backup``, ``restore``, ``export`` and ``import``: your data in and out.

Each takes ``--data-dir`` (and ``--database-url``: exports and imports work on PostgreSQL
too; backups and restores are the SQLite file's, pg_dump's on PostgreSQL). Backups and
exports read the database file directly (SQLite's
online backup and a read transaction are safe beside a running server). An import goes
to the running server on that folder when there is one (so its clients see it at once),
else into the database file. A refusal is one line on standard error and exit status 1.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tandem.v1 import api_pb2, transfer_pb2, websocket_pb2

from server import paths
from server.command_table import COMMAND_TABLE
from server.config import add_database_url_argument, chosen_database_url
from server.domain.errors import DomainError
from server.domain.service import Domain, backup_attachments_dir
from server.domain.transfer import bundle, csv_export, document, formats
from server.storage import folder_lock
from server.storage.blobs import BlobStore, referenced_by
from server.storage.database import PG_DUMP_ADVICE, Store
from server.transfer import backups, restore

ArgumentAdder = Callable[[argparse.ArgumentParser], None]
Runner = Callable[[argparse.Namespace], int]
PROTOBUF = "application/x-protobuf"


class Refused(RuntimeError):
    """The command did nothing; ``str()`` is its one line."""


def _data_dir(args: argparse.Namespace) -> Path:
    return paths.chosen_data_dir(args.data_dir)


def _database_url(args: argparse.Namespace) -> str:
    return chosen_database_url(args.database_url)


def _database_file(args: argparse.Namespace) -> None:
    """Refuses what only a SQLite file has (its backups) when the data is in PostgreSQL."""
    if _database_url(args):
        raise Refused(PG_DUMP_ADVICE)


def _database(args: argparse.Namespace) -> Path:
    db = paths.database_path(_data_dir(args))
    if not db.is_file() or db.stat().st_size == 0:
        raise Refused(f"there is no Tandem database at {db}")
    return db


@contextmanager
def _domain(args: argparse.Namespace) -> Iterator[Domain]:
    domain = Domain(Store(paths.database_path(_data_dir(args)), _database_url(args)))
    try:
        yield domain
    finally:
        domain.close()


def _write(text: str, to: Path | None) -> None:
    if to is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = to.with_name(to.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(to)


# --- backup ---------------------------------------------------------------------------


def add_backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", type=Path, metavar="FILE", help="write the backup here")
    parser.add_argument(
        "--keep",
        type=int,
        default=backups.DEFAULT_KEPT,
        help=f"backups kept in the data folder (default {backups.DEFAULT_KEPT})",
    )
    paths.add_data_dir_argument(parser)
    add_database_url_argument(parser)


def run_backup(args: argparse.Namespace) -> int:
    _database_file(args)
    db = _database(args)
    conn = sqlite3.connect(db)
    try:
        written = backups.make(
            conn, backups.folder(_data_dir(args)), dest=args.to, kept=max(1, args.keep)
        )
    finally:
        conn.close()
    # The files travel with it, as the running app's backups do (attachments/ beside it).
    here = BlobStore(paths.attachments_dir(_data_dir(args)))
    here.copy_to(BlobStore(backup_attachments_dir(written)), referenced_by(written))
    print(written)
    return 0


# --- restore --------------------------------------------------------------------------


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the backup to restore (a .sqlite3 file)")
    paths.add_data_dir_argument(parser)
    add_database_url_argument(parser)


def run_restore(args: argparse.Namespace) -> int:
    _database_file(args)
    kept = restore.restore(_data_dir(args), args.file)
    print(f"Restored {args.file} into {paths.database_path(_data_dir(args))}")
    if kept is not None:
        print(f"The database it replaced is kept as {kept}")
    return 0


# --- export ---------------------------------------------------------------------------


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--to",
        type=Path,
        metavar="FILE",
        help="write here (default: stdout); a FILE.zip holds the attachments' files too",
    )
    parser.add_argument("--project", metavar="KEY", default="", help="only this project")
    parser.add_argument(
        "--csv",
        action="store_true",
        help="one project's tasks as CSV, for spreadsheets (needs --project)",
    )
    paths.add_data_dir_argument(parser)
    add_database_url_argument(parser)


def run_export(args: argparse.Namespace) -> int:
    if args.csv and not args.project:
        raise Refused("--csv exports one project's tasks: name it with --project KEY")
    to_zip = args.to is not None and args.to.suffix.lower() == ".zip"
    if args.csv and to_zip:
        raise Refused("--csv writes a .csv file; a .zip export is the document with its files")
    if not _database_url(args):
        _database(args)
    with _domain(args) as domain:
        if args.csv:
            _write(csv_export.tasks_csv(args.project), args.to)
            return 0
        doc = document.export_workspace(args.project, now_micros=time.time_ns() // 1000)
        if to_zip:
            _write_bundle(doc, domain, args.to)
            return 0
        _write(document.to_json(doc), args.to)
    listed = sum(len(p.attachments) for p in doc.projects)
    if listed:
        print(
            f"note: the export lists {listed} attachment{'s' if listed > 1 else ''} but holds"
            " no files; export to a .zip file (--to FILE.zip) to take the files along",
            file=sys.stderr,
        )
    return 0


def _write_bundle(doc: transfer_pb2.WorkspaceExport, domain: Domain, to: Path) -> None:
    files, missing = bundle.files_of(doc, domain.blobs)
    tmp = to.with_name(to.name + ".tmp")
    with tmp.open("wb") as out:
        bundle.write(document.to_json(doc), files, domain.blobs, out)
    tmp.replace(to)
    if missing:
        print(
            f"note: {missing} attachment(s) are listed without their file, which is not in"
            f" {domain.blobs.where}",
            file=sys.stderr,
        )


# --- import ---------------------------------------------------------------------------


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the file to import")
    parser.add_argument(
        "--format",
        choices=list(formats.NAMES),
        default="auto",
        help="the file's format (default: detected from its contents)",
    )
    parser.add_argument(
        "--map",
        metavar="FIELD=COLUMN,...",
        default="",
        help="for CSV: which column fills which field, e.g. title=Summary,status=State",
    )
    parser.add_argument(
        "--project",
        metavar="KEY",
        default="",
        help="the key of the project to create, or of an existing one to add the tasks to",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be created; change nothing"
    )
    paths.add_data_dir_argument(parser)
    add_database_url_argument(parser)


def parse_map(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        field, sep, column = part.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise Refused(f"--map: {part!r} is not FIELD=COLUMN")
        out[field.strip()] = column.strip()
    return out


def describe(summary: transfer_pb2.ImportSummary, *, dry_run: bool = False) -> list[str]:
    verb = "Would create" if dry_run else "Created"
    name = transfer_pb2.ImportFormat.Name(summary.format).removeprefix("IMPORT_FORMAT_")
    lines = [f"{verb} from a {name.lower().replace('_', ' ')} file:"]
    for p in summary.projects:
        lines.append(
            f"  project {p.project.key} {p.project.name!r}: {p.tasks} tasks, {p.sprints} sprints,"
            f" {p.comments} comments"
            + (f", {p.attachments} attachments" if p.attachments else "")
            + (" (new ids: the file's were taken)" if p.remapped else "")
        )
    if summary.members:
        lines.append(f"  {summary.members} members")
    lines.extend(f"  note: {note}" for note in summary.notes)
    return lines


def _post(url: str, command: transfer_pb2.ImportWorkspace) -> bytes:
    request = urllib.request.Request(
        url,
        data=command.SerializeToString(),
        method="POST",
        headers={"Content-Type": PROTOBUF, "Accept": PROTOBUF},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as reply:
            return bytes(reply.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        error = api_pb2.ErrorResponse()
        try:
            error.ParseFromString(body)
            message = error.error.message
        except Exception:
            message = body.decode("utf-8", "replace")[:300]
        raise Refused(message or f"the running Tandem answered {exc.code}") from None
    except OSError as exc:
        raise Refused(f"the running Tandem at {url} did not answer ({exc})") from None


def run_import(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {args.file}: {exc.strerror or exc}") from None
    fields = {
        "data": data,
        "format": formats.NAMES[args.format],
        "file_name": args.file.name,
        "column_map": parse_map(args.map),
        "project_key": args.project,
    }
    file = transfer_pb2.ImportWorkspace(**fields)
    kind = "preview_import" if args.dry_run else "import_workspace"
    running = folder_lock.holder(_data_dir(args))
    if running is not None and running.url:
        http = COMMAND_TABLE[kind].http
        assert http is not None
        summary = transfer_pb2.ImportSummary()
        summary.ParseFromString(_post(running.url.rstrip("/") + http.path, file))
    else:
        command = transfer_pb2.PreviewImport(file=file) if args.dry_run else file
        with _domain(args) as domain:
            ack: websocket_pb2.Ack = domain.execute(domain.owner_actor(), command)
        summary = ack.import_summary
    print("\n".join(describe(summary, dry_run=args.dry_run)))
    return 0


def _guarded(run: Runner) -> Runner:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (Refused, restore.RestoreRefused) as exc:
            print(f"tandem {args.command}: {exc}", file=sys.stderr)
        except DomainError as exc:
            print(f"tandem {args.command}: {exc.message}", file=sys.stderr)
        except OSError as exc:
            print(f"tandem {args.command}: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return 1

    return guarded


SUBCOMMANDS: dict[str, tuple[str, ArgumentAdder, Runner]] = {
    "backup": (
        "back the database up now (online, safe while Tandem runs) and print the file's path",
        add_backup_arguments,
        _guarded(run_backup),
    ),
    "restore": (
        "put a backup back (Tandem must be stopped); the current database is kept as a backup",
        add_restore_arguments,
        _guarded(run_restore),
    ),
    "export": (
        "write the workspace (or one project) as a JSON document (a .zip with its attachments'"
        " files), or one project's tasks as CSV",
        add_export_arguments,
        _guarded(run_export),
    ),
    "import": (
        "import a Tandem export, a Trello board, a Jira or Linear CSV, any CSV, or a Focalboard"
        " archive, in one transaction",
        add_import_arguments,
        _guarded(run_import),
    ),
}

__all__ = ["SUBCOMMANDS"]
