"""The shipped examples, and a clock, for the storage tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from appban.model import Organisation
from appban.policy.organisations import parse_organisations
from appban.policy.restriction import ParsedRestriction, parse_restriction
from appban.store import Database, OrganisationRepository, RestrictionRepository

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RESTRICTION_FILES = sorted((EXAMPLES / "restrictions").glob("*.yaml"))
NOW = dt.datetime(2023, 2, 23, 9, 30, tzinfo=dt.UTC)
ACTOR = "security-team@example.eu"


def organisations() -> list[Organisation]:
    return [entry.organisation for path in sorted((EXAMPLES / "organisations").glob("*.yaml"))
            for entry in parse_organisations(path.read_text(), str(path))]


def restriction(path: Path) -> ParsedRestriction:
    return parse_restriction(path.read_text(), str(path))


def seed_organisations(database: Database) -> None:
    with database.session() as session:
        OrganisationRepository(session).apply(organisations(), actor=ACTOR, now=NOW)


def seed_examples(database: Database) -> None:
    """Every example organisation and restriction, applied."""
    seed_organisations(database)
    with database.session() as session:
        repository = RestrictionRepository(session)
        for path in RESTRICTION_FILES:
            repository.apply(restriction(path), actor=ACTOR, now=NOW, source_path=str(path))
