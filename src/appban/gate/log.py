"""The decision log: every gate decision, with its inputs, as one JSON line, written off the request path.

A request only takes a decision id (a per-process random prefix and a counter: no randomness or clock per
request) and appends one tuple to a deque. A writer thread wakes every 50 ms (not per decision: waking it for
each one made it take the GIL from the event loop thousands of times a second), turns what is there into JSON
lines and appends them with one `write` to a file opened for appending, so several worker processes can share
one file without interleaving parts of lines. `close` drains the deque before it returns, so a clean shutdown
loses nothing. Lines reach the operating system at each batch; they are not fsynced (a power cut can lose the
last 50 ms). The deque has no bound: encoding a line costs about two microseconds, far less than answering a
request, so it only grows if the disk stalls, and `pending` shows it.

With a `sealer`, the writer also hashes the bytes it appends and, every `seal_every` seconds and at `close`,
hands the run since the last seal to it (appban.gate.seals): the server stores it in the audit log. A seal
that cannot be stored (the database is away) is kept and the next one covers both runs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from json.encoder import encode_basestring
from pathlib import Path

from appban.gate.decision import Decision
from appban.gate.seals import DecisionSeal, SealRun

__all__ = ["DecisionLog"]

logger = logging.getLogger(__name__)

_BATCH = 256  # lines a write takes at most: the GIL is let go at each write, so the event loop waits at most
#              the time it takes to format one batch (about 0.5 ms), not one whole round
_WAKE = 0.05  # seconds between the writer's rounds
_FRAGMENTS = 10_000  # distinct decisions whose JSON is kept (a decision holds no clock: few are distinct)

# (id, at, device, service, method, uri, token id, decision)
_Entry = tuple[str, dt.datetime, str, str | None, str | None, str | None, str | None, Decision]


class DecisionLog:
    """Appends decisions to a JSON-lines file (or nowhere, for `path=None`) from a background thread."""

    def __init__(self, path: Path | None, *, sealer: Callable[[DecisionSeal], None] | None = None,
                 seal_every: float = 60.0) -> None:
        self.path = path
        self._prefix = secrets.token_hex(4) + "-"
        self._sealer = sealer
        self._seal_every = seal_every
        self._run_state = SealRun(self._prefix[:-1])
        self._sealed_at = time.monotonic()
        self.sealed = 0  # decisions whose seal was stored
        self._counter = itertools.count(1)
        self._entries: deque[_Entry] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._fragments: dict[Decision, str] = {}  # the writer thread's own
        self._second = -1  # the writer's cached rendering of the current second
        self._second_text = ""
        self.written = 0
        self.failures = 0

    def next_id(self) -> str:
        """A decision id unique to this process run: `<8 hex>-<counter in hex>`."""
        return f"{self._prefix}{next(self._counter):x}"

    def record(self, decision_id: str, at: dt.datetime, device: str, service: str | None, method: str | None,
               uri: str | None, token: str | None, decision: Decision) -> None:
        """Queue one decision; never blocks and never fails the request."""
        if self.path is not None:
            self._entries.append((decision_id, at, device, service, method, uri, token, decision))

    @property
    def pending(self) -> int:
        return len(self._entries)

    def start(self) -> None:
        """Open the file (creating its directory) and start the writer."""
        if self.path is None or self._thread is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._thread = threading.Thread(target=self._run, name="appban-decision-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write everything recorded so far, then stop the writer and close the file."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._stop.clear()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(_WAKE)
            self._drain()
            if stopping:
                self._drain()  # what was recorded while the last round ran
                self._seal()
                return
            if time.monotonic() - self._sealed_at >= self._seal_every:
                self._seal()

    def _seal(self) -> None:
        """Hand the run since the last stored seal to the sealer; on failure keep it for the next round."""
        self._sealed_at = time.monotonic()
        seal = self._run_state.seal()
        if seal is None or self._sealer is None:
            return
        try:
            self._sealer(seal)
        except Exception as error:  # the database is away: the next seal covers this run too
            logger.warning("decision log %s: %d decision(s) from %s not sealed yet, will retry: %s",
                           self.path, seal.count, seal.first, error)
            return
        self._run_state.reset()
        self.sealed += seal.count

    def _drain(self) -> None:
        entries = self._entries
        while entries:
            batch: list[_Entry] = []
            take = entries.popleft  # deque ends are thread-safe: requests append while this pops
            try:
                while len(batch) < _BATCH:
                    batch.append(take())
            except IndexError:
                pass
            self._write(batch)

    def _write(self, entries: list[_Entry]) -> None:
        if not entries or self._fd is None:
            return
        try:
            data = "".join([self._line(entry) for entry in entries]).encode()
            rest = data
            while rest:  # a regular file takes it in one write unless the disk is full
                rest = rest[os.write(self._fd, rest):]
            self.written += len(entries)
            if self._sealer is not None:
                self._run_state.extend(data, entries[0][0], entries[-1][0], len(entries))
        except (OSError, ValueError, TypeError) as error:
            self.failures += len(entries)
            self._seal()  # what was written before stays sealable; a partly written batch shows as unsealed
            logger.error("decision log %s: %d decision(s) not written: %s", self.path, len(entries), error)

    def _line(self, entry: _Entry) -> str:
        """One JSON object, built by hand from C-encoded strings. The part that comes from the decision is
        encoded once per distinct decision (the gate hands out the same prebuilt decisions again and again), and
        the time once per second (`isoformat` was half of a line's cost)."""
        decision_id, at, device, service, method, uri, token, decision = entry
        fragments = self._fragments
        tail = fragments.get(decision)
        if tail is None:
            tail = _tail(decision)
            if len(fragments) >= _FRAGMENTS:
                fragments.clear()
            fragments[decision] = tail
        stamp = at.timestamp()
        second = int(stamp // 1)
        if second != self._second:
            self._second = second
            self._second_text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return (f'{{"id":{_text(decision_id)},"at":"{self._second_text}.{at.microsecond:06d}+00:00",'
                f'"device":{_text(device)},"service":{_text(service)},"method":{_text(method)},"uri":{_text(uri)},'
                f'"token":{_text(token)},{tail}\n')


def _tail(decision: Decision) -> str:
    record: dict[str, object] = {
        "result": decision.result.value, "reason": decision.reason, "warning": decision.warning,
        "restriction": decision.restriction, "versions": dict(decision.versions)}
    if decision.notes:
        record["notes"] = list(decision.notes)
    return _ENCODER.encode(record)[1:]


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
