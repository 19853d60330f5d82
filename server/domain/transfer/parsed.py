"""What reading a file gives: the plan, and what the person should know about it."""

from __future__ import annotations

from dataclasses import dataclass, field

from tandem.v1 import transfer_pb2


@dataclass
class Parsed:
    doc: transfer_pb2.WorkspaceExport
    # A Tandem export keeps its ids (where free); other tools' ids are only references.
    keep_ids: bool = False
    notes: list[str] = field(default_factory=list)
    # (the file's column, the Tandem field it fills or "") for CSV formats.
    columns: list[tuple[str, str]] = field(default_factory=list)
    # Attachments' content that came with the file (a .zip export), by SHA-256.
    files: dict[str, bytes] = field(default_factory=dict)
