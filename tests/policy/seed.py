"""The shipped examples, read once for the policy tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from appban.model import Restriction
from appban.policy import OrganisationTree, parse_organisations, parse_restriction

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@cache
def tree() -> OrganisationTree:
    path = EXAMPLES / "organisations" / "organisations.yaml"
    return OrganisationTree(e.organisation for e in parse_organisations(path.read_text(), str(path)))


@cache
def restriction(restriction_id: str) -> Restriction:
    path = EXAMPLES / "restrictions" / f"{restriction_id}.yaml"
    return parse_restriction(path.read_text(), str(path)).restriction


def restriction_files() -> list[Path]:
    return sorted((EXAMPLES / "restrictions").glob("*.yaml"))
