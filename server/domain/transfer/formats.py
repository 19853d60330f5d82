"""Which importer reads a file: the format named, or the one its contents show."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tandem.v1 import transfer_pb2

from server.domain.transfer import bundle, csv_formats, csvfile, document, focalboard, trello
from server.domain.transfer.common import MAX_IMPORT_BYTES, BadFile
from server.domain.transfer.parsed import Parsed

Format = transfer_pb2.ImportFormat
SQLITE_MAGIC = b"SQLite format 3\x00"

#: The CLI's names for the formats (``--format``), "auto" for detection.
NAMES: dict[str, Format.ValueType] = {
    "auto": Format.IMPORT_FORMAT_UNSPECIFIED,
    "tandem": Format.IMPORT_FORMAT_TANDEM,
    "trello": Format.IMPORT_FORMAT_TRELLO,
    "jira-csv": Format.IMPORT_FORMAT_JIRA_CSV,
    "linear-csv": Format.IMPORT_FORMAT_LINEAR_CSV,
    "csv": Format.IMPORT_FORMAT_CSV,
    "focalboard": Format.IMPORT_FORMAT_FOCALBOARD,
}


def detect(data: bytes, file_name: str = "") -> Format.ValueType:
    """The format a file's first bytes and structure show (CSV when nothing else fits)."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if data.startswith(SQLITE_MAGIC):
        raise BadFile(
            "byte 0",
            "this is a database (a Tandem backup?), not an export: put a backup back with"
            " `tandem restore FILE` instead",
        )
    if bundle.is_bundle(data):
        return Format.IMPORT_FORMAT_TANDEM
    if head.startswith(focalboard.ZIP_MAGIC) or file_name.endswith(".boardarchive"):
        return Format.IMPORT_FORMAT_FOCALBOARD
    if focalboard.looks_like_jsonl(head):
        return Format.IMPORT_FORMAT_FOCALBOARD
    if head.startswith((b"{", b"[")):
        raw = document.load_json(data, "JSON file")
        if isinstance(raw, dict) and "formatVersion" in raw:
            return Format.IMPORT_FORMAT_TANDEM
        if isinstance(raw, dict) and ("cards" in raw or "lists" in raw):
            return Format.IMPORT_FORMAT_TRELLO
        keys = ", ".join(list(raw)[:8]) if isinstance(raw, dict) else "a list"
        raise BadFile(
            "line 1, column 1",
            "a JSON file that is neither a Tandem export (key formatVersion) nor a Trello"
            f" board (keys lists and cards); it has: {keys}",
        )
    headers = csvfile.read(data.split(b"\n", 1)[0] + b"\n").headers
    if csv_formats.looks_like_jira(headers):
        return Format.IMPORT_FORMAT_JIRA_CSV
    if csv_formats.looks_like_linear(headers):
        return Format.IMPORT_FORMAT_LINEAR_CSV
    return Format.IMPORT_FORMAT_CSV


def read(
    data: bytes,
    fmt: Format.ValueType = Format.IMPORT_FORMAT_UNSPECIFIED,
    *,
    file_name: str = "",
    column_map: Mapping[str, str] | None = None,
) -> tuple[Format.ValueType, Parsed]:
    """The file read into a plan by its importer; a ``BadFile`` says what is wrong, where."""
    if len(data) > MAX_IMPORT_BYTES:
        raise BadFile("", f"the file is larger than {MAX_IMPORT_BYTES >> 20} MiB")
    if not data.strip():
        raise BadFile("", "the file is empty")
    if fmt == Format.IMPORT_FORMAT_UNSPECIFIED:
        fmt = detect(data, file_name)
    given = dict(column_map or {})
    readers: dict[int, Callable[[], Parsed]] = {
        Format.IMPORT_FORMAT_TANDEM: lambda: _tandem(data),
        Format.IMPORT_FORMAT_TRELLO: lambda: trello.parse(data),
        Format.IMPORT_FORMAT_JIRA_CSV: lambda: csv_formats.parse_jira(data, given),
        Format.IMPORT_FORMAT_LINEAR_CSV: lambda: csv_formats.parse_linear(data, given),
        Format.IMPORT_FORMAT_CSV: lambda: csv_formats.parse_generic(data, given, file_name),
        Format.IMPORT_FORMAT_FOCALBOARD: lambda: focalboard.parse(data),
    }
    reader = readers.get(fmt)
    if reader is None:
        raise BadFile("format", f"{fmt} is not a format this Tandem reads")
    return fmt, reader()


def _tandem(data: bytes) -> Parsed:
    """A Tandem export: the JSON document, or a .zip of it with its attachments' content."""
    if data.startswith(bundle.ZIP_MAGIC):
        text, files = bundle.read(data)
        return Parsed(document.parse(text), keep_ids=True, files=files)
    return Parsed(document.parse(data), keep_ids=True)
