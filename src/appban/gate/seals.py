"""Seals over the decision log: a run of one process's decision lines, counted and hashed, for the audit log.

The decision log is a plain JSON-lines file that several gate processes append to; anyone with write access
to the disk could change or drop a line. Each process therefore keeps a running SHA-256 over exactly the bytes
it appends and, every minute and when it stops, seals the run since its last seal into the audit log (event
`gate:decisions`), whose hash chain and Merkle tree protect the seal itself (docs/audit.md). `check_lines`
recomputes every seal from the file: a line changed, removed, added inside a sealed run or moved out of order
shows as a digest or count that differs.

Pure: values in, findings out; the file reading is the caller's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash as _Digest

__all__ = ["DecisionSeal", "SealCheck", "SealRun", "check_lines"]

_ID = re.compile(rb'^\{"id":"([0-9a-f]{8})-([0-9a-f]+)"')


@dataclass(frozen=True, slots=True)
class DecisionSeal:
    """What the audit log keeps of one run: the process's id prefix, its first and last decision ids, how many
    lines and the SHA-256 of their bytes in the order they were written."""

    process: str
    first: str
    last: str
    count: int
    sha256: str

    def details(self) -> dict[str, object]:
        return {"process": self.process, "first": self.first, "last": self.last, "count": self.count,
                "sha256": self.sha256}

    @classmethod
    def from_details(cls, details: Mapping[str, object]) -> DecisionSeal:
        """The seal an audit entry holds; ValueError if its details are not one."""
        try:
            process, first, last, digest = (str(details[k]) for k in ("process", "first", "last", "sha256"))
            count = details["count"]
        except KeyError as missing:
            raise ValueError(f"a decision seal has no {missing}") from None
        for decision in (first, last):
            if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]+", decision) or not decision.startswith(f"{process}-"):
                raise ValueError(f"a decision seal names {decision!r}, not a decision id of process {process!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"a decision seal's count is {count!r}, not a positive number")
        return cls(process=process, first=first, last=last, count=count, sha256=digest)


@dataclass(slots=True)
class SealRun:
    """The writer's side: the run since the last seal, extended batch by batch (owned by one thread)."""

    process: str
    first: str | None = None
    last: str | None = None
    count: int = 0
    _digest: _Digest = field(default_factory=hashlib.sha256)

    def extend(self, data: bytes, first: str, last: str, count: int) -> None:
        """Bytes just appended to the file: `count` lines from decision `first` to decision `last`."""
        if count == 0:
            return
        self._digest.update(data)
        self.first = self.first or first
        self.last = last
        self.count += count

    def seal(self) -> DecisionSeal | None:
        """The seal of the run so far (None if empty); the run goes on until `reset`."""
        if self.count == 0 or self.first is None or self.last is None:
            return None
        return DecisionSeal(process=self.process, first=self.first, last=self.last, count=self.count,
                            sha256=self._digest.hexdigest())

    def reset(self) -> None:
        """After the seal was stored: the next run starts empty."""
        self.first = self.last = None
        self.count = 0
        self._digest = hashlib.sha256()


@dataclass(frozen=True, slots=True)
class SealCheck:
    """What `check_lines` found: one problem per seal that does not match, and how many lines no seal covers
    (the run after a process's last seal, or lines written while the database was away and never sealed)."""

    seals: int
    lines: int
    problems: tuple[str, ...]
    unsealed: int


def check_lines(lines: Iterable[bytes], seals: Sequence[DecisionSeal]) -> SealCheck:
    """Recompute each seal from the log's lines (each with its newline, in file order)."""
    runs: dict[str, list[DecisionSeal]] = {}
    starts: dict[str, dict[str, int]] = {}  # process -> first decision of a run -> the run's index
    for seal in seals:
        runs.setdefault(seal.process, []).append(seal)
        starts.setdefault(seal.process, {})[seal.first] = len(runs[seal.process]) - 1
    reading: dict[str, tuple[int, _Digest, int]] = {}  # process -> (run, digest so far, lines so far)
    expected = dict.fromkeys(runs, 0)  # process -> the run that should begin next
    problems: list[str] = []
    total = covered = 0
    for line in lines:
        total += 1
        found = _ID.match(line)
        if found is None or (process := found.group(1).decode()) not in runs:
            continue
        decision = f"{process}-{found.group(2).decode()}"
        begins = starts[process].get(decision)
        if begins is not None:
            if process in reading:
                problems.append(_cut_short(runs[process][reading.pop(process)[0]]))
            problems += [_missing(seal) for seal in runs[process][expected[process]:begins]]
            reading[process] = (begins, hashlib.sha256(), 0)
            expected[process] = max(expected[process], begins + 1)
        if process not in reading:
            stray = _sealed_in(runs[process], int(found.group(2), 16))
            if stray is not None:
                problems.append(f"decision {decision} is outside its sealed run {stray.first}..{stray.last}: a line "
                                "was copied or moved")
            continue
        index, digest, count = reading[process]
        digest.update(line)
        covered += 1
        seal = runs[process][index]
        if decision == seal.last:
            problems += _compare(seal, digest.hexdigest(), count + 1)
            del reading[process]
        else:
            reading[process] = (index, digest, count + 1)
    for process, (index, _, _) in reading.items():
        problems.append(_cut_short(runs[process][index]))
    for process, seals_of in runs.items():
        problems += [_missing(seal) for seal in seals_of[expected[process]:]]
    return SealCheck(seals=len(seals), lines=total, problems=tuple(problems), unsealed=total - covered)


def _sealed_in(seals: Sequence[DecisionSeal], counter: int) -> DecisionSeal | None:
    """The seal whose run holds this decision number (ids count up within a process), if any."""
    for seal in seals:
        if int(seal.first.rpartition("-")[2], 16) <= counter <= int(seal.last.rpartition("-")[2], 16):
            return seal
    return None


def _missing(seal: DecisionSeal) -> str:
    return (f"decisions {seal.first}..{seal.last}: not in the log: its first decision is missing (lines were "
            "removed, or this is not the log file the gate wrote)")


def _cut_short(seal: DecisionSeal) -> str:
    return f"decisions {seal.first}..{seal.last}: its last decision is missing: lines were removed"


def _compare(seal: DecisionSeal, digest: str, count: int) -> list[str]:
    if count != seal.count:
        return [f"decisions {seal.first}..{seal.last}: {count} lines where {seal.count} were sealed: lines were "
                f"{'removed' if count < seal.count else 'added'}"]
    if digest != seal.sha256:
        return [f"decisions {seal.first}..{seal.last}: the lines differ from what was sealed: a decision was "
                "changed or the lines reordered"]
    return []
