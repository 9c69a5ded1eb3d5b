"""Published tests of "control": when one company controls another, and when a company is controlled from a
country.

Restrictions such as the US act of 2024 reach "every entity a company controls", and the statutes define
that word differently, so the catalogue records facts (stakes, direction, jurisdictions) and a named test
turns them into control. Each test is a least fixed point: start from the holders, add every entity that
they and what they already control together hold enough of, or direct, and repeat until nothing changes.
The set only grows and is bounded by the entities named in the links, so cycles in ownership data cannot
make it loop forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol

from appban.model import JurisdictionBasis, OwnershipLink, Publisher

__all__ = ["CONTROL_TESTS", "MAJORITY", "PAFACA_2024", "ControlTest", "StakeTest"]


class ControlTest(Protocol):
    """A named, published test of control. Other modules see tests only through this protocol."""

    @property
    def name(self) -> str: ...

    @property
    def citation(self) -> str: ...

    def controlled_by(self, holders: Iterable[str], links: Iterable[OwnershipLink]) -> frozenset[str]:
        """The holders and every entity they control, alone or together."""
        ...

    def controlled_from(self, country: str, publishers: Iterable[Publisher],
                        links: Iterable[OwnershipLink]) -> frozenset[str]:
        """The entities controlled from `country` (ISO 3166-1 alpha-2)."""
        ...


@dataclass(frozen=True, slots=True)
class StakeTest:
    """Control by a combined stake over a threshold, or by direction.

    Stakes held by the holders and by every entity they already control are added up (full attribution through
    controlled entities), because the statutes count stakes held "directly or indirectly". An entity is
    controlled from a country when it has one of the connecting factors in `bases` there.
    """

    name: str
    title: str
    citation: str
    threshold: Decimal
    inclusive: bool  # True: a stake of at least `threshold` controls; False: only more than `threshold`
    bases: frozenset[JurisdictionBasis]

    def holds_enough(self, share: Decimal) -> bool:
        return share >= self.threshold if self.inclusive else share > self.threshold

    def controlled_by(self, holders: Iterable[str], links: Iterable[OwnershipLink]) -> frozenset[str]:
        children: dict[str, list[OwnershipLink]] = {}
        for link in links:
            children.setdefault(link.parent, []).append(link)
        controlled = set(holders)
        pending = sorted(controlled)
        held: dict[str, Decimal] = {}
        # Worklist form of the fixed point: each link is looked at once, when its parent becomes controlled;
        # what the controlled group holds of an entity only grows, so an entity is added the moment it tips.
        while pending:
            parent = pending.pop()
            for link in children.get(parent, ()):
                child = link.child
                if child in controlled:
                    continue
                if link.share is not None:
                    held[child] = held.get(child, Decimal(0)) + link.share
                if link.direction or self.holds_enough(held.get(child, Decimal(0))):
                    controlled.add(child)
                    pending.append(child)
        return frozenset(controlled)

    def controlled_from(self, country: str, publishers: Iterable[Publisher],
                        links: Iterable[OwnershipLink]) -> frozenset[str]:
        wanted = country.strip().upper()
        seeds = {publisher.id for publisher in publishers
                 if any(j.country.upper() == wanted and j.basis in self.bases
                        for j in publisher.jurisdictions)}
        if not seeds:
            return frozenset()
        return self.controlled_by(seeds, links)


_CONNECTING_FACTORS = frozenset({
    JurisdictionBasis.INCORPORATION,
    JurisdictionBasis.HEADQUARTERS,
    JurisdictionBasis.DOMICILE,
    JurisdictionBasis.PRINCIPAL_PLACE_OF_BUSINESS,
})
"""Where a company is organised or run from. `operations` is left out: doing business in a country does not
put a company under that country's control in any of the published tests."""

MAJORITY = StakeTest(
    name="majority",
    title="Majority ownership or direction",
    citation="Ordinary company-law control: more than half of the equity, held alone or with controlled "
             "entities, or the power to direct (a wholly-owned subsidiary, control of the board)",
    threshold=Decimal(50),
    inclusive=False,
    bases=_CONNECTING_FACTORS,
)

PAFACA_2024 = StakeTest(
    name="pafaca-2024",
    title="Protecting Americans from Foreign Adversary Controlled Applications Act (2024)",
    citation="Pub. L. 118-50, div. H, sec. 2(g) (15 U.S.C. 9901 note): controlled by a foreign adversary "
             "means domiciled, headquartered, with its principal place of business, or organised in the "
             "country; or at least a 20 % stake held directly or indirectly by such persons combined; or "
             "subject to their direction or control",
    threshold=Decimal(20),
    inclusive=True,
    bases=_CONNECTING_FACTORS,
)

CONTROL_TESTS: Mapping[str, ControlTest] = MappingProxyType(
    {test.name: test for test in (MAJORITY, PAFACA_2024)})
"""Every control test a restriction may name in `control_test`, by name."""
