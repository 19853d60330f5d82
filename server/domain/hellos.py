"""Hellos that arrive together find (or make) their members in one database call.

After a restart every browser says hello again at once, and each hello's member is
unknown to memory. One trip to the database thread per hello made the storm wait on
thousands of thread hand-offs; instead hellos go through a ``GroupCommit`` of their own:
one drain on the database thread takes every hello queued so far, looks their members up
in one query, and answers each, in one transaction; a hello that makes or renames a member
does so in its own savepoint (a refused hello changes nothing and leaves the others
alone). The answer is the Ack a hello gets, its Welcome naming the member.
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import Database
from tandem.v1 import commands_pb2, entities_pb2, websocket_pb2

from server.domain import members
from server.domain.actor import Actor
from server.domain.errors import DomainError
from server.domain.group_commit import CommandRequest, Commit, GroupCommit, Outcome, Submit

_NOBODY_YET = Actor(member_id="")


def local_members(db: Database, submit: Submit, clock: Callable[[], int]) -> GroupCommit:
    def commit(batch: list[CommandRequest]) -> list[Outcome]:
        now = clock()
        outcomes: list[Outcome] = []
        hellos: list[commands_pb2.Hello] = []
        for request in batch:
            assert isinstance(request.command, commands_pb2.Hello)
            hellos.append(request.command)
        with db.atomic():
            # One query finds every member already known; only a new browser or a new
            # name costs a savepoint and a write of its own.
            known = members.local_rows(h.client_id for h in hellos)
            for hello in hellos:
                try:
                    member = members.local_unchanged(known, hello.client_id, hello.display_name)
                    if member is None:
                        with db.atomic():
                            member = members.local(hello.client_id, hello.display_name, now)
                        # What was read may be stale now: the client's next hello reads again.
                        known.pop(hello.client_id, None)
                except DomainError as exc:
                    outcomes.append(exc)
                    continue
                outcomes.append(websocket_pb2.Ack(welcome=commands_pb2.Welcome(member=member)))
        return outcomes

    run: Commit = commit
    return GroupCommit(submit, run)


async def local_member(
    hellos: GroupCommit, client_id: str, display_name: str
) -> entities_pb2.Member:
    hello = commands_pb2.Hello(client_id=client_id, display_name=display_name)
    ack = await hellos.run(CommandRequest(_NOBODY_YET, hello))
    return ack.welcome.member
