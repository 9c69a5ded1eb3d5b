"""One small hierarchy of errors, each carrying where it happened and what the user can do.

The CLI prints `str(error)`: one line, `FILE:LINE:COLUMN: what is wrong (hint)`, so that editors and CI
logs can jump to the place. Errors are values: parsers collect them and raise one `InvalidInput` that holds
every problem found, so a user fixes a file in one pass instead of one error at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AppbanError",
    "Conflict",
    "InvalidInput",
    "Location",
    "NotFound",
    "Problem",
    "StorageUnavailable",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where in an input a problem is: a file (or other named input), 1-based line and column."""

    source: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.source]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input; `hint` says what to do about it."""

    where: Location
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class AppbanError(Exception):
    """Base of every error appban raises on purpose; `diagnosis` is what a user should read."""

    exit_code = 1

    @property
    def diagnosis(self) -> str:
        return str(self)


class InvalidInput(AppbanError):
    """Input that cannot be accepted: a file, request body or argument. Holds every problem found."""

    exit_code = 2

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems, key=_problem_order))
        if not self.problems:
            raise ValueError("InvalidInput needs at least one problem")
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, source: str, message: str, *, line: int | None = None, column: int | None = None,
           hint: str | None = None) -> InvalidInput:
        return cls([Problem(Location(source, line, column), message, hint)])


class NotFound(AppbanError):
    """A named thing (organisation, restriction, ...) does not exist, or is outside the caller's reach."""

    exit_code = 2


class Conflict(AppbanError):
    """A change that would contradict what is stored (for example reviving a revoked restriction)."""

    exit_code = 2


class StorageUnavailable(AppbanError):
    """The database cannot be reached or is not at the schema this code expects."""

    exit_code = 1


def _problem_order(problem: Problem) -> tuple[str, int, int, str]:
    where = problem.where
    return (where.source, where.line or 0, where.column or 0, problem.message)
