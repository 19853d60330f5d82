"""UpdateProfile over a real WebSocket: a browser on this machine renames itself in place, and
another viewer of the project sees the new name in presence without reconnecting; a blank name
is refused by code; an invitee from the network cannot rename or recolour itself, and is told
which it asked."""

from __future__ import annotations

import aiohttp
from tandem.v1 import commands_pb2, errors_pb2

from server.appkeys import DOMAIN
from tests.fixtures import LAN_PEER, TandemServer, client_from
from tests.test_security_support import make_invite
from tests.ws_client import WsClient, make_project, presences, subscribe, ws_url

Code = errors_pb2.ErrorCode


async def test_a_rename_reaches_the_other_viewers_and_the_members(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    ana = await WsClient.connect(session, ws_url(server), name="Ana", client_id="ana-browser")
    ben = await WsClient.connect(session, ws_url(server), name="Ben")
    project = await make_project(ana)
    await subscribe(ana, project.id)
    await subscribe(ben, project.id)
    ana_conn = ana.hello_welcome.connection_id
    await ben.wait_for(lambda m: bool(presences(m, ana_conn)))

    reply = await ana.request(update_profile=commands_pb2.UpdateProfile(display_name="Ana Lima"))
    assert reply.WhichOneof("payload") == "ack", reply
    seen = await ben.wait_for(
        lambda m: any(p.member.display_name == "Ana Lima" for p in presences(m, ana_conn))
    )
    assert presences(seen, ana_conn)[-1].member.id == ana.hello_welcome.member.id
    members = await server.app[DOMAIN].read(server.app[DOMAIN].list_members)
    assert "Ana Lima" in {m.display_name for m in members}

    blank = await ana.request(update_profile=commands_pb2.UpdateProfile(display_name="  "))
    assert blank.reject.error.code == Code.ERROR_CODE_INVALID_ARGUMENT
    assert blank.reject.error.field == "display_name"
    await ana.close()
    await ben.close()


async def test_an_invitee_cannot_rename_itself(lan_server: TandemServer) -> None:
    _, token = await make_invite(lan_server, "editor", "Eda")
    await lan_server.share()
    async with client_from(LAN_PEER) as lan:
        eda = await WsClient.connect(
            lan, ws_url(lan_server), headers={"Authorization": f"Bearer {token}"}
        )
        reply = await eda.request(update_profile=commands_pb2.UpdateProfile(display_name="Boss"))
        assert reply.reject.error.code == Code.ERROR_CODE_PERMISSION_DENIED
        assert "name is set by the invite" in reply.reject.error.message
        assert eda.hello_welcome.member.display_name == "Eda"
        # The refusal names what was asked: the colour alone, or both.
        recolor = await eda.request(update_profile=commands_pb2.UpdateProfile(color="#000000"))
        assert recolor.reject.error.code == Code.ERROR_CODE_PERMISSION_DENIED
        assert "colour is set by the invite" in recolor.reject.error.message
        assert "name" not in recolor.reject.error.message
        both = await eda.request(
            update_profile=commands_pb2.UpdateProfile(display_name="Boss", color="#000000")
        )
        assert both.reject.error.code == Code.ERROR_CODE_PERMISSION_DENIED
        assert "name and colour are set by the invite" in both.reject.error.message
        await eda.close()


async def test_a_colour_reaches_the_other_viewers_and_a_bad_one_is_refused(
    session: aiohttp.ClientSession, server: TandemServer
) -> None:
    ana = await WsClient.connect(session, ws_url(server), name="Ana", client_id="ana-colour")
    ben = await WsClient.connect(session, ws_url(server), name="Ben")
    project = await make_project(ana)
    await subscribe(ana, project.id)
    await subscribe(ben, project.id)
    ana_conn = ana.hello_welcome.connection_id
    await ben.wait_for(lambda m: bool(presences(m, ana_conn)))

    reply = await ana.request(update_profile=commands_pb2.UpdateProfile(color="#0A7358"))
    assert reply.WhichOneof("payload") == "ack", reply
    seen = await ben.wait_for(
        lambda m: any(p.member.color == "#0a7358" for p in presences(m, ana_conn))
    )
    assert presences(seen, ana_conn)[-1].member.display_name == "Ana"  # the name is kept
    members = await server.app[DOMAIN].read(server.app[DOMAIN].list_members)
    assert {m.display_name: m.color for m in members}["Ana"] == "#0a7358"
    # A hello later (a reload) keeps the colour chosen.
    again = await WsClient.connect(session, ws_url(server), name="Ana", client_id="ana-colour")
    assert again.hello_welcome.member.color == "#0a7358"

    for bad in ("green", "#12345", "#1234567", "javascript:x"):
        refused = await ana.request(update_profile=commands_pb2.UpdateProfile(color=bad))
        assert refused.reject.error.code == Code.ERROR_CODE_INVALID_ARGUMENT, bad
        assert refused.reject.error.field == "color"
    await again.close()
    await ana.close()
    await ben.close()
