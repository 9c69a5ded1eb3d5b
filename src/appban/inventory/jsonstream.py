"""Streaming the records of a JSON document, so that a 2 GB export is read in bounded memory.

ijson (with its C backend) parses incrementally; `json_records` yields the objects found under one path
(`devices.item` for an Android Management API page, `value.item` for a Microsoft Graph page) and the
document's top-level scalars (`nextPageToken`, `@odata.nextLink`) once it has read them. Malformed or
truncated JSON becomes one `InvalidInput` naming the file and how far it got.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

import ijson

from appban.errors import InvalidInput
from appban.inventory.lines import numbered_lines

__all__ = ["JsonPage", "JsonStart", "json_document", "json_lines", "json_peek", "json_records", "json_start"]

MAX_LINE_BYTES = 16 * 1024 * 1024  # one osquery result line; larger is hostile
MAX_RECORD_EVENTS = 1_000_000  # JSON tokens in one record: a device with 20,000 apps needs about 200,000
MAX_START_BYTES = 1024 * 1024  # how far `json_start` reads to see how a document begins
MAX_DEPTH = 64  # nested lists and objects; real formats need under 10, deeper is hostile (slow prefixes, recursion)
MAX_PREFIX_CHARS = 1024  # a path of keys longer than this matches no record path: see `_events`
OVERLONG_PREFIX = "..overlong.."  # the prefix of values under such a path


@dataclass(slots=True)
class JsonPage:
    """What a paged list response says besides its records, filled in as the stream is read."""

    scalars: dict[str, Any] = field(default_factory=dict)
    records: int = 0


def json_records(stream: BinaryIO, source: str, item_path: str, page: JsonPage | None = None,
                 ) -> Iterator[Any]:
    """Yield each object under `item_path` (ijson prefix syntax); the top level must be an object, or, for
    `item_path` "item", a list whose elements are the records."""
    top_list = item_path == "item"
    list_path = "" if top_list else item_path.removesuffix(".item")
    found_list = False
    try:
        events = _events(stream, source)
        builder: ijson.ObjectBuilder | None = None
        depth = 0
        tokens = 0
        index = 0
        first = True
        for prefix, event, value in events:
            if first:
                first = False
                if top_list and event != "start_array":
                    raise InvalidInput.at(source, "expected a JSON list at the top level")
                if not top_list and event != "start_map":
                    raise InvalidInput.at(source, "expected a JSON object at the top level",
                                          hint=f"this format lists its records under `{list_path}`")
            if builder is not None:
                tokens += 1
                if tokens > MAX_RECORD_EVENTS:
                    raise InvalidInput.at(source, f"record {index + 1} under `{list_path}` holds more than "
                                          f"{MAX_RECORD_EVENTS} JSON values")
                builder.event(event, value)
                if event in ("start_map", "start_array"):
                    depth += 1
                elif event in ("end_map", "end_array"):
                    depth -= 1
                if depth == 0:
                    index += 1
                    if page is not None:
                        page.records += 1
                    yield builder.value
                    builder = None
                continue
            if prefix == list_path and event == "start_array":
                found_list = True
            elif prefix == item_path:
                if event in ("start_map", "start_array"):
                    builder = ijson.ObjectBuilder()
                    builder.event(event, value)
                    depth = 1
                    tokens = 1
                else:
                    yield value  # a scalar where an object belongs: the format module names the record
            elif page is not None and "." not in prefix and prefix and event in (
                    "string", "number", "boolean", "null"):
                page.scalars[prefix] = value
    except ijson.common.IncompleteJSONError as error:
        raise InvalidInput.at(source, f"not valid JSON or cut short: {_first_line(error)}",
                              hint="export the file again; nothing was imported from it") from None
    except ijson.common.JSONError as error:
        raise InvalidInput.at(source, f"not valid JSON: {_first_line(error)}") from None
    except UnicodeDecodeError:
        raise InvalidInput.at(source, "not UTF-8 text") from None
    if first:
        raise InvalidInput.at(source, "the file is empty")
    if not found_list:
        raise InvalidInput.at(source, f"no `{list_path}` list in this file",
                              hint="is this the right --format for the file?")


@dataclass(frozen=True, slots=True)
class JsonStart:
    """How a JSON document begins: an object (and its first key, None if empty), a list, or a bare value."""

    kind: Literal["object", "list", "value"]
    first_key: str | None = None


def json_start(stream: BinaryIO, source: str) -> tuple[JsonStart, BinaryIO]:
    """See how a document begins without losing it, for formats that accept several shapes: returns what was
    seen and a stream that reads the whole document again from its first byte."""
    head = b""
    while True:
        chunk = stream.read(64 * 1024)
        head += chunk
        start = _start_of(head, source, complete=not chunk or len(head) > MAX_START_BYTES)
        if start is not None:
            return start, io.BufferedReader(_Replay(head, stream))
        if not chunk or len(head) > MAX_START_BYTES:
            raise InvalidInput.at(source, f"no JSON value begins within the first {MAX_START_BYTES} bytes")


def json_peek(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first byte of a stream that is not white space (b"" if there is none within `MAX_START_BYTES`), and a
    stream that reads the whole input again from its first byte: for inputs that are either one JSON document or
    JSON lines, which `json_start` cannot tell apart without losing the line a malformed first line is on."""
    head = b""
    while len(head) <= MAX_START_BYTES:
        chunk = stream.read(64 * 1024)
        head += chunk
        stripped = head.lstrip()
        if stripped or not chunk:
            return stripped[:1], io.BufferedReader(_Replay(head, stream))
    return b"", io.BufferedReader(_Replay(head, stream))


