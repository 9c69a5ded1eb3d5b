"""The domain glossary (docs/design.md) as frozen values. No I/O, no behaviour beyond what a word means.

Every other module speaks in these types: the policy parser produces them, the store persists them, the
engine reads them. Enumerations are `StrEnum`s whose values are the words used in files, the API and the UI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

__all__ = [
    "App",
    "AppFamily",
    "Attestation",
    "ChildPolicy",
    "Device",
    "DeviceSelector",
    "Evidence",
    "Exemption",
    "Finding",
    "FindingState",
    "Funding",
    "Holder",
    "Jurisdiction",
    "JurisdictionBasis",
    "Lifecycle",
    "Organisation",
    "Ownership",
    "OwnershipLink",
    "Platform",
    "Publisher",
    "Restriction",
    "Scope",
    "Strictness",
    "Target",
    "TargetKind",
    "UnknownCounts",
]


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    IPADOS = "ipados"
    WINDOWS = "windows"
    MACOS = "macos"


class Ownership(StrEnum):
    CORPORATE = "corporate"
    PERSONAL = "personal"


class Funding(StrEnum):
    """Who pays the device's purchase, subscription or use: the organisation fully, partly, or not at all."""

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class Strictness(StrEnum):
    ADVISE = "advise"
    REQUIRE = "require"


class ChildPolicy(StrEnum):
    """How a restriction applies below its issuer: imposed on child organisations, or offered for adoption."""

    MANDATORY = "mandatory"
    RECOMMENDED = "recommended"


class Lifecycle(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class UnknownCounts(StrEnum):
    """Whether a device whose state cannot be seen counts as compliant or not, per restriction."""

    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"


class FindingState(StrEnum):
    COMPLIANT = "compliant"
    ADVISED = "advised"
    GRACE = "grace"
    NON_COMPLIANT = "non_compliant"
    EXEMPT = "exempt"
    UNKNOWN = "unknown"


class JurisdictionBasis(StrEnum):
    """Why a company falls under a jurisdiction's laws: the connecting factors the published tests use."""

    INCORPORATION = "incorporation"
    HEADQUARTERS = "headquarters"
    DOMICILE = "domicile"
    PRINCIPAL_PLACE_OF_BUSINESS = "principal_place_of_business"
    OPERATIONS = "operations"


# --- organisations, holders, devices -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Organisation:
    """A node of the hierarchy (country > region > province > municipality, or institution > department)."""

    id: str
    name: str
    parent: str | None = None
    kind: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Holder:
    """The person a device is assigned to; the e-mail address is where notices go."""

    email: str
    organisation: str
    name: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    """A device as its source MDM knows it. `enrolled`: in the organisation's device service."""

    id: str
    organisation: str
    platform: Platform
    ownership: Ownership
    funding: Funding
    enrolled: bool
    holder: str | None = None
    last_inventory: dt.datetime | None = None


# --- apps, families, publishers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class App:
    """One installable identity on one platform: package name, bundle id or package family name."""

    platform: Platform
    identifier: str
    # Apps are dictionary keys by the million (inventories, indexes): hash once, not on every look-up.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.platform, self.identifier)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[App], tuple[Platform, str]]:
        """Rebuilt through __init__ when unpickled: string hashes differ from one process to the next."""
        return (App, (self.platform, self.identifier))

    def __str__(self) -> str:
        return f"{self.platform}:{self.identifier}"


@dataclass(frozen=True, slots=True)
class AppFamily:
    """One product across platforms and variants (TikTok: global, Asian and iOS identities), with its publisher."""

    id: str
    name: str
    publisher: str
    apps: frozenset[App]
    variants: tuple[tuple[str, App], ...] = ()  # (variant name, identity), for display
    source: str = ""


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    country: str  # ISO 3166-1 alpha-2
    basis: JurisdictionBasis
    source: str = ""


@dataclass(frozen=True, slots=True)
class OwnershipLink:
    """`parent` holds `share` percent of `child`, and/or directs or controls it (`direction`)."""

    parent: str
    child: str
    share: Decimal | None
    direction: bool
    source: str = ""


@dataclass(frozen=True, slots=True)
class Publisher:
    id: str
    name: str
    jurisdictions: tuple[Jurisdiction, ...] = ()
    source: str = ""


# --- restrictions ----------------------------------------------------------------------------------------


class DeviceSelector(Protocol):
    """Decides whether a device's attributes put it in a restriction's scope (see appban.policy.scope)."""

    def matches(self, device: Device) -> bool: ...

    def describe(self) -> str: ...


class TargetKind(StrEnum):
    FAMILY = "family"
    APP = "app"
    PUBLISHER = "publisher"


@dataclass(frozen=True, slots=True)
class Target:
    """What a restriction bans: an app family, one app identity, or a publisher's apps.

    For a publisher, `controlled` extends the target to every entity the publisher controls under the
    named control test (see appban.catalog.control).
    """

    kind: TargetKind
    value: str
    platform: Platform | None = None  # for kind APP
    controlled: bool = False
    control_test: str | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """Which devices a restriction covers: those of these organisation subtrees whose attributes match."""

    organisations: frozenset[str]
    devices: DeviceSelector


@dataclass(frozen=True, slots=True)
class Evidence:
    title: str
    url: str | None = None
    kind: str = "document"  # document | assessment


@dataclass(frozen=True, slots=True)
class Restriction:
    """The decided policy. One per policy file; a changed file becomes a new version in the store."""

    id: str
    issuer: str
    title: str
    targets: tuple[Target, ...]
    scope: Scope
    strictness: Strictness
    effective: dt.date
    status: Lifecycle = Lifecycle.ACTIVE
    grace: dt.timedelta = dt.timedelta(0)
    cuts: frozenset[str] = frozenset()
    expires: dt.date | None = None
    review: dt.date | None = None
    rationale: str = ""
    evidence: tuple[Evidence, ...] = ()
    children: ChildPolicy = ChildPolicy.MANDATORY
    shadow: bool = False
    unknown_counts_as: UnknownCounts = UnknownCounts.NON_COMPLIANT


@dataclass(frozen=True, slots=True)
class Exemption:
    """A named device or holder excused from one restriction, with a reason, an approver and an end date."""

    id: str
    restriction: str
    reason: str
    approver: str
    ends: dt.datetime
    device: str | None = None
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class Attestation:
    """A holder's signed-in statement that a restriction's apps are gone from a device the source cannot fully
    see. It counts until it expires, or until a report shows a banned app again."""

    device: str
    restriction: str
    holder: str
    at: dt.datetime
    expires: dt.datetime


@dataclass(frozen=True, slots=True)
class Finding:
    """The state of one device against one restriction; `shadow` findings are "would be" and enforce nothing."""

    device: str
    restriction: str
    state: FindingState
    since: dt.datetime
    deadline: dt.datetime | None = None
    apps: frozenset[App] = frozenset()
    reason: str = ""
    shadow: bool = False
