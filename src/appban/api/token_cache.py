"""The valid API tokens in memory, by hash: a request costs a dictionary look-up, not a query.

The table is reloaded when it is a second old, so a token revoked anywhere (another worker, the CLI) stops
working within a second, and at once in the process that revoked it (`invalidate`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from appban.access import TokenInfo, looks_like_token, token_hash
from appban.store import Database, TokenRepository

__all__ = ["TokenCache"]


class TokenCache:
    """The valid tokens by hash, reloaded from the store when older than `ttl` seconds. Thread-safe."""

    def __init__(self, database: Database, clock: Callable[[], dt.datetime], ttl: float = 1.0) -> None:
        self._database = database
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenInfo] = {}
        self._loaded = float("-inf")

    def lookup(self, secret: str) -> TokenInfo | None:
        """The token this secret belongs to if it is valid now, else None."""
        if not looks_like_token(secret):
            return None
        now = self._clock()
        info = self._table(now).get(token_hash(secret))
        return info if info is not None and info.valid(now) else None

    def invalidate(self) -> None:
        """Reload at the next look-up (after this process created or revoked a token)."""
        with self._lock:
            self._loaded = float("-inf")

    def _table(self, now: dt.datetime) -> dict[str, TokenInfo]:
        with self._lock:
            if time.monotonic() - self._loaded < self._ttl:
                return self._tokens
        with self._database.session() as session:
            tokens = TokenRepository(session).valid_by_hash(now)
        with self._lock:
            self._tokens, self._loaded = tokens, time.monotonic()
        return tokens
