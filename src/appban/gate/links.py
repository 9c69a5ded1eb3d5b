"""Links to a holder's remediation page, and the nonces of its form: HMAC-SHA256 under the server's secret. Pure.

A link is `base64url(device id) "." base64url(first 16 bytes of HMAC-SHA256(secret, "remediate" NUL id))`:
whoever has the link may see that one device's page and attest for it, and nobody can make a link for
another device without the secret. Links carry no expiry: a holder may open an old notice; a new secret
(APPBAN_SECRET) invalidates every link. Form nonces bind a device, a restriction and the time the page was
rendered, so a form posted from elsewhere, or hours later, is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets

__all__ = ["MAX_TOKEN_LENGTH", "NONCE_LIFETIME", "PAGE_PREFIX", "Links"]

PAGE_PREFIX = "/remediate/"
MAX_TOKEN_LENGTH = 1024  # a device id has at most 512 characters; its base64url with the MAC fits well within
NONCE_LIFETIME = dt.timedelta(hours=2)
_MAC_BYTES = 16


class Links:
    """Signs and checks remediation links and form nonces with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the secret must have at least 16 bytes")
        self._secret = secret

    def token(self, device_id: str) -> str:
        """The token of a device's page (the last segment of its URL)."""
        raw = device_id.encode()
        return f"{_b64(raw)}.{_b64(self._mac(b'remediate', raw)[:_MAC_BYTES])}"

    def path(self, device_id: str) -> str:
        """The path of a device's page, `/remediate/<token>`."""
        return PAGE_PREFIX + self.token(device_id)

    def device(self, token: str) -> str | None:
        """The device a token was made for; None for anything malformed or forged."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            return None
        encoded, mac = token.split(".")
        try:
            raw = _unb64(encoded)
            given = _unb64(mac)
            device_id = raw.decode()
        except (ValueError, UnicodeDecodeError):
            return None
        expected = self._mac(b"remediate", raw)[:_MAC_BYTES]
        return device_id if device_id and hmac.compare_digest(given, expected) else None

    def nonce(self, device_id: str, restriction_id: str, issued: dt.datetime) -> str:
        """A fresh nonce for one render of one attestation form."""
        stamp = str(int(issued.timestamp()))
        salt = secrets.token_urlsafe(12)
        return f"{stamp}.{salt}.{_b64(self._nonce_mac(device_id, restriction_id, stamp, salt))}"

    def check_nonce(self, nonce: str, device_id: str, restriction_id: str, now: dt.datetime) -> bool:
        """Whether a posted nonce was made here for this device and restriction, less than two hours ago."""
        parts = nonce.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(nonce) > 200:
            return False
        stamp, salt, mac = parts
        try:
            given = _unb64(mac)
        except ValueError:
            return False
        if not hmac.compare_digest(given, self._nonce_mac(device_id, restriction_id, stamp, salt)):
            return False
        issued = dt.datetime.fromtimestamp(int(stamp), dt.UTC)
        return issued - dt.timedelta(minutes=5) <= now <= issued + NONCE_LIFETIME

    def _nonce_mac(self, device_id: str, restriction_id: str, stamp: str, salt: str) -> bytes:
        return self._mac(b"attest", "\0".join((device_id, restriction_id, stamp, salt)).encode())

    def _mac(self, purpose: bytes, message: bytes) -> bytes:
        return hmac.new(self._secret, purpose + b"\0" + message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError("not base64url") from error


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
