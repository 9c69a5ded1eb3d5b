"""The context cache: reused while the policy in the store is unchanged, rebuilt as soon as any part of it
changes (a restriction version, an organisation, an adoption, a setting)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from appban.service import ContextCache
from appban.store import (
    AdoptionRepository,
    Database,
    OrganisationRepository,
    RestrictionRepository,
    SettingsRepository,
)
from tests.store.store_examples import ACTOR, NOW, RESTRICTION_FILES, organisations, restriction, seed_examples

LATER = NOW + dt.timedelta(hours=1)


def _new_version(session: Session) -> None:
    path = next(p for p in RESTRICTION_FILES if "eu-commission" in p.name)
    parsed = restriction(path)
    edited = dataclasses.replace(parsed, restriction=dataclasses.replace(parsed.restriction, title="Edited title"),
                                 text=parsed.text.replace("title:", "# edited\ntitle:", 1))
    RestrictionRepository(session).apply(edited, actor=ACTOR, now=LATER, source_path=str(path))


def _renamed_organisation(session: Session) -> None:
    orgs = [dataclasses.replace(o, name=o.name + " (renamed)") if o.id == "be-gent" else o for o in organisations()]
    OrganisationRepository(session).apply(orgs, actor=ACTOR, now=LATER)


def _adoption(session: Session) -> None:
    AdoptionRepository(session).record("be-federal-tiktok-2023", "be-gent", adopted=True, actor=ACTOR, now=LATER)


def _setting(session: Session) -> None:
    SettingsRepository(session).set_staleness("be-gent", 7, actor=ACTOR, now=LATER)


@pytest.mark.parametrize("change", [_new_version, _renamed_organisation, _adoption, _setting])
def test_the_cached_context_is_rebuilt_after_any_change_and_reused_otherwise(
        database: Database, change: Callable[[Session], None]) -> None:
    seed_examples(database)
    cache = ContextCache()
    with database.session() as session:
        first = cache.get(session)
    with database.session() as session:
        assert cache.get(session) is first
    with database.session() as session:
        change(session)
    with database.session() as session:
        rebuilt = cache.get(session)
    assert rebuilt is not first
    with database.session() as session:
        assert cache.get(session) is rebuilt
