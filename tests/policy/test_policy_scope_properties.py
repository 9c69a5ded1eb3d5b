"""Property tests: the parsed selector means what the YAML says, and scope never leaks out of its subtree."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from appban.model import ChildPolicy, Device, Funding, Organisation, Ownership, Platform
from appban.policy import OrganisationTree, binding_organisations, in_scope, parse_restriction

ATTRIBUTES: dict[str, list[Any]] = {
    "ownership": [o.value for o in Ownership],
    "funding": [f.value for f in Funding],
    "enrolled": [True, False],
    "platform": [p.value for p in Platform],
}

devices = st.builds(
    Device, id=st.just("d"), organisation=st.sampled_from(["o0", "o1", "o2", "o3", "o4"]),
    platform=st.sampled_from(Platform), ownership=st.sampled_from(Ownership), funding=st.sampled_from(Funding),
    enrolled=st.booleans())


def attribute_selectors() -> st.SearchStrategy[dict[str, Any]]:
    def one(name: str) -> st.SearchStrategy[dict[str, Any]]:
        values = st.lists(st.sampled_from(ATTRIBUTES[name]), min_size=1, max_size=3, unique=True)
        return values.map(lambda v: {name: v if len(v) > 1 else v[0]})
    return st.lists(st.sampled_from(list(ATTRIBUTES)), min_size=1, max_size=3, unique=True).flatmap(
        lambda names: st.tuples(*(one(n) for n in names)).map(lambda parts: {k: v for p in parts
                                                                            for k, v in p.items()}))


selectors = st.recursive(
    attribute_selectors(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda s: {"any_of": s}),
        st.lists(inner, min_size=1, max_size=3).map(lambda s: {"all_of": s}),
        inner.map(lambda s: {"not": s}),
    ),
    max_leaves=8,
)


def reference(selector: dict[str, Any], device: Device) -> bool:
    """The meaning of a selector, written independently of appban.policy.scope."""
    results = []
    for key, value in selector.items():
        if key == "any_of":
            results.append(any(reference(s, device) for s in value))
        elif key == "all_of":
            results.append(all(reference(s, device) for s in value))
        elif key == "not":
            results.append(not reference(value, device))
        else:
            actual = {"ownership": device.ownership.value, "funding": device.funding.value,
                      "enrolled": device.enrolled, "platform": device.platform.value}[key]
            allowed = value if isinstance(value, list) else [value]
            results.append(actual in allowed)
    return all(results)


TREE = OrganisationTree([Organisation("o0", "root"), Organisation("o1", "a", parent="o0"),
                         Organisation("o2", "b", parent="o0"), Organisation("o3", "c", parent="o1"),
                         Organisation("o4", "other root")])


def restriction_with(selector: dict[str, Any], scope_orgs: list[str], children: str) -> Any:
    text = json.dumps({
        "id": "p", "issuer": "o0", "title": "t", "targets": [{"family": "tiktok"}], "strictness": "advise",
        "effective": "2024-01-01", "children": children,
        "scope": {"organisations": scope_orgs, "devices": selector},
    })
    return parse_restriction(text, "p.yaml").restriction


@settings(max_examples=400, deadline=None)
@given(selectors, st.lists(devices, min_size=1, max_size=6))
def test_parsed_selector_agrees_with_its_meaning(selector: dict[str, Any], fleet: list[Device]) -> None:
    restriction = restriction_with(selector, ["o0"], "mandatory")
    for device in fleet:
        assert restriction.scope.devices.matches(device) is reference(selector, device)


@settings(max_examples=200, deadline=None)
@given(selectors, st.lists(st.sampled_from(["o0", "o1", "o2", "o3"]), min_size=1, max_size=3, unique=True),
       st.frozensets(st.sampled_from(["o1", "o2", "o3"])), devices)
def test_scope_stays_in_its_subtrees(selector: dict[str, Any], scope_orgs: list[str], adopters: frozenset[str],
                                     device: Device) -> None:
    mandatory = restriction_with(selector, scope_orgs, "mandatory")
    recommended = dataclasses.replace(mandatory, children=ChildPolicy.RECOMMENDED)
    subtree = set().union(*(TREE.subtree(o) for o in scope_orgs))
    assert binding_organisations(recommended, TREE, adopters) <= binding_organisations(mandatory, TREE) == subtree
    if in_scope(mandatory, device, TREE) or in_scope(recommended, device, TREE, adopters):
        assert device.organisation in subtree
    assert in_scope(recommended, device, TREE, adopters) <= in_scope(mandatory, device, TREE)
    # every adopter widens a recommended restriction monotonically
    assert in_scope(recommended, device, TREE) <= in_scope(recommended, device, TREE, adopters)
