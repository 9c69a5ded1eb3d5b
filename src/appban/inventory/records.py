"""Reading one record of a source's file: typed fields, each error naming the file, the record and the field.

Every inventory format is a list of records (devices, hosts, result-log lines, CSV rows) of loosely typed
values. `Record` wraps one such mapping so that a format module reads `record.text("packageName")` and gets
either the value or one clear error, `FILE: device 3 (enterprises/e/devices/abc): `lastStatusReportTime`
is not a timestamp: 'yesterday'`, instead of a KeyError deep in a loop.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from appban.errors import InvalidInput, Location
from appban.inventory.interface import MAX_RECORD_APPS, ReportDefaults
from appban.model import App, Platform

__all__ = [
    "IDENTIFIER_PATTERNS",
    "MAX_TEXT",
    "Record",
    "SeenRecords",
    "app_identity",
    "default_observed_at",
    "intern_app",
    "known_app",
    "parse_timestamp",
]

T = TypeVar("T")

# What an installable identity looks like per platform; anything else is refused, not guessed at.
IDENTIFIER_PATTERNS: Mapping[Platform, re.Pattern[str]] = {
    Platform.ANDROID: re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+"),
    Platform.IOS: re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"),
    Platform.IPADOS: re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"),
    Platform.MACOS: re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9_-]+)+"),
    Platform.WINDOWS: re.compile(r"[^\x00-\x1f]{1,255}"),  # package family names and program names alike
}
MAX_TEXT = 4096


@dataclass(frozen=True, slots=True)
class Record:
    """One record of an inventory file, with what names it in error messages."""

    value: Mapping[str, Any]
    source: str
    label: str  # "device 3 (enterprises/e/devices/abc)", "line 17", "row 4"
    line: int | None = None  # where the record starts, for line-oriented files (CSV, JSON lines)

    @classmethod
    def of(cls, value: object, source: str, label: str, line: int | None = None) -> Record:
        if not isinstance(value, Mapping):
            raise InvalidInput.at(source, f"{label}: expected an object, found {_kind(value)}", line=line)
        return cls(value, source, label, line)

    def fail(self, field: str, message: str, hint: str | None = None) -> InvalidInput:
        return InvalidInput.at(self.source, f"{self.label}: `{field}` {message}", line=self.line, hint=hint)

    def where(self) -> Location:
        return Location(self.source, self.line)

    def relabel(self, label: str) -> Record:
        return Record(self.value, self.source, label, self.line)

    def has(self, field: str) -> bool:
        return self.value.get(field) is not None

    def text(self, field: str, *, required: bool = True) -> str | None:
        value = self.value.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
            raise self.fail(field, f"must be text, not {_kind(value)}")
        text = str(value).strip()
        if len(text) > MAX_TEXT:
            raise self.fail(field, f"is longer than {MAX_TEXT} characters")
        if required and not text:
            raise self.fail(field, "is empty")
        return text or None

    def required_text(self, field: str) -> str:
        text = self.text(field)
        assert text is not None
        return text

    def choice(self, field: str, choices: Mapping[str, T], *, required: bool = True) -> T | None:
        text = self.text(field, required=required)
        if text is None:
            return None
        if text not in choices:
            raise self.fail(field, f"cannot be {text!r}", f"one of: {', '.join(sorted(choices))}")
        return choices[text]

    def boolean(self, field: str) -> bool | None:
        value = self.value.get(field)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise self.fail(field, f"must be true or false, not {_kind(value)}")

    def timestamp(self, field: str, *, required: bool = True) -> dt.datetime | None:
        value = self.value.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is missing")
            return None
        parsed = parse_timestamp(value)
        if parsed is None:
            raise self.fail(field, f"is not a timestamp: {_short(value)}",
                            "RFC 3339 like 2023-03-15T09:30:00Z, or seconds since 1970")
        return parsed

    def items(self, field: str, *, required: bool = False) -> Sequence[Any]:
        value = self.value.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is missing")
            return ()
        if not isinstance(value, list | tuple):
            raise self.fail(field, f"must be a list, not {_kind(value)}")
        if len(value) > MAX_RECORD_APPS:
            raise self.fail(field, f"lists {len(value)} entries, more than the {MAX_RECORD_APPS} accepted")
        return value

    def records(self, field: str, *, required: bool = False) -> Iterator[Record]:
        """The objects of a list field, each labelled for errors (`... applicationReports[3]`)."""
        for index, item in enumerate(self.items(field, required=required)):
            yield Record.of(item, self.source, f"{self.label}, {field}[{index}]", self.line)


class SeenRecords:
    """The record ids already read from one file, each with a digest of its record, so that an id listed twice
    is read once if both records are identical and refused, naming both, if they differ. Memory: one id, one
    label and 16 bytes per record."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, bytes]] = {}

    def first_time(self, key: str, record: Record, field: str) -> bool:
        """True the first time `key` is seen, False for an identical repeat; raises for a different one."""
        digest = _digest(record.value)
        earlier = self._seen.get(key)
        if earlier is None:
            self._seen[key] = (record.label, digest)
            return True
        if earlier[1] == digest:
            return False
        raise record.fail(field, f"{_short(key)} is listed again with different data (first as {earlier[0]})",
                          "a file holds each record once; export it again")


