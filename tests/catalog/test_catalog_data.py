"""The shipped data: every fact says where it is publicly reported, and the ownership facts the product relies
on are there."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from ruamel.yaml import YAML

from appban.catalog import default_catalog
from appban.model import JurisdictionBasis

FACT_KEYS = {"id", "parent", "country", "identifier"}  # a mapping with one of these states a fact


def data_file(name: str) -> Any:
    text = resources.files("appban.catalog").joinpath("data", name).read_text(encoding="utf-8")
    return YAML(typ="safe", pure=True).load(text)


def facts(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if FACT_KEYS & set(node):
            yield path, node
        for key, value in node.items():
            yield from facts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from facts(item, f"{path}[{index}]")


@pytest.mark.parametrize("name", ["publishers.yaml", "families.yaml"])
def test_every_fact_in_the_data_files_has_a_source(name: str) -> None:
    found = list(facts(data_file(name)))
    assert len(found) > 10
    for path, fact in found:
        assert isinstance(fact.get("source"), str), f"{name}{path} has no source"
        assert fact["source"].strip(), f"{name}{path} has an empty source"


def test_every_fact_in_the_catalogue_has_a_source() -> None:
    catalog = default_catalog()
    for publisher in catalog.publishers.values():
        assert publisher.source.strip(), publisher.id
        assert publisher.jurisdictions, publisher.id
        for jurisdiction in publisher.jurisdictions:
            assert jurisdiction.source.strip(), (publisher.id, jurisdiction)
    for link in catalog.links:
        assert link.source.strip(), link
    for family in catalog.families.values():
        assert family.source.strip(), family.id
        for app in family.apps:
            assert catalog.identity_sources[app].strip(), app


def test_bytedance_is_a_cayman_company_headquartered_in_beijing() -> None:
    bytedance = default_catalog().publishers["bytedance"]
    assert {(j.country, j.basis) for j in bytedance.jurisdictions} == {
        ("KY", JurisdictionBasis.INCORPORATION), ("CN", JurisdictionBasis.HEADQUARTERS)}


def test_the_joint_venture_stakes_are_recorded_as_reported() -> None:
    stakes = {link.parent: (link.share, link.direction) for link in default_catalog().links
              if link.child == "tiktok-usds-jv"}
    assert stakes == {"bytedance": (Decimal("19.9"), False), "oracle": (Decimal(15), False),
                      "silver-lake": (Decimal(15), False), "mgx": (Decimal(15), False)}


def test_the_state_special_management_share_is_one_percent_without_direction() -> None:
    (link,) = [link for link in default_catalog().links if link.parent == "wangtouzhongwen"]
    assert (link.child, link.share, link.direction) == ("beijing-douyin", Decimal(1), False)
    assert "board" in link.source


def test_publishers_of_the_families() -> None:
    publishers = {family.id: family.publisher for family in default_catalog().families.values()}
    assert publishers == {"tiktok": "tiktok-ltd", "tiktok-lite": "tiktok-ltd", "douyin": "beijing-douyin",
                          "capcut": "bytedance-pte", "lemon8": "heliophilia"}
