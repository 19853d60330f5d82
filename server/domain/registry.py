"""The domain's command handlers: each command of the table mapped to its function, once.

Whether a command mutates (needs the edit right, is remembered for idempotency) comes from
the command table in the schema, not from here. A key that is not a command of the table,
or a mutating command of the table without a handler here, fails at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from google.protobuf.message import Message
from tandem.v1 import websocket_pb2

from server.command_table import COMMAND_TABLE, kind_of
from server.domain import (
    archive,
    attachments,
    bulk,
    comments,
    inbox,
    labels,
    projects,
    sprint_reports,
    sprints,
    tasks,
    trash,
    workflow,
)
from server.domain.errors import DomainError, ErrorCode
from server.domain.transfer import commands as transfer
from server.domain.tx import Tx

Run = Callable[[Tx, Any], websocket_pb2.Ack]

# The one place a domain command meets its handler. Add a command here after giving it a
# (tandem.v1.command) option in websocket.proto.
_HANDLERS: dict[str, Run] = {
    "create_project": projects.create,
    "update_project": projects.update,
    "delete_project": projects.delete,
    "restore_project": trash.restore_project,
    "create_task": tasks.create,
    "update_task": tasks.update,
    "move_task": tasks.move,
    "delete_task": trash.trash_task,
    "restore_task": archive.restore_task,
    "restore_tasks": bulk.restore,
    "purge_task": trash.purge,
    "archive_task": archive.archive_task,
    "archive_done_tasks": archive.archive_done,
    "add_comment": comments.add,
    "edit_comment": comments.edit,
    "delete_comment": comments.delete,
    "list_comments": comments.list_command,
    "create_sprint": sprints.create,
    "update_sprint": sprints.update,
    "start_sprint": sprints.start,
    "complete_sprint": sprints.complete,
    "update_workflow": workflow.update,
    "add_attachment": attachments.add,
    "remove_attachment": attachments.remove,
    "archive_sprint": archive.archive_sprint,
    "unarchive_sprint": archive.unarchive_sprint,
    "restore_comment": trash.restore_comment,
    "get_sprint_report": lambda tx, cmd: websocket_pb2.Ack(
        sprint_report=sprint_reports.report(cmd.sprint_id, tx.now)
    ),
    "get_velocity": lambda tx, cmd: websocket_pb2.Ack(
        velocity=sprint_reports.velocity(cmd.project_id, cmd.last)
    ),
    "list_inbox": inbox.list_command,
    "mark_inbox_read": inbox.mark_read,
    "watch_task": inbox.watch,
    "list_watchers": inbox.list_watchers_command,
    "import_workspace": transfer.run_import,
    "preview_import": transfer.preview,
    "bulk_edit_tasks": bulk.edit,
    "set_label_color": labels.set_color,
    "rename_label": labels.rename,
}


@dataclass(frozen=True)
class Command:
    kind: str
    run: Run
    # Read-only commands need no edit right and are not remembered for idempotency.
    mutates: bool
    # Changes only the actor's own things (see CommandOptions.personal): no edit right needed.
    personal: bool = False


def _build() -> dict[str, Command]:
    unknown = sorted(set(_HANDLERS) - set(COMMAND_TABLE))
    if unknown:
        raise RuntimeError(f"domain handlers for commands the schema does not declare: {unknown}")
    unserved = sorted(k for k, spec in COMMAND_TABLE.items() if spec.mutates and k not in _HANDLERS)
    if unserved:
        raise RuntimeError(f"mutating commands without a domain handler: {unserved}")
    return {
        kind: Command(kind, run, COMMAND_TABLE[kind].mutates, COMMAND_TABLE[kind].personal)
        for kind, run in _HANDLERS.items()
    }


#: The domain's commands, by the envelope's payload name.
COMMANDS: Mapping[str, Command] = MappingProxyType(_build())


def find(command: Message) -> Command:
    """The domain command for a command message; UNSUPPORTED when it is none."""
    kind = kind_of(command)
    found = COMMANDS.get(kind) if kind is not None else None
    if found is None:
        name = kind or command.DESCRIPTOR.name
        raise DomainError(ErrorCode.ERROR_CODE_UNSUPPORTED, f"{name} is not a command")
    return found