def json_document(stream: BinaryIO, source: str) -> Any:
    """The whole document as one value, for a file that is a single record; more than `MAX_RECORD_EVENTS`
    JSON values is refused."""
    builder = ijson.ObjectBuilder()
    count = 0
    with _json_errors(source):
        for _prefix, event, value in _events(stream, source):
            count += 1
            if count > MAX_RECORD_EVENTS:
                raise InvalidInput.at(source, f"the document holds more than {MAX_RECORD_EVENTS} JSON values")
            builder.event(event, value)
    if not count:
        raise InvalidInput.at(source, "the file is empty")
    return builder.value


def _events(stream: BinaryIO, source: str) -> Iterator[tuple[str, str, Any]]:
    """`ijson.parse`'s (prefix, event, value) events, computed here from `ijson.basic_parse` so that hostile
    nesting costs nothing: ijson.parse joins the whole path for every event of a 64 KiB chunk before yielding
    the first (64 KiB of `[` takes seconds, quadratic in the depth). Here nesting past `MAX_DEPTH` is refused
    as soon as it is read, a prefix is built once per key, and one longer than `MAX_PREFIX_CHARS` (which no
    format's record path is) becomes `OVERLONG_PREFIX`, so long keys cannot make every event expensive."""
    containers: list[str] = []  # the prefix of each open list or object
    values: list[str] = []  # the prefix of the values inside it
    for event, value in ijson.basic_parse(stream, use_float=False):
        if event == "map_key":
            container = containers[-1]
            values[-1] = _child(container, str(value))
            yield container, event, value
        elif event in ("start_map", "start_array"):
            if len(containers) >= MAX_DEPTH:
                raise InvalidInput.at(source, f"the JSON nests lists and objects more than {MAX_DEPTH} levels deep")
            prefix = values[-1] if values else ""
            containers.append(prefix)
            values.append(prefix if event == "start_map" else _child(prefix, "item"))
            yield prefix, event, value
        elif event in ("end_map", "end_array"):
            values.pop()
            yield containers.pop(), event, value
        else:
            yield (values[-1] if values else ""), event, value


def _child(prefix: str, name: str) -> str:
    if prefix is OVERLONG_PREFIX or len(prefix) + len(name) >= MAX_PREFIX_CHARS:
        return OVERLONG_PREFIX
    return f"{prefix}.{name}" if prefix else name


def _start_of(head: bytes, source: str, *, complete: bool) -> JsonStart | None:
    if not head.strip():
        if complete:
            raise InvalidInput.at(source, "the file is empty")
        return None
    try:
        for _prefix, event, value in _events(io.BytesIO(head), source):
            if event == "start_map":
                continue
            if event == "map_key":
                return JsonStart("object", value)
            if event == "end_map":
                return JsonStart("object")
            return JsonStart("list") if event == "start_array" else JsonStart("value")
    except (ijson.common.JSONError, UnicodeDecodeError) as error:
        if complete:  # else the head may just end mid-token: read more and look again
            raise InvalidInput.at(source, f"not valid JSON: {_first_line(error)}") from None
    return None


class _Replay(io.RawIOBase):
    """`head`, then the rest of `stream`: the bytes `json_start` read, given back."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            size = min(len(view), len(self._head))
            view[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._stream.read(len(view))
        view[:len(data)] = data
        return len(data)


@contextmanager
def _json_errors(source: str) -> Iterator[None]:
    try:
        yield
    except ijson.common.IncompleteJSONError as error:
        raise InvalidInput.at(source, f"not valid JSON or cut short: {_first_line(error)}",
                              hint="export the file again; nothing was imported from it") from None
    except ijson.common.JSONError as error:
        raise InvalidInput.at(source, f"not valid JSON: {_first_line(error)}") from None
    except UnicodeDecodeError:
        raise InvalidInput.at(source, "not UTF-8 text") from None


def json_lines(stream: BinaryIO, source: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, value) for each non-blank line of a JSON-lines file (osquery's results log)."""
    for number, raw in numbered_lines(stream, source, MAX_LINE_BYTES):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except (ValueError, RecursionError) as error:
            raise InvalidInput.at(source, f"not valid JSON: {_first_line(error)}", line=number) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
