"""The CSV syntax appban reads (inventories, holder maps): UTF-8, comma-separated, RFC 4180 quoting read strictly.

A stray quote, a NUL byte, a line over the limit, a field over the csv module's limit or bytes that are not
UTF-8 are refused naming the line; a header must name known columns (an unknown one gets the closest known
name as a hint), each once, with the required ones present.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from appban.errors import InvalidInput, Location, Problem
from appban.inventory.lines import numbered_lines
from appban.yamldoc import closest

__all__ = ["header_columns", "strict_rows"]


class _Strict(csv.Dialect):
    delimiter = ","
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\r\n"
    quoting = csv.QUOTE_MINIMAL
    strict = True


def strict_rows(stream: BinaryIO, source: str, max_line_bytes: int, consumed: list[int] | None = None,
                ) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for each row of the file, header included; `consumed[0]`, when
    given, counts the bytes read so far."""
    reader = csv.reader(_lines(stream, source, max_line_bytes, consumed if consumed is not None else [0]),
                        dialect=_Strict)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            hint = (f"a cell holds at most {csv.field_size_limit()} characters" if "field limit" in str(error)
                    else "cells holding commas, quotes or line breaks are quoted, and their quotes doubled")
            raise InvalidInput.at(source, f"not valid CSV: {error}", line=_line_num(reader, line), hint=hint) \
                from None
        yield line, cells
        line = _line_num(reader, line) + 1


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


def _lines(stream: BinaryIO, source: str, limit: int, consumed: list[int]) -> Iterator[str]:
    """The file's lines, line endings kept (the csv module needs them), each checked and decoded on its own."""
    for number, raw in numbered_lines(stream, source, limit):
        consumed[0] += len(raw)
        if b"\x00" in raw:
            raise InvalidInput.at(source, "the line holds a NUL byte", line=number, hint="is this a CSV text file?")
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise InvalidInput.at(source, f"not UTF-8 text (byte {error.start + 1} of the line)", line=number,
                                  hint="save the file as CSV UTF-8") from None


def _line_num(reader: Iterator[list[str]], default: int) -> int:
    number = getattr(reader, "line_num", default)
    return number if isinstance(number, int) else default
