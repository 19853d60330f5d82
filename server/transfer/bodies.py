"""Files to import are larger than any other request: their routes take up to
``MAX_IMPORT_BYTES``; every other request keeps the usual limit."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from server.command_table import COMMAND_TABLE
from server.domain.transfer.common import MAX_IMPORT_BYTES

#: The REST paths of the commands that carry a file.
IMPORT_PATHS = frozenset(
    spec.http.path
    for spec in COMMAND_TABLE.values()
    if spec.http is not None and spec.message.DESCRIPTOR.fields_by_name.get("data") is not None
)


@web.middleware
async def larger_import_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in IMPORT_PATHS and request.method == "POST":
        request = request.clone(client_max_size=MAX_IMPORT_BYTES)
    return await handler(request)
