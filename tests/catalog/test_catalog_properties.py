"""Properties of the control tests on random ownership graphs, cycles included."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from appban.catalog import CONTROL_TESTS, PAFACA_2024, StakeTest
from appban.model import OwnershipLink

NODES = [f"n{i}" for i in range(7)]

shares = st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=1, allow_nan=False))
links = st.builds(OwnershipLink, parent=st.sampled_from(NODES), child=st.sampled_from(NODES),
                  share=shares, direction=st.booleans()).filter(lambda link: link.parent != link.child)
graphs = st.lists(links, max_size=25)
tests = st.sampled_from(sorted(CONTROL_TESTS))


def reference(test: StakeTest, root: str, edges: list[OwnershipLink]) -> frozenset[str]:
    """The definition, computed the slow way: recount everything until a round adds nothing."""
    controlled = {root}
    while True:
        held: dict[str, Decimal] = {}
        directed: set[str] = set()
        for link in edges:
            if link.parent in controlled:
                held[link.child] = held.get(link.child, Decimal(0)) + (link.share or Decimal(0))
                if link.direction:
                    directed.add(link.child)
        new = {child for child in set(held) | directed
               if child not in controlled and (child in directed or test.holds_enough(held[child]))}
        if not new:
            return frozenset(controlled)
        controlled |= new


def stake_test(name: str) -> StakeTest:
    control = CONTROL_TESTS[name]
    assert isinstance(control, StakeTest)
    return control


@settings(max_examples=300)
@given(edges=graphs, root=st.sampled_from(NODES), name=tests)
def test_control_matches_the_definition(edges: list[OwnershipLink], root: str, name: str) -> None:
    control = stake_test(name)
    assert control.controlled_by([root], edges) == reference(control, root, edges)


@given(edges=graphs, root=st.sampled_from(NODES), name=tests)
def test_the_holder_is_always_included_and_nothing_unnamed_appears(edges: list[OwnershipLink], root: str,
                                                                    name: str) -> None:
    controlled = CONTROL_TESTS[name].controlled_by([root], edges)
    assert root in controlled
    assert controlled <= {root} | {link.child for link in edges}


@given(edges=graphs, extra=links, root=st.sampled_from(NODES), name=tests)
def test_adding_a_link_never_removes_a_controlled_entity(edges: list[OwnershipLink], extra: OwnershipLink,
                                                         root: str, name: str) -> None:
    control = CONTROL_TESTS[name]
    assert control.controlled_by([root], edges) <= control.controlled_by([root], [*edges, extra])


@given(edges=graphs, root=st.sampled_from(NODES))
def test_majority_control_implies_pafaca_control(edges: list[OwnershipLink], root: str) -> None:
    assert CONTROL_TESTS["majority"].controlled_by([root], edges) <= \
        CONTROL_TESTS["pafaca-2024"].controlled_by([root], edges)


@given(edges=graphs, root=st.sampled_from(NODES), name=tests)
def test_control_is_transitive(edges: list[OwnershipLink], root: str, name: str) -> None:
    control = CONTROL_TESTS[name]
    controlled = control.controlled_by([root], edges)
    for entity in controlled:
        assert control.controlled_by([entity], edges) <= controlled


@given(edges=graphs, root=st.sampled_from(NODES))
def test_nothing_outside_reaches_the_threshold(edges: list[OwnershipLink], root: str) -> None:
    controlled = PAFACA_2024.controlled_by([root], edges)
    for outsider in set(NODES) - controlled:
        inbound = [link for link in edges if link.child == outsider and link.parent in controlled]
        assert not any(link.direction for link in inbound)
        assert sum((link.share or Decimal(0) for link in inbound), Decimal(0)) < Decimal(20)
