"""The control tests on the shipped ByteDance structure and on small synthetic ownership graphs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from appban.catalog import CONTROL_TESTS, MAJORITY, PAFACA_2024, Catalog, default_catalog
from appban.model import Jurisdiction, JurisdictionBasis, OwnershipLink, Publisher


def graph(*links: tuple[str, str, float | None, bool], jurisdictions: dict[str, str] | None = None) -> Catalog:
    """A catalogue of publishers and links only; `jurisdictions` maps a publisher to its headquarters."""
    names = {name for parent, child, _, _ in links for name in (parent, child)} | set(jurisdictions or {})
    homes = jurisdictions or {}
    publishers = {
        name: Publisher(name, name.upper(),
                        (Jurisdiction(homes[name], JurisdictionBasis.HEADQUARTERS, "test"),) if name in homes else ())
        for name in names}
    return Catalog(families={}, publishers=publishers, links=tuple(
        OwnershipLink(parent, child, None if share is None else Decimal(str(share)), direction)
        for parent, child, share, direction in links))


def test_the_registry_names_both_tests() -> None:
    assert set(CONTROL_TESTS) == {"majority", "pafaca-2024"}
    assert CONTROL_TESTS["majority"] is MAJORITY
    assert CONTROL_TESTS["pafaca-2024"] is PAFACA_2024
    assert "118-50" in PAFACA_2024.citation


@pytest.mark.parametrize("test", ["majority", "pafaca-2024"])
def test_capcut_is_controlled_by_bytedance(test: str) -> None:
    catalog = default_catalog()
    assert catalog.families["capcut"].publisher in catalog.controlled_by("bytedance", test)


@pytest.mark.parametrize("test", ["majority", "pafaca-2024"])
def test_tiktok_usds_joint_venture_is_not_controlled_by_bytedance(test: str) -> None:
    catalog = default_catalog()
    assert catalog.links and any(link.child == "tiktok-usds-jv" and link.share == Decimal("19.9")
                                 for link in catalog.links)
    assert "tiktok-usds-jv" not in catalog.controlled_by("bytedance", test)


@pytest.mark.parametrize("test", ["majority", "pafaca-2024"])
def test_every_shipped_family_is_published_by_a_bytedance_company(test: str) -> None:
    catalog = default_catalog()
    controlled = catalog.controlled_by("bytedance", test)
    assert {family.publisher for family in catalog.families.values()} <= controlled


def test_the_state_golden_share_does_not_make_douyin_state_controlled() -> None:
    catalog = default_catalog()
    assert catalog.controlled_by("wangtouzhongwen", "pafaca-2024") == {"wangtouzhongwen"}
    assert "beijing-douyin" in catalog.controlled_by("bytedance", "majority")


def test_controlled_from_china_includes_bytedance_and_its_subsidiaries() -> None:
    catalog = default_catalog()
    from_china = catalog.controlled_from("CN", "pafaca-2024")
    assert {"bytedance", "tiktok-ltd", "tiktok-inc", "tiktok-technology-ie", "bytedance-pte", "heliophilia",
            "beijing-douyin", "wangtouzhongwen"} <= from_china
    assert "tiktok-usds-jv" not in from_china
    assert "oracle" not in from_china
    assert catalog.controlled_from("cn") == from_china


def test_controlled_from_a_country_with_no_company_is_empty() -> None:
    assert default_catalog().controlled_from("FR") == frozenset()


def test_a_stake_of_exactly_twenty_percent_controls_under_pafaca_only() -> None:
    catalog = graph(("a", "c", 20.0, False))
    assert "c" in catalog.controlled_by("a", "pafaca-2024")
    assert "c" not in catalog.controlled_by("a", "majority")


def test_a_stake_just_under_twenty_percent_does_not_control() -> None:
    assert "c" not in graph(("a", "c", 19.99, False)).controlled_by("a", "pafaca-2024")


def test_majority_needs_more_than_half() -> None:
    assert "c" not in graph(("a", "c", 50, False)).controlled_by("a", "majority")
    assert "c" in graph(("a", "c", 50.1, False)).controlled_by("a", "majority")


def test_direction_controls_whatever_the_stake() -> None:
    catalog = graph(("a", "c", 1, True), ("a", "d", None, True))
    for test in CONTROL_TESTS:
        assert {"c", "d"} <= catalog.controlled_by("a", test)


def test_indirect_control_through_a_controlled_entity() -> None:
    catalog = graph(("a", "b", 60, False), ("b", "c", 30, False))
    assert catalog.controlled_by("a", "majority") == {"a", "b"}
    assert catalog.controlled_by("a", "pafaca-2024") == {"a", "b", "c"}


def test_stakes_of_a_and_its_controlled_entities_add_up() -> None:
    catalog = graph(("a", "b", 60, False), ("a", "c", 10, False), ("b", "c", 10, False))
    assert "c" in catalog.controlled_by("a", "pafaca-2024")
    assert "c" not in graph(("a", "c", 10, False), ("b", "c", 10, False)).controlled_by("a", "pafaca-2024")


def test_combined_stakes_tip_a_majority_late_in_the_walk() -> None:
    # c is reached last, through b; only then do the stakes of a and c in e add up to 51 %.
    catalog = graph(("a", "b", None, True), ("b", "c", 100, False), ("a", "e", 20, False),
                    ("c", "e", 31, False))
    assert "e" in catalog.controlled_by("a", "majority")


def test_stakes_of_an_uncontrolled_entity_do_not_count() -> None:
    catalog = graph(("a", "b", 40, False), ("b", "c", 100, True))
    assert catalog.controlled_by("a", "majority") == {"a"}


def test_unknown_stakes_count_for_nothing() -> None:
    assert graph(("a", "b", None, False)).controlled_by("a", "pafaca-2024") == {"a"}


def test_cycles_terminate_and_give_the_whole_cycle() -> None:
    catalog = graph(("a", "b", 100, True), ("b", "c", 100, True), ("c", "a", 100, True))
    for test in CONTROL_TESTS:
        assert catalog.controlled_by("b", test) == {"a", "b", "c"}


def test_the_publisher_itself_is_included_even_when_unknown() -> None:
    assert default_catalog().controlled_by("nobody") == {"nobody"}


def test_controlled_from_follows_stakes_of_everything_controlled_from_the_country() -> None:
    # Two Chinese companies with 10 % each hold 20 % together: controlled from CN under the 2024 act.
    catalog = graph(("cn1", "x", 10, False), ("cn2", "x", 10, False), ("x", "y", 25, False),
                    jurisdictions={"cn1": "CN", "cn2": "CN", "us": "US"})
    assert catalog.controlled_from("CN", "pafaca-2024") == {"cn1", "cn2", "x", "y"}
    assert catalog.controlled_from("CN", "majority") == {"cn1", "cn2"}
    assert catalog.controlled_from("US", "pafaca-2024") == {"us"}


def test_operations_in_a_country_do_not_make_a_company_controlled_from_it() -> None:
    publisher = Publisher("p", "P", (Jurisdiction("CN", JurisdictionBasis.OPERATIONS, "test"),))
    catalog = Catalog(families={}, publishers={"p": publisher})
    assert catalog.controlled_from("CN") == frozenset()
    incorporated = Publisher("p", "P", (Jurisdiction("CN", JurisdictionBasis.INCORPORATION, "test"),))
    assert Catalog(families={}, publishers={"p": incorporated}).controlled_from("CN") == {"p"}


def test_stake_test_compares_at_the_threshold() -> None:
    assert PAFACA_2024.holds_enough(Decimal(20))
    assert not PAFACA_2024.holds_enough(Decimal("19.9"))
    assert not MAJORITY.holds_enough(Decimal(50))
    assert MAJORITY.holds_enough(Decimal("50.01"))
