"""Files to import are larger than any other request: their routes take up to
``MAX_IMPORT_BYTES``; every other request keeps the usual limit."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from tandem.v1 import transfer_pb2

from server.command_table import COMMAND_TABLE, CommandSpec
from server.domain.transfer.common import MAX_IMPORT_BYTES

_FILE = transfer_pb2.ImportWorkspace.DESCRIPTOR.full_name


def _carries_file(spec: CommandSpec) -> bool:
    descriptor = spec.message.DESCRIPTOR
    inner = [f.message_type.full_name for f in descriptor.fields if f.message_type is not None]
    return _FILE in (descriptor.full_name, *inner)


#: The REST paths of the commands that carry a file.
IMPORT_PATHS = frozenset(
    spec.http.path
    for spec in COMMAND_TABLE.values()
    if spec.http is not None and _carries_file(spec)
)


@web.middleware
async def larger_import_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in IMPORT_PATHS and request.method == "POST":
        request = request.clone(client_max_size=MAX_IMPORT_BYTES)
    return await handler(request)
