"""Delivery by webhook: a JSON POST signed with HMAC-SHA256, for chat tools and ticket systems. A shell.

The body is the notice as JSON. Headers: `X-Appban-Timestamp` (Unix seconds) and
`X-Appban-Signature: sha256=<hex>`, the HMAC-SHA256 under the shared secret of `<timestamp>.<body>`; a receiver
recomputes it, compares in constant time, and refuses a timestamp more than five minutes away from its clock,
so a captured request cannot be replayed later. `X-Appban-Notice` carries the notice's dedup key: a retried
delivery that had in fact arrived can be recognised. Configured by `APPBAN_WEBHOOK_URL` and
`APPBAN_WEBHOOK_SECRET`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from appban.notify.interface import DeliveryError, Notice

__all__ = ["MAX_SKEW", "WebhookTransport", "body_of", "sign", "verify"]

MAX_SKEW = 300  # seconds a receiver should accept between the timestamp and its own clock


def body_of(notice: Notice) -> bytes:
    """The JSON body of a notice (sorted keys, UTF-8)."""
    payload = {"key": notice.key.text(), "kind": str(notice.kind), "recipient": notice.recipient,
               "language": notice.language, "subject": notice.subject, "text": notice.text, "html": notice.html,
               "items": [{"kind": str(k.kind), "restriction": k.restriction, "device": k.device,
                          "deadline": None if k.deadline is None else k.deadline.isoformat()} for k in notice.keys]}
    return json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>`."""
    return "sha256=" + hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, signature: str, body: bytes, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    if not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > MAX_SKEW:
        return False
    return hmac.compare_digest(signature, sign(secret, int(timestamp), body))


class WebhookTransport:
    name = "webhook"

    def __init__(self, url: str, secret: bytes, *, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"APPBAN_WEBHOOK_URL: {url!r} is not an http(s) URL")
        if len(secret) < 16:
            raise ValueError("APPBAN_WEBHOOK_SECRET must have at least 16 bytes")
        self._url, self._secret, self._timeout, self._clock = url, secret, timeout, clock

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookTransport | None:
        env = os.environ if env is None else env
        url = env.get("APPBAN_WEBHOOK_URL", "").strip()
        if not url:
            return None
        return cls(url, env.get("APPBAN_WEBHOOK_SECRET", "").encode())

    def send(self, notice: Notice) -> None:
        body = body_of(notice)
        timestamp = int(self._clock())
        request = urllib.request.Request(self._url, data=body, method="POST", headers={  # noqa: S310 (http(s) checked)
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "appban",
            "X-Appban-Timestamp": str(timestamp), "X-Appban-Signature": sign(self._secret, timestamp, body),
            "X-Appban-Notice": notice.key.text()})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            # 4xx other than 408/429 will not get better by retrying
            permanent = 400 <= error.code < 500 and error.code not in (408, 429)
            raise DeliveryError(f"webhook answered {error.code} {error.reason}", permanent=permanent) from error
        except (urllib.error.URLError, OSError) as error:
            raise DeliveryError(f"webhook unreachable: {error}") from error
