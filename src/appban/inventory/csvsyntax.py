"""The CSV syntax appban reads (inventories, holder maps): UTF-8, comma-separated, RFC 4180 quoting read strictly.

A stray quote, a NUL byte, a line over the limit, a field over the csv module's limit or bytes that are not
UTF-8 are refused naming the line; a header must name known columns (an unknown one gets the closest known
name as a hint), each once, with the required ones present.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from appban.errors import InvalidInput, Location, Problem
from appban.yamldoc import closest

__all__ = ["StrictReader", "header_columns", "strict_rows"]


class _Strict(csv.Dialect):
    delimiter = ","
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\r\n"
    quoting = csv.QUOTE_MINIMAL
    strict = True


class StrictReader:
    """The file's rows as the C `csv` reader gives them, with the line each row starts on.

    Iterate `rows` (the reader itself: no Python frame per row) inside `reading()`, which turns the reader's
    own errors into `InvalidInput` naming the line; a row starts on the line after the `line_num` seen after
    the row before. The file is checked (NUL bytes, line length, UTF-8) and decoded a block
    at a time, not a line at a time: per-line Python work cost more than the parsing. A block is cut at its
    last line break, so no line, and no UTF-8 sequence, is split; an error in a block is raised only once the
    lines before it have been read, so the first error of the file is the one reported, as line by line.
    """

    def __init__(self, stream: BinaryIO, source: str, max_line_bytes: int, consumed: list[int] | None = None,
                 ) -> None:
        self.source = source
        self.consumed = consumed if consumed is not None else [0]
        texts = _blocks(stream, source, max_line_bytes, self.consumed)
        self.rows = csv.reader(itertools.chain.from_iterable(map(io.StringIO, texts)), dialect=_Strict)

    @property
    def line_num(self) -> int:
        """Lines read so far (the last line of the row just read)."""
        return self.rows.line_num

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        try:
            yield
        except csv.Error as error:
            hint = (f"a cell holds at most {csv.field_size_limit()} characters" if "field limit" in str(error)
                    else "cells holding commas, quotes or line breaks are quoted, and their quotes doubled")
            raise InvalidInput.at(self.source, f"not valid CSV: {error}", line=self.rows.line_num,
                                  hint=hint) from None


def strict_rows(stream: BinaryIO, source: str, max_line_bytes: int, consumed: list[int] | None = None,
                ) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for each row of the file, header included; `consumed[0]`, when
    given, counts the bytes read so far."""
    reader = StrictReader(stream, source, max_line_bytes, consumed)
    end = 0
    with reader.reading():
        for cells in reader.rows:
            start, end = end + 1, reader.line_num
            yield start, cells


def header_columns(rows: Iterator[tuple[int, list[str]]], source: str, known: Sequence[str],
                   required: Sequence[str]) -> tuple[str, ...]:
    """The column names of the header row (lower-cased), once every problem with them is reported."""
    try:
        _, header = next(rows)
    except StopIteration:
        raise InvalidInput.at(source, "the file is empty", hint="the first line names the columns") from None
    if not any(cell.strip() for cell in header):
        raise InvalidInput.at(source, "the first line is blank", line=1, hint="the first line names the columns")
    names = tuple(cell.strip().lower() for cell in header)
    problems: list[Problem] = []

    def problem(message: str, hint: str | None = None) -> None:
        problems.append(Problem(Location(source, 1), message, hint))

    for index, name in enumerate(names, start=1):
        if not name:
            problem(f"column {index} of the header has no name")
        elif names.index(name) != index - 1:
            problem(f"column `{name}` is named twice in the header")
        elif name not in known:
            close = closest(name, known)
            problem(f"unknown column `{header[index - 1].strip()}`",
                    f"did you mean `{close}`?" if close else f"known columns: {', '.join(known)}")
    missing = [name for name in required if name not in names]
    if missing:
        problem(f"the header lacks the required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(f'`{name}`' for name in missing)}",
                f"the first line names the columns: {','.join(required)},...")
    if problems:
        raise InvalidInput(problems)
    return names


BLOCK = 64 * 1024  # bytes read at a time; at most the line limit, so that only a block's first line can be long


def _blocks(stream: BinaryIO, source: str, limit: int, consumed: list[int]) -> Iterator[str]:
    """The file as decoded text, whole lines at a time (endings kept, for the csv module), each line checked:
    no NUL byte, at most `limit` bytes, UTF-8 (a byte-order mark first is dropped)."""
    size = min(BLOCK, limit)
    carry = b""
    number = 1  # the line `carry` (then the block) starts on
    first = True
    while True:
        block = stream.read(size)
        data = carry + block if carry else block
        if not block:
            if data:
                consumed[0] += len(data)
                yield from _checked(data, number, source, limit, first)
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > limit:
                raise InvalidInput.at(source, f"the line is longer than {limit} bytes", line=number)
            carry = data
            continue
        body, carry = data[:cut], data[cut:]
        if len(carry) > limit:
            yield from _checked(body, number, source, limit, first)
            raise InvalidInput.at(source, f"the line is longer than {limit} bytes", line=number + body.count(b"\n"))
        consumed[0] += len(body)  # counted before its rows are read, as the line by line reading did
        yield from _checked(body, number, source, limit, first)
        number += body.count(b"\n")
        first = False


def _checked(data: bytes, number: int, source: str, limit: int, first: bool) -> Iterator[str]:
    """`data` (whole lines from line `number`) decoded; at a bad line, the lines before it, then the error."""
    encoding = "utf-8-sig" if first else "utf-8"
    # Only the first line can be long: every other one lies within one block of at most `limit` bytes.
    bad = 0 if data.find(b"\n") + 1 > limit or (b"\n" not in data and len(data) > limit) else -1
    message, hint = f"the line is longer than {limit} bytes", None
    nul = data.find(b"\x00")
    if bad < 0 and nul >= 0:
        bad = data.rfind(b"\n", 0, nul) + 1
        message, hint = "the line holds a NUL byte", "is this a CSV text file?"
    try:
        text = data[: bad if bad >= 0 else len(data)].decode(encoding)
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1
        if start:
            yield data[:start].decode(encoding)
        raise InvalidInput.at(source, f"not UTF-8 text (byte {error.start - start + 1} of the line)",
                              line=number + data.count(b"\n", 0, start), hint="save the file as CSV UTF-8") from None
    if bad < 0:
        yield text
        return
    if text:
        yield text
    raise InvalidInput.at(source, message, line=number + data.count(b"\n", 0, bad), hint=hint)


