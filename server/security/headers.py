"""Security headers on every response the server sends, errors and WebSocket upgrades included."""

from __future__ import annotations

from aiohttp import web

# The web UI is a bundle served from our own origin; it talks to the API and /ws only.
# 'self' covers the page's own ws:/wss: origin too (CSP Level 3); a bare ws: or wss:
# would let an injected script reach any WebSocket server anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        # No 'unsafe-inline': a style="" slipped into a page could lay a fake page over the
        # board. The UI sets styles through the CSSOM (Preact's style objects), which CSP allows.
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # For browsers that predate frame-ancestors.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


async def add_security_headers(_request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every response, whoever made it."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
