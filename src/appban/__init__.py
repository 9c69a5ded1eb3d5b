"""appban: assess risky mobile apps, decide restrictions, enforce them on devices, prove compliance.

The public surface is the domain vocabulary (`appban.model`) and the errors (`appban.errors`); the policy
core, the catalogue and the store are packages of their own, each with its own `__all__`.
"""

from appban.errors import AppbanError, Conflict, InvalidInput, Location, NotFound, Problem, StorageUnavailable
from appban.model import (
    App,
    AppFamily,
    Attestation,
    ChildPolicy,
    Device,
    DeviceSelector,
    Evidence,
    Exemption,
    Finding,
    FindingState,
    Funding,
    Holder,
    Jurisdiction,
    JurisdictionBasis,
    Lifecycle,
    Organisation,
    Ownership,
    OwnershipLink,
    Platform,
    Publisher,
    Restriction,
    Scope,
    Strictness,
    Target,
    TargetKind,
    UnknownCounts,
)

__version__ = "0.1.0"

__all__ = [
    "App",
    "AppFamily",
    "AppbanError",
    "Attestation",
    "ChildPolicy",
    "Conflict",
    "Device",
    "DeviceSelector",
    "Evidence",
    "Exemption",
    "Finding",
    "FindingState",
    "Funding",
    "Holder",
    "InvalidInput",
    "Jurisdiction",
    "JurisdictionBasis",
    "Lifecycle",
    "Location",
    "NotFound",
    "Organisation",
    "Ownership",
    "OwnershipLink",
    "Platform",
    "Problem",
    "Publisher",
    "Restriction",
    "Scope",
    "StorageUnavailable",
    "Strictness",
    "Target",
    "TargetKind",
    "UnknownCounts",
    "__version__",
]
