"""Scope selectors: composable predicates over a device's attributes, and the scope test itself.

The seed cases need more than a flat filter: the Commission covers corporate devices *and* personal devices
enrolled in its device service, the US covers agency-owned *or* agency-funded equipment. Selectors compose
like sigstore's policies (`AllOf`, `AnyOf`, `Not`) over one primitive, `Match`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from appban.model import ChildPolicy, Device, DeviceSelector, Funding, Ownership, Platform, Restriction
from appban.policy.organisations import OrganisationTree

__all__ = [
    "AllOf",
    "AnyOf",
    "DeviceAttribute",
    "Everything",
    "Match",
    "Not",
    "binding_organisations",
    "in_scope",
]


class DeviceAttribute(StrEnum):
    OWNERSHIP = "ownership"
    FUNDING = "funding"
    ENROLLED = "enrolled"
    PLATFORM = "platform"


ATTRIBUTE_VALUES: Mapping[DeviceAttribute, tuple[str, ...]] = {
    DeviceAttribute.OWNERSHIP: tuple(o.value for o in Ownership),
    DeviceAttribute.FUNDING: tuple(f.value for f in Funding),
    DeviceAttribute.ENROLLED: ("true", "false"),
    DeviceAttribute.PLATFORM: tuple(p.value for p in Platform),
}


def _attribute_value(device: Device, attribute: DeviceAttribute) -> str:
    if attribute is DeviceAttribute.OWNERSHIP:
        return device.ownership.value
    if attribute is DeviceAttribute.FUNDING:
        return device.funding.value
    if attribute is DeviceAttribute.ENROLLED:
        return "true" if device.enrolled else "false"
    return device.platform.value


@dataclass(frozen=True, slots=True)
class Match:
    """The device's attribute has one of these values (`funding: [full, partial]`)."""

    attribute: DeviceAttribute
    values: frozenset[str]

    def matches(self, device: Device) -> bool:
        return _attribute_value(device, self.attribute) in self.values

    def describe(self) -> str:
        shown = " or ".join(sorted(self.values))
        return f"{self.attribute} is {shown}"


@dataclass(frozen=True, slots=True)
class AllOf:
    selectors: tuple[DeviceSelector, ...]

    def matches(self, device: Device) -> bool:
        return all(s.matches(device) for s in self.selectors)

    def describe(self) -> str:
        if not self.selectors:
            return "every device"
        if len(self.selectors) == 1:
            return self.selectors[0].describe()
        return "(" + " and ".join(s.describe() for s in self.selectors) + ")"


@dataclass(frozen=True, slots=True)
class AnyOf:
    selectors: tuple[DeviceSelector, ...]

    def matches(self, device: Device) -> bool:
        return any(s.matches(device) for s in self.selectors)

    def describe(self) -> str:
        if len(self.selectors) == 1:
            return self.selectors[0].describe()
        return "(" + " or ".join(s.describe() for s in self.selectors) + ")"


@dataclass(frozen=True, slots=True)
class Not:
    selector: DeviceSelector

    def matches(self, device: Device) -> bool:
        return not self.selector.matches(device)

    def describe(self) -> str:
        return f"not {self.selector.describe()}"


@dataclass(frozen=True, slots=True)
class Everything:
    def matches(self, device: Device) -> bool:
        return True

    def describe(self) -> str:
        return "every device"


def binding_organisations(restriction: Restriction, tree: OrganisationTree,
                          adopted_by: frozenset[str] = frozenset()) -> frozenset[str]:
    """The organisations whose devices a restriction binds.

    A mandatory restriction binds the whole subtree of each scope organisation. A recommended one binds only
    the issuer's own organisation (when in scope); below it, a child organisation is bound once it has adopted
    the restriction, and then its whole subtree is.
    """
    subtree: set[str] = set()
    for root in restriction.scope.organisations:
        subtree |= tree.subtree(root)
    if restriction.children is ChildPolicy.MANDATORY:
        return frozenset(subtree)
    bound = {restriction.issuer} & subtree
    for adopter in adopted_by:
        bound |= tree.subtree(adopter) & subtree
    return frozenset(bound)


def in_scope(restriction: Restriction, device: Device, tree: OrganisationTree,
             adopted_by: frozenset[str] = frozenset()) -> bool:
    """Whether the restriction covers the device: its organisation is bound and its attributes match."""
    if device.organisation not in binding_organisations(restriction, tree, adopted_by):
        return False
    return restriction.scope.devices.matches(device)
