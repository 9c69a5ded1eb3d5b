"""Publisher risk from the catalogue: the app's family, the ownership chain to the ultimate controller, the
jurisdictions along it, the laws there that can compel cooperation with intelligence services, and what the
vendor says about itself (as claims).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from appban.catalog import Catalog
from appban.model import App, Platform
from appban.risk.result import Claim, Law, OwnershipStep, PublisherRisk

__all__ = ["LawBook", "default_law_book", "publisher_risk"]


@dataclass(frozen=True, slots=True)
class LawBook:
    """Laws per jurisdiction with the model's weight for each, and vendor claims per app family."""

    weights: Mapping[str, int]
    names: Mapping[str, str]
    laws: Mapping[str, tuple[Law, ...]]
    claims: Mapping[str, tuple[Claim, ...]]  # by family id


@functools.lru_cache(maxsize=1)
def default_law_book() -> LawBook:
    """The shipped laws.json (appban/risk/data/)."""
    text = (resources.files("appban.risk") / "data" / "laws.json").read_text(encoding="utf-8")
    return parse_law_book(json.loads(text))


def parse_law_book(document: Mapping[str, Any]) -> LawBook:
    weights: dict[str, int] = {}
    names: dict[str, str] = {}
    laws: dict[str, tuple[Law, ...]] = {}
    for country, entry in sorted(document["jurisdictions"].items()):
        weights[country] = int(entry["weight"])
        names[country] = str(entry["name"])
        laws[country] = tuple(Law(country, str(law["title"]), str(law["citation"]), str(law["provision"]),
                                  str(law["source"])) for law in entry["laws"])
    claims: dict[str, list[Claim]] = {}
    for claim in document.get("claims", ()):
        for family in claim["families"]:
            claims.setdefault(family, []).append(Claim(str(claim["by"]), str(claim["statement"]),
                                                       str(claim["source"])))
    return LawBook(MappingProxyType(weights), MappingProxyType(names), MappingProxyType(laws),
                   MappingProxyType({k: tuple(v) for k, v in claims.items()}))


def publisher_risk(catalog: Catalog, platform: Platform, identifier: str, book: LawBook) -> PublisherRisk:
    platforms = (Platform.IOS, Platform.IPADOS) if platform in (Platform.IOS, Platform.IPADOS) else (platform,)
    family = next((f for p in platforms if (f := catalog.family_of(App(p, identifier))) is not None), None)
    if family is None:
        return PublisherRisk(None, None, None, None, (), None, None, (), (), ())
    publisher = catalog.publishers.get(family.publisher)
    chain_links = catalog.chain_to_controller(family.publisher)
    steps = tuple(OwnershipStep(
        parent=link.parent, parent_name=_name(catalog, link.parent), child=link.child,
        share=None if link.share is None else format(link.share, "f"), direction=link.direction,
        source=link.source) for link in chain_links)
    entities = [family.publisher, *(link.parent for link in chain_links)]
    jurisdictions: list[tuple[str, str, str]] = []
    for entity in entities:
        company = catalog.publishers.get(entity)
        for place in company.jurisdictions if company else ():
            item = (place.country.upper(), entity, str(place.basis))
            if item not in jurisdictions:
                jurisdictions.append(item)
    countries = sorted({country for country, _, _ in jurisdictions})
    laws = tuple(law for country in countries for law in book.laws.get(country, ()))
    controller = chain_links[-1].parent if chain_links else family.publisher
    return PublisherRisk(
        family=family.id, family_name=family.name,
        publisher=family.publisher, publisher_name=publisher.name if publisher else None,
        chain=steps, controller=controller, controller_name=_name(catalog, controller),
        jurisdictions=tuple(jurisdictions), laws=laws, claims=book.claims.get(family.id, ()))


def _name(catalog: Catalog, publisher_id: str) -> str:
    publisher = catalog.publishers.get(publisher_id)
    return publisher.name if publisher else publisher_id
