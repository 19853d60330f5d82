"""Hellos that arrive together find (or make) their members in one database call.

After a restart every browser says hello again at once (those a start has not read are
unknown to memory: see ``Domain.local_member``). One trip to the database thread per hello
made the storm wait on thousands of thread hand-offs; instead hellos are looked up together
(storage/batched.py): one drain on the database thread takes every hello queued so far,
looks their members up in one query, and answers each, in one transaction; a hello that
makes or renames a member does so in its own savepoint (a refused hello changes nothing
and leaves the others alone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from peewee import Database
from tandem.v1 import entities_pb2

from server.domain import members
from server.domain.errors import DomainError, ErrorCode
from server.storage.batched import Batched, Closed, Submit

log = logging.getLogger(__name__)

# A hello as looked up: the browser's client id and the name it gives; and what it finds.
Hello = tuple[str, str]
Found = entities_pb2.Member | DomainError
Hellos = Batched[Hello, Found]


def local_members(db: Database, submit: Submit, clock: Callable[[], int]) -> Hellos:
    def run(hellos: list[Hello]) -> list[Found]:
        now = clock()
        found: list[Found] = []
        with db.atomic():
            # One query finds every member already known; only a new browser or a new
            # name costs a savepoint and a write of its own.
            known = members.local_rows(client_id for client_id, _name in hellos)
            for client_id, display_name in hellos:
                try:
                    member = members.local_unchanged(known, client_id, display_name)
                    if member is None:
                        with db.atomic():
                            member = members.local(client_id, display_name, now)
                        # What was read may be stale now: the client's next hello reads again.
                        known.pop(client_id, None)
                except DomainError as exc:
                    found.append(exc)
                    continue
                found.append(member)
        return found

    return Batched(submit, run)


async def local_member(hellos: Hellos, client_id: str, display_name: str) -> entities_pb2.Member:
    try:
        found = await hellos((client_id, display_name))
    except Closed:
        raise DomainError(ErrorCode.ERROR_CODE_UNAVAILABLE, "the server is shutting down") from None
    except Exception:  # the storage failed: this hello is refused, the server goes on
        log.exception("could not look up the members of a group of hellos")
        raise DomainError(ErrorCode.ERROR_CODE_INTERNAL, "internal error; not saved") from None
    if isinstance(found, DomainError):
        raise found
    return found
