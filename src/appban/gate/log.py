"""The decision log: every gate decision, with its inputs, as one JSON line, written off the request path.

A request only takes a decision id (a per-process random prefix and a counter: no randomness or clock per
request) and puts one tuple on a queue; a writer thread turns tuples into JSON lines and appends each batch
with one `write` to a file opened for appending, so several worker processes can share one file without
interleaving parts of lines. `close` drains the queue before it returns, so a clean shutdown loses nothing.
Lines reach the operating system at each batch; they are not fsynced (a power cut can lose the last batch).
The queue has no bound: encoding a line costs a few microseconds, far less than answering a request, so it only
grows if the disk stalls, and `pending` shows it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import queue
import secrets
import threading
from json.encoder import encode_basestring
from pathlib import Path

from appban.gate.decision import Decision

__all__ = ["DecisionLog"]

logger = logging.getLogger(__name__)

_BATCH = 1_000
_FRAGMENTS = 10_000  # distinct decisions whose JSON is kept (a decision holds no clock: few are distinct)
_STOP = None

# (id, at, device, service, method, uri, token id, decision)
_Entry = tuple[str, dt.datetime, str, str | None, str | None, str | None, str | None, Decision]


class DecisionLog:
    """Appends decisions to a JSON-lines file (or nowhere, for `path=None`) from a background thread."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._prefix = secrets.token_hex(4) + "-"
        self._counter = itertools.count(1)
        self._queue: queue.SimpleQueue[_Entry | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._fragments: dict[Decision, str] = {}  # the writer thread's own
        self.written = 0
        self.failures = 0

    def next_id(self) -> str:
        """A decision id unique to this process run: `<8 hex>-<counter in hex>`."""
        return f"{self._prefix}{next(self._counter):x}"

    def record(self, decision_id: str, at: dt.datetime, device: str, service: str | None, method: str | None,
               uri: str | None, token: str | None, decision: Decision) -> None:
        """Queue one decision; never blocks and never fails the request."""
        if self.path is not None:
            self._queue.put((decision_id, at, device, service, method, uri, token, decision))

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        """Open the file (creating its directory) and start the writer."""
        if self.path is None or self._thread is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._thread = threading.Thread(target=self._run, name="appban-decision-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write everything queued so far, then stop the writer and close the file."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [entry for entry in batch if entry is not None]
            stopping = len(entries) < len(batch)
            if stopping:  # take whatever was queued after the stop mark, too
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        entries.append(item)
            self._write(entries)

    def _write(self, entries: list[_Entry]) -> None:
        if not entries or self._fd is None:
            return
        try:
            data = "".join(_line(entry, self._fragments) for entry in entries).encode()
            while data:  # a regular file takes it in one write unless the disk is full
                data = data[os.write(self._fd, data):]
            self.written += len(entries)
        except (OSError, ValueError, TypeError) as error:
            self.failures += len(entries)
            logger.error("decision log %s: %d decision(s) not written: %s", self.path, len(entries), error)


def _line(entry: _Entry, fragments: dict[Decision, str]) -> str:
    """One JSON object, built by hand from C-encoded strings; the part that comes from the decision is encoded
    once per distinct decision (the gate hands out the same prebuilt decisions again and again)."""
    decision_id, at, device, service, method, uri, token, decision = entry
    tail = fragments.get(decision)
    if tail is None:
        record: dict[str, object] = {
            "result": decision.result.value, "reason": decision.reason, "warning": decision.warning,
            "restriction": decision.restriction, "versions": dict(decision.versions)}
        if decision.notes:
            record["notes"] = list(decision.notes)
        tail = _ENCODER.encode(record)[1:]
        if len(fragments) >= _FRAGMENTS:
            fragments.clear()
        fragments[decision] = tail
    return (f'{{"id":{_text(decision_id)},"at":"{at.isoformat(timespec="microseconds")}","device":{_text(device)},'
            f'"service":{_text(service)},"method":{_text(method)},"uri":{_text(uri)},"token":{_text(token)},{tail}\n')


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
