"""Joining from an invite link: a page that asks first, and a POST from that page.

``GET /join?token=...`` changes nothing: it shows whom the link is for and, when this
browser is already signed in as someone else, that joining replaces that. Only the
page's own Join button signs the browser in: a form POST of the token, which the
request guard lets through only with this board's ``Origin``. So a page on another host
can still send a browser to an invite link, but can no longer sign it in as someone
else behind the person's back (login CSRF).
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Final

from aiohttp import hdrs, web
from aiohttp._cookie_helpers import parse_cookie_header  # what request.cookies reads with
from multidict import CIMultiDictProxy

from server.appkeys import CONFIG, DOMAIN
from server.security import invites
from server.security.invites import Principal
from server.security.state import SECURITY, SESSION_COOKIE

log = logging.getLogger(__name__)

JOIN_FORM_TYPE: Final = "application/x-www-form-urlencoded"
SESSION_MAX_AGE_SECONDS: Final = 400 * 24 * 3600


def session_cookie(headers: CIMultiDictProxy[str]) -> str | None:
    """The session cookie in a request's headers, read as ``request.cookies`` reads it
    (aiohttp's own parser of the Cookie header, the last of a name winning), but from the
    headers alone: a listener's own WebSocket upgrade has no request
    (``server.realtime.upgrade``)."""
    cookies = parse_cookie_header(headers.get(hdrs.COOKIE, ""))
    return {name: morsel.value for name, morsel in cookies}.get(SESSION_COOKIE)


_CONFIRM_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Join the board - Tandem</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>Join the shared board</h1>
<p>This invite is for <strong>{name}</strong> ({role}).</p>
{current}
<form method="post" action="/join">
<input type="hidden" name="token" value="{token}">
<button type="submit" autofocus>Join as {name}</button>
</form>
<p><a href="/">{stay}</a></p>
</main></body></html>
"""

_SIGNED_IN_AS = """<p>This browser is signed in as <strong>{current}</strong>. Joining signs it
in as {name} instead.</p>"""


_REFUSED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tandem: cannot join</title></head>
<body><main><h1>Cannot join</h1><p>{message}</p>
<p>Ask the board's owner for a new invite link.</p></main></body></html>
"""


def _refused(status: int, message: str) -> web.Response:
    page = _REFUSED_PAGE.format(message=html.escape(message))
    return web.Response(
        text=page, status=status, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def is_join_form(request: web.BaseRequest, path: str) -> bool:
    """The Join button's POST, the one form body the guard lets through (with our Origin)."""
    return (
        request.path == path
        and request.method == "POST"
        and request.content_type == JOIN_FORM_TYPE
        and request.headers.get(hdrs.ORIGIN) is not None
    )


async def handle(request: web.Request, peer: str) -> web.StreamResponse:
    """``/join`` from the LAN: GET asks, POST (from the page GET showed) signs in."""
    if request.method in ("GET", "HEAD"):
        return await _confirm(request, peer)
    if request.method == "POST":
        return await _join(request, peer)
    raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD", "POST"])


async def _confirm(request: web.Request, peer: str) -> web.StreamResponse:
    domain = request.app[DOMAIN]
    token = request.query.get("token", "")
    invited = await domain.write(invites.by_token, token) if token else None
    if invited is None:
        if token:
            request.app[SECURITY].throttle.failed(peer)
        return _refused(401, "This invite link is not valid (or it was revoked).")
    cookie = session_cookie(request.headers)
    current: Principal | None = await domain.write(invites.by_session, cookie) if cookie else None
    if current is not None and current.invite_id == invited.invite_id:
        return _see_other("/")  # already signed in as this person: nothing to switch
    name = html.escape(invited.member.display_name)
    shown_current = ""
    stay = "Not now"
    if current is not None:
        current_name = html.escape(current.member.display_name)
        shown_current = _SIGNED_IN_AS.format(current=current_name, name=name)
        stay = f"Stay signed in as {current_name}"
    page = _CONFIRM_PAGE.format(
        name=name,
        role=invites.ROLE_NAMES.get(int(invited.role), "viewer"),
        current=shown_current,
        token=html.escape(token, quote=True),
        stay=stay,
    )
    # With no-referrer, browsers send the form's POST with "Origin: null", which the guard
    # must refuse; strict-origin keeps the real Origin and sends only it as the Referer,
    # never this page's address (it holds the token).
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "strict-origin"}
    return web.Response(text=page, content_type="text/html", headers=headers)


async def _join(request: web.Request, peer: str) -> web.StreamResponse:
    if not is_join_form(request, request.path):
        return _refused(403, "Join from the invite page of this board.")
    try:
        async with asyncio.timeout(request.app[CONFIG].body_timeout_seconds):
            form = await request.post()
    except TimeoutError:
        request.protocol.force_close()
        return _refused(408, "The request did not arrive in time.")
    token = form.get("token")
    opened = None
    if isinstance(token, str) and token:
        opened = await request.app[DOMAIN].write(invites.open_session, token)
    if opened is None:
        request.app[SECURITY].throttle.failed(peer)
        return _refused(401, "This invite link is not valid (or it was revoked).")
    principal, secret = opened
    response = _see_other("/")
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=SESSION_MAX_AGE_SECONDS,
    )
    log.info("%s joined from %s", principal.member.display_name, peer)
    return response
