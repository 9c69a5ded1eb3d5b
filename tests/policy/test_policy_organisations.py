"""The organisations file and the tree: duplicates, unknown parents, cycles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.errors import InvalidInput
from appban.model import Organisation
from appban.policy import OrganisationTree, check_organisations, parse_organisations

from .seed import tree


def test_examples_build_the_expected_tree() -> None:
    t = tree()
    assert set(t.roots()) == {"eu-commission", "be-federal", "dk-parliament", "us-federal"}
    assert set(t.children("be-federal")) == {"be-flanders", "be-wallonia", "be-brussels"}
    for region in ("be-flanders", "be-wallonia", "be-brussels"):
        assert len(t.children(region)) >= 2
    assert t.ancestors("be-gent") == ("be-gent", "be-flanders", "be-federal")
    assert t.is_within("be-gent", "be-federal") and not t.is_within("be-gent", "be-wallonia")


def test_a_cycle_is_one_located_problem() -> None:
    text = ("organisations:\n"
            "  - {id: a, name: A, parent: c}\n"
            "  - {id: b, name: B, parent: a}\n"
            "  - {id: c, name: C, parent: b}\n")
    problems = check_organisations(parse_organisations(text, "orgs.yaml")).items
    assert [str(p) for p in problems] == [
        "orgs.yaml:2:30: the organisation tree has a cycle: a -> c -> b -> a "
        "(an organisation cannot be its own ancestor)"]


def test_a_cycle_through_stored_organisations_is_caught() -> None:
    stored = [Organisation("root", "Root", parent="leaf")]
    text = "organisations:\n  - id: leaf\n    name: Leaf\n    parent: root\n"
    problems = check_organisations(parse_organisations(text, "o.yaml"), stored).items
    assert len(problems) == 1 and "cycle" in problems[0].message


def test_unknown_parent_and_duplicate() -> None:
    text = ("organisations:\n"
            "  - {id: be-federal, name: Federal}\n"
            "  - {id: be-gent, name: Gent, parent: be-flanderz}\n"
            "  - {id: be-federal, name: Again}\n")
    messages = [str(p) for p in check_organisations(parse_organisations(text, "o.yaml")).items]
    assert len(messages) == 2
    assert any("unknown parent organisation `be-flanderz`" in m for m in messages)
    assert any("`be-federal` is listed twice (first at o.yaml:2:6)" in m for m in messages)


def test_structure_problems() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_organisations("organisations:\n  - {id: x, nmae: X, country: Belgium}\n", "o.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any("unknown key `nmae`" in m and "did you mean `name`?" in m for m in messages)
    assert any("`country` 'Belgium' is not valid" in m for m in messages)
    assert any("has no `name`" in m for m in messages)


@given(st.lists(st.integers(0, 14), min_size=1, max_size=15))
def test_subtree_and_ancestors_agree(parents: list[int]) -> None:
    # node i's parent is parents[i] when that is smaller than i: always a forest
    orgs = [Organisation(f"o{i}", f"O{i}", parent=f"o{p}" if p < i else None) for i, p in enumerate(parents)]
    t = OrganisationTree(orgs)
    for a in t.organisations:
        for b in t.organisations:
            assert (b in t.subtree(a)) == (a in t.ancestors(b))
