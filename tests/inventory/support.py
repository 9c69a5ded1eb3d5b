"""What the inventory format tests share: reading a file under a time limit, checking how it is refused, and the
hypothesis strategies and settings the property tests draw from.

Each format's test module keeps its own `read` and `refused`, thin wrappers that pass its format, file name,
defaults and refusal rules to the functions here.
"""

from __future__ import annotations

import copy
import io
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from appban.catalog import Catalog, default_catalog
from appban.errors import InvalidInput
from appban.inventory.interface import DeviceReport, InventoryFormat, ReportDefaults

CATALOG: Catalog = default_catalog()
READ_SECONDS = 10


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging: a hostile file must be refused quickly."""
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read(fmt: InventoryFormat, data: bytes, source: str, defaults: ReportDefaults | None = None, *,
         catalog: Catalog = CATALOG, seconds: float | None = READ_SECONDS) -> list[DeviceReport]:
    """Every report `fmt` reads from `data` named `source` (plain defaults if none), within `seconds` if given."""
    with deadline(seconds) if seconds is not None else nullcontext():
        return list(fmt.read(io.BytesIO(data), source, catalog, ReportDefaults() if defaults is None else defaults))


def refused(attempt: Callable[[], object], source: str, *fragments: str, prefix: str | None = None,
            single: bool = False, located: bool = True, line: int | None = None) -> InvalidInput:
    """The InvalidInput `attempt` raises: its text starts with `prefix` (the file name unless given) and contains
    every fragment; with `single` it holds exactly one problem; with `located` every problem names the file; with
    `line` the first problem is at that line."""
    with pytest.raises(InvalidInput) as caught:
        attempt()
    error = caught.value
    text = str(error)
    if single:
        assert len(error.problems) == 1
    assert text.startswith(source if prefix is None else prefix)
    if located:
        assert all(problem.where.source == source for problem in error.problems)
    if line is not None:
        assert error.problems[0].where.line == line, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return error


def read_or_refuse(attempt: Callable[[], list[DeviceReport]], prefix: str, *,
                   single: bool = False) -> list[DeviceReport] | None:
    """What `attempt` reads, or None if it refuses the file with an InvalidInput whose text starts with `prefix`
    (and, with `single`, that holds exactly one problem); anything else escapes."""
    try:
        return attempt()
    except InvalidInput as error:
        assert str(error).startswith(prefix)
        if single:
            assert len(error.problems) == 1
        return None


def changed(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `document` with some fields changed (None removes one)."""
    value = copy.deepcopy(document)
    for key, new in changes.items():
        if new is None:
            value.pop(key, None)
        else:
            value[key] = new
    return value


class Endless(io.RawIOBase):
    """A stream that never ends, of `fill` bytes without a line break: reading it whole would hang."""

    def __init__(self, fill: bytes) -> None:
        self._fill = fill

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        view[:] = self._fill * len(view)
        return len(view)


# --- properties -------------------------------------------------------------------------------------------------


def fast(max_examples: int = 150) -> settings:
    """Hypothesis settings for the property tests: `max_examples` examples, no per-example deadline."""
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def json_values(*, words: Sequence[str] = (), keys: Sequence[str] = (), text_size: int = 30, key_size: int = 10,
                max_leaves: int = 12) -> st.SearchStrategy[object]:
    """Any JSON value: scalars (texts up to `text_size`, or one of `words`), and lists and objects of them whose
    keys are one of `keys` or any text up to `key_size`."""
    scalars = [st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
               st.text(max_size=text_size)]
    if words:
        scalars.append(st.sampled_from(list(words)))
    names = st.text(max_size=key_size)
    if keys:
        names = st.sampled_from(list(keys)) | names
    return st.recursive(
        st.one_of(*scalars),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
        max_leaves=max_leaves)


def cut_or_corrupted(data: st.DataObject, original: bytes) -> bytes:
    """`original` cut short at a drawn position, or with the byte there replaced by a drawn one."""
    raw = bytearray(original)
    position = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        raw = raw[:position]
    else:
        raw[position] = data.draw(st.integers(0, 255))
    return bytes(raw)


def corrupted(data: st.DataObject, original: bytes, *, start: int = 0, cut: bool = True) -> bytes:
    """`original` with 1 to 8 drawn bytes at or after `start` replaced by drawn values, then, with `cut`, cut short
    at a drawn position."""
    raw = bytearray(original)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        position = data.draw(st.integers(min_value=start, max_value=len(raw) - 1))
        raw[position] = data.draw(st.integers(min_value=0, max_value=255))
    if cut:
        raw = raw[:data.draw(st.integers(min_value=0, max_value=len(raw)))]
    return bytes(raw)
