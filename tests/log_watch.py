"""A logging handler that keeps every record in which an API token appears (the suite fails on any)."""

from __future__ import annotations

import logging
import re

TOKEN = re.compile(r"apb_[A-Za-z0-9_-]{43}")


class TokenWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is not ours to judge
            return
        if TOKEN.search(text) or (record.exc_text and TOKEN.search(record.exc_text)):
            self.leaks.append(f"{record.name} ({record.pathname}:{record.lineno}): {TOKEN.sub('apb_…', text)[:200]}")
