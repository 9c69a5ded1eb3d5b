"""Structured logs: one JSON object per line, so a log pipeline reads fields instead of parsing prose.

`JsonFormatter` renders any record as JSON: time, level, logger, message, and every field passed with
`extra=` (the API's request lines carry method, route, status, duration_ms and the caller's token id; never
a secret, never a request body). `create_api` installs it on the `appban.api` logger when nothing else has
configured that logger.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

__all__ = ["REQUEST_FIELDS", "JsonFormatter", "install_json_logging"]

REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "token")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))


def install_json_logging(logger: logging.Logger) -> None:
    """JSON lines on stderr for `logger`, unless the application configured handlers for it already."""
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
