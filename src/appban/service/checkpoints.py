"""Signed checkpoints of the audit log on a schedule, published where the operator cannot rewrite them.

A checkpoint (appban.merkle) pins the log's first N entries; it defends history only once it is somewhere the
operator does not control. `appban worker --checkpoint-key` signs one every `every` (when the log grew) and
publishes it to a directory (an auditor's share, a mounted bucket) and/or an HTTPS endpoint (the parent
organisation's collector, a ticket system), as the text `appban audit verify --checkpoint` reads back.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appban.merkle import Checkpoint, sign_checkpoint, tree_root
from appban.store import AuditLog, Database

__all__ = ["CheckpointSchedule"]

logger = logging.getLogger("appban.worker")
_TIMEOUT = 10.0  # seconds a publication endpoint gets to answer


@dataclass(slots=True)
class CheckpointSchedule:
    """Where and how often the worker publishes; remembers what it last published (one per worker process)."""

    key: Ed25519PrivateKey
    every: dt.timedelta
    directory: Path | None = None
    url: str | None = None
    _last_at: dt.datetime | None = field(default=None, init=False)
    _last_size: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.directory is None and self.url is None:
            raise ValueError("a checkpoint schedule needs a directory or a URL to publish to")

    def publish_if_due(self, database: Database, now: dt.datetime) -> Checkpoint | None:
        """Sign and publish a checkpoint when `every` has passed and the log grew; None otherwise. A failed
        publication is logged and tried again at the next round."""
        if self._last_at is not None and now - self._last_at < self.every:
            return None
        with database.session() as session:
            log = AuditLog(session)
            if log.count() in (0, self._last_size):  # nothing new to pin: look again next round (a count is cheap)
                return None
            leaves = log.leaves()
        signed = sign_checkpoint(len(leaves), tree_root(leaves), self.key)
        try:
            if self.directory is not None:
                _write(self.directory / f"checkpoint-{signed.size:012d}.txt", signed.text)
            if self.url is not None:
                _post(self.url, signed)
        except (OSError, ValueError) as error:
            logger.warning("worker: checkpoint of %d entries not published, will retry: %s", signed.size, error)
            return None
        self._last_at, self._last_size = now, signed.size
        logger.info("worker: checkpoint of %d audit entries published", signed.size)
        return signed


def _write(path: Path, text: str) -> None:
    """All or nothing: a reader never sees half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".checkpoint-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _post(url: str, signed: Checkpoint) -> None:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, data=signed.text.encode(), method="POST", headers={  # noqa: S310 (checked above)
        "Content-Type": "text/plain; charset=utf-8", "X-Appban-Checkpoint-Size": str(signed.size)})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # noqa: S310 (checked above)
            if not 200 <= response.status < 300:
                raise ValueError(f"{url} answered {response.status}")
    except urllib.error.HTTPError as error:
        raise ValueError(f"{url} answered {error.code}") from None
    except urllib.error.URLError as error:
        raise OSError(f"{url}: {error.reason}") from None
