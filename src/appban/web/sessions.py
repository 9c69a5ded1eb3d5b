"""Signed session cookies and CSRF tokens for the dashboard.

A session is a small JSON payload (`u`: the user's id or null before sign-in, `c`: the CSRF token, `e`: when it
ends, Unix seconds) in base64url, a dot, and the HMAC-SHA256 of that text under a key derived from the
server's secret (APPBAN_SECRET). Nothing secret is in the payload, and anything changed in it breaks the MAC:
a tampered, truncated or expired cookie is no session at all. The cookie is HttpOnly, SameSite=Lax, and
Secure when the public URL is https.

Every POST form carries the session's CSRF token in a hidden field (`csrf`); a POST whose field does not match
the cookie's token (compared in constant time) is refused with 403 before anything else happens. Signing in
issues a new session with a new CSRF token (no session fixation); signing out clears the cookie.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COOKIE", "CSRF_FIELD", "Session", "Sessions"]

COOKIE = "appban_session"
CSRF_FIELD = "csrf"
DEFAULT_LIFETIME = dt.timedelta(hours=8)  # one working day
_MAX_COOKIE = 1024


@dataclass(frozen=True, slots=True)
class Session:
    user: str | None
    csrf: str
    expires: int  # Unix seconds

    def csrf_matches(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


class Sessions:
    """Makes and reads signed session cookies under one secret."""

    def __init__(self, secret: bytes, *, secure: bool, clock: Callable[[], dt.datetime],
                 lifetime: dt.timedelta = DEFAULT_LIFETIME) -> None:
        self._key = hmac.new(secret, b"appban.web.session.v1", hashlib.sha256).digest()
        self.secure = secure
        self._clock = clock
        self._lifetime = lifetime

    def new(self, user: str | None) -> Session:
        """A fresh session (a new CSRF token), for this user or for a visitor not signed in."""
        ends = self._clock() + self._lifetime
        return Session(user=user, csrf=secrets.token_urlsafe(24), expires=int(ends.timestamp()))

    def encode(self, session: Session) -> str:
        payload = json.dumps({"u": session.user, "c": session.csrf, "e": session.expires}, separators=(",", ":"))
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{body}.{self._mac(body)}"

    def decode(self, value: str | None) -> Session | None:
        """The session in a cookie, if its MAC is right and it has not ended; None otherwise."""
        if not value or len(value) > _MAX_COOKIE or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            user, csrf, expires = data["u"], data["c"], data["e"]
        except (ValueError, binascii.Error, KeyError, TypeError):
            return None
        if not (user is None or isinstance(user, str)) or not isinstance(csrf, str) or not isinstance(expires, int):
            return None
        if expires <= self._clock().timestamp():
            return None
        return Session(user=user, csrf=csrf, expires=expires)

    def cookie_options(self) -> dict[str, object]:
        """What `Response.set_cookie` is given with the value."""
        return {"httponly": True, "samesite": "lax", "secure": self.secure, "path": "/",
                "max_age": int(self._lifetime.total_seconds())}

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
