"""Look-ups on the shipped catalogue: identity -> family, targets -> identities, names -> ids."""

from __future__ import annotations

from decimal import Decimal

import pytest

from appban.catalog import Catalog, default_catalog
from appban.errors import NotFound
from appban.model import App, AppFamily, OwnershipLink, Platform, Publisher, Target, TargetKind

SHIPPED_IDENTITIES = [
    (Platform.ANDROID, "com.zhiliaoapp.musically", "tiktok"),
    (Platform.ANDROID, "com.ss.android.ugc.trill", "tiktok"),
    (Platform.IOS, "com.zhiliaoapp.musically", "tiktok"),
    (Platform.IPADOS, "com.zhiliaoapp.musically", "tiktok"),
    (Platform.IOS, "com.ss.iphone.ugc.Ame", "tiktok"),
    (Platform.IPADOS, "com.ss.iphone.ugc.Ame", "tiktok"),
    (Platform.ANDROID, "com.zhiliaoapp.musically.go", "tiktok-lite"),
    (Platform.ANDROID, "com.ss.android.ugc.tiktok.lite", "tiktok-lite"),
    (Platform.ANDROID, "com.ss.android.ugc.aweme", "douyin"),
    (Platform.IOS, "com.ss.iphone.ugc.Aweme", "douyin"),
    (Platform.IPADOS, "com.ss.iphone.ugc.Aweme", "douyin"),
    (Platform.ANDROID, "com.lemon.lvoverseas", "capcut"),
    (Platform.IOS, "com.lemon.lvoverseas", "capcut"),
    (Platform.IPADOS, "com.lemon.lvoverseas", "capcut"),
    (Platform.ANDROID, "com.bd.nproject", "lemon8"),
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


@pytest.mark.parametrize(("platform", "identifier", "family"), SHIPPED_IDENTITIES)
def test_each_shipped_identity_resolves_to_its_family(catalog: Catalog, platform: Platform, identifier: str,
                                                      family: str) -> None:
    found = catalog.family_of(App(platform, identifier))
    assert found is not None
    assert found.id == family


def test_the_catalogue_holds_exactly_the_identities_listed_here(catalog: Catalog) -> None:
    shipped = {app for family in catalog.families.values() for app in family.apps}
    assert shipped == {App(platform, identifier) for platform, identifier, _ in SHIPPED_IDENTITIES}


def test_identity_lookup_is_exact_about_platform_and_case(catalog: Catalog) -> None:
    assert catalog.family_of(App(Platform.WINDOWS, "com.zhiliaoapp.musically")) is None
    assert catalog.family_of(App(Platform.IOS, "com.ss.iphone.ugc.ame")) is None
    assert catalog.family_of(App(Platform.ANDROID, "com.example.unknown")) is None


def test_variants_name_every_identity_of_a_family(catalog: Catalog) -> None:
    tiktok = catalog.families["tiktok"]
    assert {app for _, app in tiktok.variants} == tiktok.apps
    assert ("Asian markets", App(Platform.ANDROID, "com.ss.android.ugc.trill")) in tiktok.variants


def test_the_seed_restrictions_target_families_that_exist(catalog: Catalog) -> None:
    assert {"tiktok", "tiktok-lite", "douyin", "capcut", "lemon8"} <= set(catalog.families)
    assert "bytedance" in catalog.publishers


def test_apps_of_a_family_are_its_identities(catalog: Catalog) -> None:
    apps = catalog.apps_of(Target(TargetKind.FAMILY, "tiktok-lite"))
    assert apps == {App(Platform.ANDROID, "com.zhiliaoapp.musically.go"),
                    App(Platform.ANDROID, "com.ss.android.ugc.tiktok.lite")}


def test_apps_of_an_app_target_on_one_platform(catalog: Catalog) -> None:
    target = Target(TargetKind.APP, "com.example.thing", platform=Platform.ANDROID)
    assert catalog.apps_of(target) == {App(Platform.ANDROID, "com.example.thing")}


def test_apps_of_an_app_target_without_platform_is_every_platform(catalog: Catalog) -> None:
    apps = catalog.apps_of(Target(TargetKind.APP, "com.example.thing"))
    assert apps == {App(platform, "com.example.thing") for platform in Platform}
    assert len(apps) == len(Platform)


def test_apps_of_a_publisher_alone_are_only_its_own_families(catalog: Catalog) -> None:
    assert catalog.apps_of(Target(TargetKind.PUBLISHER, "bytedance-pte")) == catalog.families["capcut"].apps
    assert catalog.apps_of(Target(TargetKind.PUBLISHER, "bytedance")) == frozenset()


def test_apps_of_a_publisher_and_what_it_controls(catalog: Catalog) -> None:
    target = Target(TargetKind.PUBLISHER, "bytedance", controlled=True, control_test="pafaca-2024")
    every_family = {app for family in catalog.families.values() for app in family.apps}
    assert catalog.apps_of(target) == every_family


def test_apps_of_a_controlled_publisher_defaults_to_the_majority_test() -> None:
    catalog = Catalog(
        families={"f": AppFamily("f", "F", "c", frozenset({App(Platform.ANDROID, "com.c.app")}))},
        publishers={p: Publisher(p, p.upper()) for p in ("a", "c")},
        links=(OwnershipLink("a", "c", Decimal(30), False),),
    )
    majority = Target(TargetKind.PUBLISHER, "a", controlled=True)
    pafaca = Target(TargetKind.PUBLISHER, "a", controlled=True, control_test="pafaca-2024")
    assert catalog.apps_of(majority) == frozenset()
    assert catalog.apps_of(pafaca) == {App(Platform.ANDROID, "com.c.app")}


def test_unknown_names_raise_not_found_with_a_hint(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match="did you mean `tiktok`"):
        catalog.apps_of(Target(TargetKind.FAMILY, "tiktokk"))
    with pytest.raises(NotFound, match="unknown publisher `nobody`"):
        catalog.apps_of(Target(TargetKind.PUBLISHER, "nobody"))
    with pytest.raises(NotFound, match="control test"):
        catalog.controlled_by("bytedance", "plurality")


def test_families_of_is_sorted_by_id(catalog: Catalog) -> None:
    owners = catalog.controlled_by("bytedance", "pafaca-2024")
    ids = [family.id for family in catalog.families_of(owners)]
    assert ids == ["capcut", "douyin", "lemon8", "tiktok", "tiktok-lite"]
    assert catalog.families_of(["oracle"]) == ()


def test_closest_suggests_ids_from_ids_or_names(catalog: Catalog) -> None:
    assert catalog.closest("family", "tiktok-lit") == "tiktok-lite"
    assert catalog.closest("family", "TikTok Lite") == "tiktok-lite"
    assert catalog.closest("family", "Capcut") == "capcut"
    assert catalog.closest("publisher", "bytedanse") == "bytedance"
    assert catalog.closest("publisher", "ByteDance Ltd") == "bytedance"
    assert catalog.closest("family", "zzzzzz") is None


def test_chain_to_controller_walks_up_to_bytedance(catalog: Catalog) -> None:
    chain = catalog.chain_to_controller("tiktok-inc")
    assert [(link.parent, link.child) for link in chain] == [
        ("tiktok-llc", "tiktok-inc"), ("tiktok-ltd", "tiktok-llc"), ("bytedance", "tiktok-ltd")]
    assert [link.child for link in catalog.chain_to_controller("beijing-douyin")] == ["beijing-douyin"]


def test_chain_to_controller_stops_where_nobody_controls(catalog: Catalog) -> None:
    assert catalog.chain_to_controller("tiktok-usds-jv") == ()
    assert catalog.chain_to_controller("bytedance") == ()


def test_chain_to_controller_survives_a_cycle() -> None:
    links = (OwnershipLink("a", "b", None, True), OwnershipLink("b", "a", Decimal(60), False))
    catalog = Catalog(families={}, publishers={}, links=links)
    assert catalog.chain_to_controller("b") == (links[0],)


def test_chain_prefers_the_largest_stake() -> None:
    links = (OwnershipLink("x", "c", Decimal(51), False), OwnershipLink("y", "c", Decimal(0), True),
             OwnershipLink("z", "c", Decimal(40), False))
    catalog = Catalog(families={}, publishers={}, links=links)
    assert catalog.chain_to_controller("c") == (links[0],)


def test_one_identity_in_two_families_is_refused() -> None:
    app = App(Platform.ANDROID, "com.example.app")
    with pytest.raises(ValueError, match="two families"):
        Catalog(families={"a": AppFamily("a", "A", "p", frozenset({app})),
                          "b": AppFamily("b", "B", "p", frozenset({app}))}, publishers={})


def test_the_catalogue_is_immutable_and_hashable(catalog: Catalog) -> None:
    with pytest.raises(TypeError):
        catalog.families["x"] = catalog.families["tiktok"]  # type: ignore[index]
    assert hash(catalog) == hash(default_catalog())
    assert default_catalog() is default_catalog()
