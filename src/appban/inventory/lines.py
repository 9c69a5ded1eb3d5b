"""Line-oriented inventory files (osquery's results log, CSV) read one bounded line at a time.

A file with no line breaks must not be read whole into memory: each line is read with a cap, and a longer
one is refused naming its line number.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from appban.errors import InvalidInput

__all__ = ["numbered_lines"]


def numbered_lines(stream: BinaryIO, source: str, limit: int) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line with its ending) for each line; a line over `limit` bytes is refused."""
    number = 0
    while True:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit:
            raise InvalidInput.at(source, f"the line is longer than {limit} bytes", line=number)
        yield number, raw