def _digest(value: object) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)  # ASCII: lone surrogates too
    return hashlib.blake2b(text.encode("ascii"), digest_size=16).digest()


def app_identity(platform: Platform, identifier: str, record: Record, field: str) -> App:
    """An App, once the identifier has the shape its platform gives identifiers."""
    app = _valid_app(platform, identifier)
    if app is None:
        raise record.fail(field, f"{identifier!r} is not a valid {platform} app identifier")
    return app


def known_app(platform: Platform, identifier: str) -> App | None:
    """The App for a well-formed identifier, None for one its platform does not allow (no error built)."""
    return _valid_app(platform, identifier)


@functools.lru_cache(maxsize=65_536)
def _valid_app(platform: Platform, identifier: str) -> App | None:
    """A fleet holds a few thousand distinct apps on millions of rows: check and build each one once."""
    if not IDENTIFIER_PATTERNS[platform].fullmatch(identifier):
        return None
    return intern_app(platform, identifier)


@functools.lru_cache(maxsize=65_536)
def intern_app(platform: Platform, identifier: str) -> App:
    """The one App object of an identity (while it is among the 65,536 most recent), for readers and the store
    alike: an inventory read from the store and a report read from a file then hold the same objects, and
    dictionaries keyed by apps find them by identity instead of calling the dataclass's `__eq__`."""
    return App(platform, identifier)


def default_observed_at(defaults: ReportDefaults, source: str, why: str, hint: str | None = None) -> dt.datetime:
    """The report time from the import's defaults, in UTC, for a format that carries none (`why` says so)."""
    if defaults.observed_at is None:
        raise InvalidInput.at(source, why, hint=hint or "give the time the inventory was taken with --observed-at")
    observed = defaults.observed_at
    return (observed if observed.tzinfo else observed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def parse_timestamp(value: object) -> dt.datetime | None:
    """RFC 3339 / ISO 8601 text (naive means UTC), or a Unix time in seconds or milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds, as Headwind and some JSON exporters write them
            seconds /= 1000
        if not 0 <= seconds < 4e9:
            return None
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or len(value) > 64:
        return None
    return _parse_text_timestamp(value)


@functools.lru_cache(maxsize=4096)
def _parse_text_timestamp(value: str) -> dt.datetime | None:
    """Text timestamps repeat (every app row of a device carries its time): parse each once."""
    text = value.strip()
    if text.isdigit():
        return parse_timestamp(int(text))
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Graph and AMAPI write up to nanoseconds
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that moves year 1 or 9999 out of range
        return None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, bytes | bytearray):
        return "binary data"  # a property list's <data>
    if isinstance(value, dt.datetime | dt.date):
        return "a date"  # a property list's <date>
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    return f"the text {_short(value)}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
