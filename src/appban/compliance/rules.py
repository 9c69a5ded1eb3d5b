"""A restriction compiled for evaluation: its banned app identities and the organisations it binds.

Compiling resolves the catalogue (families, publishers and what they control) and the organisation tree
(subtrees, adoptions of recommended restrictions) once, so that evaluating a device is set look-ups only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from appban.catalog import Catalog
from appban.model import App, Lifecycle, Restriction
from appban.policy import OrganisationTree, binding_organisations, lifecycle

__all__ = ["Rule", "compile_rule", "start_of"]


@dataclass(frozen=True, slots=True)
class Rule:
    restriction: Restriction
    version: int
    banned: frozenset[App]
    binding: frozenset[str]  # organisations whose devices it binds

    @property
    def id(self) -> str:
        return self.restriction.id

    def in_force(self, now: dt.datetime) -> bool:
        """Active on this day and past its effective date (drafts, revoked and expired ones bind nothing)."""
        r = self.restriction
        return lifecycle(r, now.date()) is Lifecycle.ACTIVE and now >= start_of(r.effective)


def compile_rule(restriction: Restriction, catalog: Catalog, tree: OrganisationTree,
                 adopters: Iterable[str] = (), version: int = 1) -> Rule:
    banned: set[App] = set()
    for target in restriction.targets:
        banned |= catalog.apps_of(target)
    binding = binding_organisations(restriction, tree, frozenset(adopters))
    return Rule(restriction=restriction, version=version, banned=frozenset(banned), binding=binding)


def start_of(day: dt.date) -> dt.datetime:
    """Dates in policy files are whole UTC days."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
