"""The catalogue as a value: app families, publishers, ownership links, and the look-ups other modules need.

A restriction names families, single identities or publishers; a device inventory reports identities. The
catalogue is the one place that turns the first into the second (`apps_of`) and back (`family_of`), and that
says which companies a publisher controls under a named test, so that the policy checker, the engine and the
risk assessment all answer those questions the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from appban.catalog.control import CONTROL_TESTS, ControlTest
from appban.errors import NotFound
from appban.model import App, AppFamily, OwnershipLink, Platform, Publisher, Target, TargetKind

__all__ = ["Catalog"]

_MAJORITY_SHARE = Decimal(50)


@dataclass(frozen=True)
class Catalog:
    """App families by id, publishers by id, and the ownership links between publishers.

    `identity_sources` keeps, for each app identity, where it is publicly reported (AppFamily holds one source
    for the whole family). Control look-ups are memoised: the catalogue is immutable, and the engine asks the
    same question for every device.
    """

    families: Mapping[str, AppFamily]
    publishers: Mapping[str, Publisher]
    links: tuple[OwnershipLink, ...] = ()
    identity_sources: Mapping[App, str] = field(default_factory=dict)
    _by_app: Mapping[App, AppFamily] = field(init=False, repr=False, compare=False)
    _memo: dict[tuple[str, str, str], frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_app: dict[App, AppFamily] = {}
        for family_id in sorted(self.families):
            family = self.families[family_id]
            for app in family.apps:
                if app in by_app:
                    raise ValueError(f"{app} is in two families: {by_app[app].id} and {family.id}")
                by_app[app] = family
        object.__setattr__(self, "families", MappingProxyType(dict(self.families)))
        object.__setattr__(self, "publishers", MappingProxyType(dict(self.publishers)))
        object.__setattr__(self, "links", tuple(self.links))
        object.__setattr__(self, "identity_sources", MappingProxyType(dict(self.identity_sources)))
        object.__setattr__(self, "_by_app", MappingProxyType(by_app))
        object.__setattr__(self, "_memo", {})

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.families)), tuple(sorted(self.publishers)), self.links))

    # --- identities -----------------------------------------------------------------------------------------

    def family_of(self, app: App) -> AppFamily | None:
        """The family an installed identity belongs to, or None for an app the catalogue does not know."""
        return self._by_app.get(app)

    def families_of(self, publishers: Iterable[str]) -> tuple[AppFamily, ...]:
        """The families published by any of `publishers`, sorted by id."""
        wanted = set(publishers)
        return tuple(self.families[family_id] for family_id in sorted(self.families)
                     if self.families[family_id].publisher in wanted)

    def apps_of(self, target: Target) -> frozenset[App]:
        """Every identity a restriction target covers.

        An unknown family or publisher raises NotFound rather than matching nothing: a target that silently
        covers no app would leave a ban unenforced. (`appban policy check` reports unknown names first.)
        """
        if target.kind is TargetKind.FAMILY:
            return self._family(target.value).apps
        if target.kind is TargetKind.APP:
            platforms = (target.platform,) if target.platform is not None else tuple(Platform)
            return frozenset(App(platform, target.value) for platform in platforms)
        self._publisher(target.value)
        owners = (self.controlled_by(target.value, target.control_test or "majority") if target.controlled
                  else frozenset({target.value}))
        return frozenset(app for family in self.families_of(owners) for app in family.apps)

    # --- control --------------------------------------------------------------------------------------------

    def controlled_by(self, publisher: str, test: str = "majority") -> frozenset[str]:
        """The publisher and every entity it controls under the named test."""
        control = _test(test)
        key = ("by", publisher, test)
        if key not in self._memo:
            self._memo[key] = control.controlled_by([publisher], self.links)
        return self._memo[key]

    def controlled_from(self, country: str, test: str = "pafaca-2024") -> frozenset[str]:
        """Every entity controlled from `country` (ISO alpha-2) under the named test."""
        control = _test(test)
        key = ("from", country.strip().upper(), test)
        if key not in self._memo:
            self._memo[key] = control.controlled_from(country, self.publishers.values(), self.links)
        return self._memo[key]

    def chain_to_controller(self, publisher: str) -> tuple[OwnershipLink, ...]:
        """The ownership path from `publisher` up to its ultimate controller, nearest link first.

        Each step follows a link that gives control on its own (direction, or more than half of the
        equity); where several do, the largest stake wins, then the parent id, so the answer is stable. The
        walk stops at an entity nobody controls, or where the path would loop back on itself.
        """
        chain: list[OwnershipLink] = []
        seen = {publisher}
        current = publisher
        while True:
            candidates = [link for link in self.links if link.child == current
                          and (link.direction or (link.share is not None and link.share > _MAJORITY_SHARE))]
            if not candidates:
                break
            step = min(candidates, key=lambda link: (-(link.share or Decimal(0)), link.parent))
            if step.parent in seen:
                break
            chain.append(step)
            seen.add(step.parent)
            current = step.parent
        return tuple(chain)

    # --- names ----------------------------------------------------------------------------------------------

    def closest(self, kind: Literal["family", "publisher"], name: str) -> str | None:
        """The id most like `name` (an id or a display name), for "did you mean" hints; None if none is."""
        entries: list[tuple[str, str]]
        if kind == "family":
            entries = [(family.id, family.name) for family in self.families.values()]
        else:
            entries = [(publisher.id, publisher.name) for publisher in self.publishers.values()]
        keys: dict[str, str] = {}
        for item_id, _ in sorted(entries):
            keys[item_id.casefold()] = item_id
        for item_id, item_name in sorted(entries):
            keys.setdefault(item_name.casefold(), item_id)
        matches = difflib.get_close_matches(name.strip().casefold(), list(keys), n=1, cutoff=0.6)
        return keys[matches[0]] if matches else None

    def _family(self, family_id: str) -> AppFamily:
        if family_id not in self.families:
            raise NotFound(_unknown("app family", family_id, self.closest("family", family_id)))
        return self.families[family_id]

    def _publisher(self, publisher_id: str) -> Publisher:
        if publisher_id not in self.publishers:
            raise NotFound(_unknown("publisher", publisher_id, self.closest("publisher", publisher_id)))
        return self.publishers[publisher_id]


def _test(name: str) -> ControlTest:
    if name not in CONTROL_TESTS:
        raise NotFound(f"unknown control test `{name}` (one of: {', '.join(sorted(CONTROL_TESTS))})")
    return CONTROL_TESTS[name]


def _unknown(what: str, name: str, suggestion: str | None) -> str:
    hint = f" (did you mean `{suggestion}`?)" if suggestion else ""
    return f"unknown {what} `{name}` in the catalogue{hint}"
