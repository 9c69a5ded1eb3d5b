"""A holder map: which person (by e-mail address) each device is assigned to, as a CSV file.

Device-management exports do not always name a device's holder, and notices go to holders. The file has a
header and one row per device: `device_id`, `holder_email`, optionally `holder_name` and `language`. The CSV
syntax is that of the CSV inventory (appban.inventory.csvsyntax). A device listed twice with different holders
is refused naming both rows; an identical repeat is read once. Pure: the store applies the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from appban.errors import InvalidInput, Location, Problem
from appban.inventory.csvsyntax import header_columns, strict_rows

__all__ = ["HOLDER_MAP_COLUMNS", "HolderAssignment", "read_holder_map"]

HOLDER_MAP_COLUMNS = ("device_id", "holder_email", "holder_name", "language")
_REQUIRED = ("device_id", "holder_email")
_MAX_LINE_BYTES = 64 * 1024
_MAX = {"device_id": 512, "holder_email": 320, "holder_name": 200, "language": 32}
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # BCP 47, the common shapes


@dataclass(frozen=True, slots=True)
class HolderAssignment:
    """One device assigned to one holder, with where the file says so."""

    device_id: str
    email: str
    name: str | None
    language: str | None
    where: Location


def read_holder_map(stream: BinaryIO, source: str) -> list[HolderAssignment]:
    """Every assignment of the file, or InvalidInput holding every problem found (row, column, hint)."""
    rows = strict_rows(stream, source, _MAX_LINE_BYTES)
    columns = header_columns(rows, source, HOLDER_MAP_COLUMNS, _REQUIRED)
    problems: list[Problem] = []
    seen: dict[str, HolderAssignment] = {}
    for line, cells in _data_rows(rows, source, len(columns)):
        where = Location(source, line)
        values = {name: cell.strip() for name, cell in zip(columns, cells, strict=True)}
        row_problems = [Problem(where, f"`{name}` is longer than {limit} characters")
                        for name, limit in _MAX.items() if len(values.get(name, "")) > limit]
        device_id, email = values["device_id"], values["holder_email"]
        if not device_id:
            row_problems.append(Problem(where, "`device_id` is empty"))
        if len(email) <= _MAX["holder_email"] and not _EMAIL.fullmatch(email):
            row_problems.append(Problem(where, f"`holder_email` {email!r} is not an e-mail address",
                                        "one address per row, like an.peeters@example.be"))
        language = values.get("language") or None
        if language is not None and not _LANGUAGE.fullmatch(language):
            row_problems.append(Problem(where, f"`language` {language!r} is not a language tag",
                                        "a BCP 47 tag such as nl, fr-BE or en"))
        if row_problems:
            problems += row_problems
            continue
        local, _, domain = email.rpartition("@")
        assignment = HolderAssignment(device_id=device_id, email=f"{local}@{domain.lower()}",
                                      name=values.get("holder_name") or None, language=language, where=where)
        earlier = seen.get(device_id)
        if earlier is None:
            seen[device_id] = assignment
        elif (earlier.email, earlier.name, earlier.language) != (assignment.email, assignment.name, language):
            problems.append(Problem(where, f"device {device_id!r} is assigned again, to {assignment.email}, but "
                                    f"line {earlier.where.line} assigns it to {earlier.email}",
                                    "a device has one holder: keep one row per device"))
    if problems:
        raise InvalidInput(problems)
    return list(seen.values())


def _data_rows(rows: Iterator[tuple[int, list[str]]], source: str, width: int,
               ) -> Iterator[tuple[int, list[str]]]:
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != width:
            raise InvalidInput.at(source, f"the row has {len(cells)} cells, the header names {width} columns",
                                  line=line)
        yield line, cells
