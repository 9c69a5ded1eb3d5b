"""Reading YAML documents with the position of every value, collecting every problem instead of stopping.

Policy files and the catalogue's data files are written by people, so a mistake must point at its line and
column and suggest the fix.
ruamel.yaml's round-trip loader keeps positions on mappings and sequences; `Node` carries a value with the
position it was read from, and `Fields` reads a mapping's keys one by one, remembering which were used so
that unknown keys can be reported with the closest valid name.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from io import StringIO
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from appban.errors import InvalidInput, Location, Problem

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_NESTING", "Fields", "Node", "Problems", "as_choice", "as_text", "bracket_depth",
           "closest", "load_document"]

MAX_DOCUMENT_BYTES = 1_048_576  # a policy file is prose-sized; anything larger is a mistake or an attack
MAX_NESTING = 64  # flow brackets deeper than this are refused before parsing: ruamel takes seconds on thousands

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$")
_DURATION_UNITS = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}


class Problems:
    """Collects the problems of one input, then raises them together."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, where: Location, message: str, hint: str | None = None) -> None:
        self.items.append(Problem(where, message, hint))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput(self.items)


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML value and where it stands in its file."""

    value: Any
    where: Location

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, CommentedMap)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, CommentedSeq)

    def items(self) -> Iterator[Node]:
        """The items of a sequence, each with its own position."""
        seq: CommentedSeq = self.value
        for index, item in enumerate(seq):
            yield Node(item, _item_location(self.where.source, seq, index))


@dataclass(slots=True)
class Fields:
    """Reads the keys of one mapping; `finish` reports the keys nobody asked for."""

    node: Node
    problems: Problems
    what: str
    _used: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, node: Node, problems: Problems, what: str) -> Fields | None:
        if not node.is_mapping:
            problems.add(node.where, f"{what} must be a mapping of keys to values, not {_kind(node.value)}")
            return None
        return cls(node, problems, what)

    def has(self, key: str) -> bool:
        return key in self.node.value

    def get(self, key: str) -> Node | None:
        self._used.add(key)
        mapping: CommentedMap = self.node.value
        if key not in mapping:
            return None
        return Node(mapping[key], _value_location(self.node.where.source, mapping, key))

    def key_location(self, key: str) -> Location:
        mapping: CommentedMap = self.node.value
        if key in mapping:
            line, col = mapping.lc.key(key)
            return Location(self.node.where.source, line + 1, col + 1)
        return self.node.where

    def value_location(self, key: str) -> Location:
        """Where the value of `key` stands; the mapping's own place if the key is absent."""
        mapping: CommentedMap = self.node.value
        if key in mapping:
            return _value_location(self.node.where.source, mapping, key)
        return self.node.where

    def required(self, key: str) -> Node | None:
        found = self.get(key)
        if found is None or found.value is None:
            self.problems.add(self.node.where, f"{self.what} has no `{key}`", f"add `{key}:`")
            return None
        return found

    def text(self, key: str, *, required: bool = False, pattern: re.Pattern[str] | None = None,
             pattern_hint: str | None = None, default: str | None = None, strict: bool = False) -> str | None:
        found = self.required(key) if required else self.get(key)
        if found is None or found.value is None:
            return default
        return as_text(found, self.problems, f"`{key}`", pattern=pattern, pattern_hint=pattern_hint, strict=strict)

    def choice(self, key: str, enum: type[E], *, default: E | None = None, required: bool = False,
               noun: str | None = None) -> E | None:
        found = self.required(key) if required else self.get(key)
        if found is None or found.value is None:
            return default
        return as_choice(found, enum, self.problems, f"`{key}`", noun=noun)

    def flag(self, key: str, *, default: bool) -> bool:
        found = self.get(key)
        if found is None or found.value is None:
            return default
        if not isinstance(found.value, bool):
            self.problems.add(found.where, f"`{key}` must be true or false, not {_kind(found.value)}")
            return default
        return found.value

    def date(self, key: str, *, required: bool = False) -> dt.date | None:
        found = self.required(key) if required else self.get(key)
        if found is None or found.value is None:
            return None
        value = found.value
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.problems.add(found.where, f"`{key}` must be a date like 2023-03-15, not {_kind(value)}")
        return None

    def decimal(self, key: str, *, minimum: Decimal, maximum: Decimal, what: str = "a number",
                hint: str | None = None, range_hint: str | None = None) -> Decimal | None:
        """A number from `minimum` to `maximum`, read exactly (19.9 stays 19.9); None if absent or null."""
        found = self.get(key)
        if found is None or found.value is None:
            return None
        value = found.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.add(found.where, f"`{key}` must be {what} from {minimum} to {maximum}, not {_kind(value)}",
                              hint)
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or not minimum <= number <= maximum:
            self.problems.add(found.where, f"`{key}` {value} is outside {minimum}..{maximum}", range_hint)
            return None
        return number

    def duration(self, key: str) -> dt.timedelta | None:
        found = self.get(key)
        if found is None or found.value is None:
            return None
        value = found.value
        if isinstance(value, int) and not isinstance(value, bool) and value == 0:
            return dt.timedelta(0)
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            self.problems.add(found.where, f"`{key}` must be a duration, not {_kind(value)}",
                              "write it as 14d, 2w or 36h")
            return None
        return int(match.group(1)) * _DURATION_UNITS[match.group(2)]

    def listing(self, key: str, read: Callable[[Node], T | None], *, what: str, single: bool = True,
                allow_empty: bool = False) -> list[T]:
        """A sequence whose items `read` turns into values. A single value is taken as a list of one, or with
        `single=False` reported as not a list; an empty list is reported unless `allow_empty`."""
        found = self.get(key)
        if found is None or found.value is None:
            return []
        if not found.is_sequence and not single:
            self.problems.add(found.where, f"`{key}` must be a list, not {_kind(found.value)}")
            return []
        nodes = list(found.items()) if found.is_sequence else [found]
        out: list[T] = []
        for node in nodes:
            value = read(node)
            if value is not None:
                out.append(value)
        if not nodes and not allow_empty:
            self.problems.add(found.where, f"`{key}` is empty", f"list at least one {what}")
        return out

    def finish(self, valid: Sequence[str] | None = None) -> None:
        """Report every key that was not read, suggesting the closest valid key (listed in the order given)."""
        mapping: CommentedMap = self.node.value
        known = list(dict.fromkeys(valid)) if valid is not None else sorted(self._used)
        for key in mapping:
            if key in self._used:
                continue
            line, col = mapping.lc.key(key)
            where = Location(self.node.where.source, line + 1, col + 1)
            suggestion = closest(str(key), known)
            hint = f"did you mean `{suggestion}`?" if suggestion else f"valid keys: {', '.join(known)}"
            self.problems.add(where, f"unknown key `{key}` in {self.what}", hint)


