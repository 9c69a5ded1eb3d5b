"""The names a restriction uses must exist and fit together: organisations, app families, publishers, tests.

The restriction parser calls these checks while it reads a file, with each name's own position, so that a
file with a misspelt key and a misspelt app family reports both in one run.
"""

from __future__ import annotations

from dataclasses import dataclass

from appban.catalog import CONTROL_TESTS, Catalog
from appban.errors import Location
from appban.model import Target, TargetKind
from appban.policy.organisations import OrganisationTree
from appban.yamldoc import Problems, closest

__all__ = ["PolicySet"]


@dataclass(frozen=True, slots=True)
class PolicySet:
    """What restrictions are checked against: the organisation tree and the catalogue."""

    tree: OrganisationTree
    catalog: Catalog

    def check_issuer(self, issuer: str, where: Location, problems: Problems) -> None:
        if issuer not in self.tree:
            problems.add(where, f"unknown organisation `{issuer}`",
                         _did_you_mean(issuer, sorted(self.tree.organisations), "run `appban org apply` first"))

    def check_scope_organisation(self, org: str, issuer: str | None, where: Location, problems: Problems) -> None:
        if org not in self.tree:
            problems.add(where, f"unknown organisation `{org}` in scope",
                         _did_you_mean(org, sorted(self.tree.organisations), "run `appban org apply` first"))
        elif issuer is not None and issuer in self.tree and not self.tree.is_within(org, issuer):
            problems.add(where, f"`{org}` is outside the issuer `{issuer}`'s organisation subtree",
                         "an organisation restricts only itself and its children")

    def check_target(self, target: Target, where: Location, problems: Problems) -> None:
        catalog = self.catalog
        if target.kind is TargetKind.FAMILY and target.value not in catalog.families:
            problems.add(where, f"unknown app family `{target.value}`",
                         _did_you_mean(target.value, sorted(catalog.families), "target one identity with `app:`"))
        if target.kind is TargetKind.PUBLISHER and target.value not in catalog.publishers:
            problems.add(where, f"unknown publisher `{target.value}`",
                         _did_you_mean(target.value, sorted(catalog.publishers), "add it to the catalogue first"))
        if target.control_test is not None and target.control_test not in CONTROL_TESTS:
            problems.add(where, f"unknown control test `{target.control_test}`",
                         _did_you_mean(target.control_test, sorted(CONTROL_TESTS),
                                       f"one of: {', '.join(sorted(CONTROL_TESTS))}"))


def _did_you_mean(word: str, candidates: list[str], otherwise: str) -> str:
    suggestion = closest(word, candidates)
    return f"did you mean `{suggestion}`?" if suggestion else otherwise
