"""What keeps the local web page safe to run: CSRF tokens for every POST form, strict response
headers (no scripts, no referrers leaking search terms), and the loopback-only binding rule."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.responses import Response

CSRF_COOKIE = "hccwatch_csrf"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
HEADERS = {
    # The pages need no JavaScript at all; digests are shown in a sandboxed srcdoc frame and
    # carry inline styles, hence 'unsafe-inline' for styles only.
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; every other name or address is remote."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def trusted_hosts(host: str) -> tuple[str, ...]:
    """The Host header values a server bound to loopback `host` answers: the usual loopback
    names and the address itself (127.0.0.2 is loopback too); any other name is refused,
    which stops DNS-rebinding pages from reading the local server."""
    bare = host.strip().strip("[]").lower()
    return tuple(dict.fromkeys((*LOOPBACK_NAMES, bare, f"[{bare}]" if ":" in bare else bare)))


class Csrf:
    """Signed double-submit tokens: a random cookie, and a form token that is its HMAC under a
    per-process secret (so a cookie planted by another localhost app is useless)."""

    def __init__(self, secret: bytes | None = None):
        self.secret = secret or secrets.token_bytes(32)

    def token(self, cookie: str) -> str:
        return hmac.new(self.secret, cookie.encode(), hashlib.sha256).hexdigest()

    def valid(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie and token) and hmac.compare_digest(self.token(cookie), token)

    async def middleware(self, request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Give every visitor a CSRF cookie and every response the security headers."""
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = None if cookie else secrets.token_urlsafe(32)
        request.state.csrf_token = self.token(cookie or fresh)
        response = await call_next(request)
        if fresh:
            response.set_cookie(CSRF_COOKIE, fresh, httponly=True, samesite="strict")
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def check(self, request: Request, token: str | None) -> None:
        """Refuse a POST whose token does not match its cookie or that comes from another site."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            raise HTTPException(403, "This form was sent from another site; it was refused.")
        if not self.valid(request.cookies.get(CSRF_COOKIE), token):
            raise HTTPException(403, "The form had expired (or cookies are off). "
                                     "Go back, reload the page and send it again.")
