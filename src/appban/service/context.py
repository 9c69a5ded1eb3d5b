"""What every evaluation needs from the store, read once per operation: compiled rules, the tree, staleness.

The context is loaded inside the operation's transaction, so a restriction applied in the same transaction
is seen by the evaluation that follows it.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from appban.catalog import Catalog, default_catalog
from appban.compliance import Rule, compile_rule
from appban.errors import InvalidInput
from appban.policy import OrganisationTree
from appban.store import (
    AdoptionRepository,
    OrganisationRepository,
    RestrictionRepository,
    SettingsRepository,
    policy_stamp,
)

__all__ = ["DEFAULT_STALENESS_DAYS", "ContextCache", "PolicyContext", "load_context"]

# Intune's default "compliance status validity period" is 30 days: a device silent for longer is not judged.
DEFAULT_STALENESS_DAYS = 30
STALENESS_VARIABLE = "APPBAN_STALENESS_DAYS"


@dataclass(frozen=True, slots=True)
class PolicyContext:
    tree: OrganisationTree
    catalog: Catalog
    rules: Mapping[str, Rule]
    staleness_days: Mapping[str, int]  # organisation -> days, where set
    default_staleness: dt.timedelta

    def staleness(self, organisation: str) -> dt.timedelta:
        """The nearest setting on the way up the tree, else the default."""
        for org in self.tree.ancestors(organisation):
            days = self.staleness_days.get(org)
            if days is not None:
                return dt.timedelta(days=days)
        return self.default_staleness

    def with_rule(self, rule: Rule) -> PolicyContext:
        """The same context with one rule added or replaced (what-if impact of a draft)."""
        return PolicyContext(self.tree, self.catalog, {**self.rules, rule.id: rule}, self.staleness_days,
                             self.default_staleness)


def load_context(session: Session, catalog: Catalog | None = None) -> PolicyContext:
    catalog = catalog or default_catalog()
    tree = OrganisationTree(OrganisationRepository(session).all())
    adoptions = AdoptionRepository(session)
    rules: dict[str, Rule] = {}
    for stored in RestrictionRepository(session).all_latest():
        restriction = stored.restriction
        rules[restriction.id] = compile_rule(restriction, catalog, tree, adoptions.adopters(restriction.id),
                                             version=stored.version)
    return PolicyContext(tree=tree, catalog=catalog, rules=rules,
                         staleness_days=SettingsRepository(session).staleness_days(),
                         default_staleness=dt.timedelta(days=default_staleness_days()))


class ContextCache:
    """A process's policy context, rebuilt only when the policy in the store changed.

    A server answers many small operations (one device's report, one exemption); reading and compiling every
    restriction for each costs more than the operation itself. One query reads a stamp of what the context is
    built from (appban.store.policy_stamp); while it is unchanged the compiled context is reused. Safe to share
    between threads.
    """

    def __init__(self, catalog: Catalog | None = None) -> None:
        self._catalog = catalog or default_catalog()
        self._lock = threading.Lock()
        self._stamp: Hashable | None = None
        self._context: PolicyContext | None = None

    @property
    def catalog(self) -> Catalog:
        """The catalogue every context of this cache is built with (for reading files before a transaction)."""
        return self._catalog

    def get(self, session: Session) -> PolicyContext:
        """The context as of this session's transaction."""
        stamp = policy_stamp(session)
        with self._lock:
            if self._context is not None and stamp == self._stamp:
                return self._context
        context = load_context(session, self._catalog)
        with self._lock:
            self._stamp, self._context = stamp, context
        return context


def default_staleness_days() -> int:
    text = os.environ.get(STALENESS_VARIABLE, str(DEFAULT_STALENESS_DAYS))
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise InvalidInput.at(STALENESS_VARIABLE, f"{text!r} is not a number of days from 1 to 3650")
    return int(text)
