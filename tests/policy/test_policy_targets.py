"""Targets resolved through the catalogue: which app identities each seed restriction bans."""

from __future__ import annotations

import pytest

from appban.catalog import default_catalog
from appban.errors import InvalidInput
from appban.model import App, Platform, Restriction
from appban.policy import PolicySet, parse_restriction

from .seed import restriction, tree


def banned(r: Restriction) -> frozenset[App]:
    catalog = default_catalog()
    return frozenset().union(*(catalog.apps_of(t) for t in r.targets))


def family_apps(family: str) -> frozenset[App]:
    return default_catalog().families[family].apps


TIKTOK = App(Platform.ANDROID, "com.zhiliaoapp.musically")


@pytest.mark.parametrize("restriction_id", [
    "eu-commission-tiktok-2023", "be-federal-tiktok-2023", "dk-parliament-tiktok-2023", "us-federal-tiktok-2022",
    "us-pafaca-2024"])
def test_every_seed_restriction_bans_tiktok(restriction_id: str) -> None:
    apps = banned(restriction(restriction_id))
    assert TIKTOK in apps
    assert family_apps("tiktok") <= apps


def test_capcut_is_caught_by_pafaca_not_by_the_2022_act() -> None:
    capcut = family_apps("capcut")
    assert capcut
    assert capcut <= banned(restriction("us-pafaca-2024"))
    assert not capcut & banned(restriction("us-federal-tiktok-2022"))


def test_pafaca_covers_every_bytedance_family_in_the_catalogue() -> None:
    pafaca = banned(restriction("us-pafaca-2024"))
    for family in ("tiktok", "tiktok-lite", "douyin", "capcut", "lemon8"):
        assert family_apps(family) <= pafaca, family


def test_unknown_names_are_located_with_suggestions() -> None:
    text = """\
id: x
issuer: eu-commission
title: X
targets:
  - family: tik-tok
  - publisher: bytedanse
    controlled: true
  - publisher: bytedance
    controlled: true
    control_test: pafaca
scope:
  organisations: [be-federal]
strictness: advise
effective: 2024-01-01
"""
    with pytest.raises(InvalidInput) as caught:
        parse_restriction(text, "x.yaml", PolicySet(tree(), default_catalog()))
    problems = [str(p) for p in caught.value.problems]
    assert "x.yaml:5:5: unknown app family `tik-tok` (did you mean `tiktok`?)" in problems
    assert "x.yaml:6:5: unknown publisher `bytedanse` (did you mean `bytedance`?)" in problems
    assert "x.yaml:8:5: unknown control test `pafaca` (did you mean `pafaca-2024`?)" in problems
    assert any(p.startswith("x.yaml:12:19: `be-federal` is outside the issuer `eu-commission`") for p in problems)
    assert len(problems) == 4