def as_text(node: Node, problems: Problems, what: str, *, pattern: re.Pattern[str] | None = None,
            pattern_hint: str | None = None, strict: bool = False) -> str | None:
    """The text of a scalar, stripped. A number is read as its digits unless `strict`, which also refuses
    empty text."""
    value = node.value
    if isinstance(value, bool) or not isinstance(value, str if strict else str | int | float):
        problems.add(node.where, f"{what} must be text, not {_kind(value)}")
        return None
    text = str(value).strip()
    if not text and strict:
        problems.add(node.where, f"{what} is empty")
        return None
    if pattern is not None and not pattern.fullmatch(text):
        problems.add(node.where, f"{what} {text!r} is not valid", pattern_hint)
        return None
    return text


def as_choice(node: Node, enum: type[E], problems: Problems, what: str, *, noun: str | None = None) -> E | None:
    """The member of `enum` that `node` names. With `noun`, a word that is not a choice is reported as
    "unknown NOUN `word`" rather than by listing the choices in the message."""
    value = node.value
    choices = [member.value for member in enum]
    if isinstance(value, str) and value.strip() in choices:
        return enum(value.strip())
    shown = repr(value) if isinstance(value, str) else _kind(value)
    suggestion = closest(str(value), choices) if isinstance(value, str) else None
    hint = f"did you mean `{suggestion}`?" if suggestion else f"one of: {', '.join(choices)}"
    if isinstance(value, str) and noun is not None:
        problems.add(node.where, f"unknown {noun} `{value}`", hint)
    else:
        problems.add(node.where, f"{what} must be one of {', '.join(choices)}, not {shown}", hint)
    return None


def closest(word: str, candidates: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def load_document(text: str, source: str) -> Node:
    """Parse one YAML document; YAML errors, aliases and oversize input become `InvalidInput`."""
    if len(text.encode("utf-8", errors="replace")) > MAX_DOCUMENT_BYTES:
        raise InvalidInput.at(source, f"file is larger than {MAX_DOCUMENT_BYTES // 1024} KiB",
                              hint="a policy file holds one restriction; split it")
    if bracket_depth(text) > MAX_NESTING:
        raise InvalidInput.at(source, f"brackets nest deeper than {MAX_NESTING} levels",
                              hint="a restriction needs a few levels; write lists and mappings in block style")
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        for event in yaml.parse(StringIO(text)):
            if isinstance(event, AliasEvent):
                mark = event.start_mark
                raise InvalidInput.at(source, "YAML aliases (*name) are not allowed",
                                      line=mark.line + 1, column=mark.column + 1,
                                      hint="write the value out in full")
        value = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(str(part) for part in (error.context, error.problem) if part)
        raise InvalidInput.at(source, f"not valid YAML: {message}",
                              line=mark.line + 1 if mark else None,
                              column=mark.column + 1 if mark else None) from None
    except YAMLError as error:
        raise InvalidInput.at(source, f"not valid YAML: {error}") from None
    return Node(value, Location(source, 1, 1))


def bracket_depth(text: str) -> int:
    """How deep `[` and `{` nest in a text (quotes not considered: an upper bound for YAML flow collections)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def _value_location(source: str, mapping: CommentedMap, key: Any) -> Location:
    line, col = mapping.lc.value(key)
    return Location(source, line + 1, col + 1)


def _item_location(source: str, seq: CommentedSeq, index: int) -> Location:
    line, col = seq.lc.item(index)
    return Location(source, line + 1, col + 1)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, CommentedMap | dict):
        return "a mapping"
    if isinstance(value, CommentedSeq | list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return type(value).__name__
