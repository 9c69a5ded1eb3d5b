"""The assessment as values: what was read from the build, what is known of its publisher, and the score.

Everything is a frozen dataclass of strings, numbers, booleans, tuples and enums, so that `to_json` can write
it with sorted keys and the same input always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from appban.risk.permissions import PermissionGroup, SpecialAccessKind
from appban.risk.signing import Certificate
from appban.risk.trackers import TrackerEvidence

__all__ = [
    "Action",
    "AndroidBuild",
    "Assessment",
    "AtsPolicy",
    "Claim",
    "Component",
    "Factor",
    "FileInfo",
    "IosBuild",
    "Law",
    "OwnershipStep",
    "Permission",
    "PublisherRisk",
    "Rating",
    "SpecialAccess",
    "UsageDescription",
    "WorkNeed",
]

SCHEMA = "appban.assessment/1"


class Rating(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Action(StrEnum):
    ALLOW = "allow"
    ADVISE_AGAINST = "advise-against"  # on work devices
    REQUIRE_REMOVAL = "require-removal"  # from work devices


@dataclass(frozen=True, slots=True)
class FileInfo:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    protection: str  # AOSP protectionLevel ("dangerous", "signature|appop", ...), "custom" or "unknown"
    base: str  # the first word of `protection`: normal, dangerous, signature, internal, custom, unknown
    group: PermissionGroup
    element: str  # uses-permission or uses-permission-sdk-23
    max_sdk: int | None = None


@dataclass(frozen=True, slots=True)
class SpecialAccess:
    kind: SpecialAccessKind
    label: str
    evidence: str  # the manifest element that asks for it


@dataclass(frozen=True, slots=True)
class Component:
    kind: str  # activity, activity-alias, service, receiver, provider
    name: str
    exported_because: str  # "exported=true" or "intent-filter (default before Android 12)" ...
    permission: str | None  # the permission a caller needs, if any


@dataclass(frozen=True, slots=True)
class AndroidBuild:
    package: str
    version_code: str | None
    version_name: str | None
    min_sdk: int
    target_sdk: int
    protection_table_api: int  # the AOSP table used for protection levels
    permissions: tuple[Permission, ...]
    special_access: tuple[SpecialAccess, ...]
    exported: tuple[Component, ...]
    debuggable: bool
    allow_backup: bool
    cleartext_traffic: bool
    network_security_config: str | None
    signature_schemes: tuple[str, ...]
    certificates: tuple[Certificate, ...]
    native_libraries: tuple[str, ...]
    hosts: tuple[str, ...]
    urls: tuple[str, ...]
    urls_truncated: bool
    classes_scanned: int
    trackers: tuple[TrackerEvidence, ...]
    splits: tuple[str, ...]  # entries of a bundle (base.apk, split_config.arm64_v8a.apk ...), else ()
    # What a reviewer must know about who signed: signers that differ between schemes, v1 blocks that do not
    # verify or that Android ignores. Each note is one sentence.
    signing_notes: tuple[str, ...] = ()
    prepended_bytes: int = 0  # bytes before the first zip entry: a DEX there is the Janus attack
    # Manifest oddities a reviewer must know, e.g. permissions named in a namespace androguard-based tools
    # do not read although Android does. Each note is one sentence.
    manifest_notes: tuple[str, ...] = ()
    prepended_dex: bool = False


@dataclass(frozen=True, slots=True)
class UsageDescription:
    key: str  # NSCameraUsageDescription ...
    group: PermissionGroup | None  # the Android-equivalent group, when there is one
    label: str
    text: str  # what the app tells the user


@dataclass(frozen=True, slots=True)
class AtsPolicy:
    allows_arbitrary_loads: bool
    exception_domains: tuple[str, ...]  # domains allowed insecure HTTP


@dataclass(frozen=True, slots=True)
class IosBuild:
    bundle_id: str
    version: str | None  # CFBundleShortVersionString
    build: str | None  # CFBundleVersion
    minimum_os: str | None
    usage_descriptions: tuple[UsageDescription, ...]
    entitlements: tuple[tuple[str, str], ...]  # (key, value as JSON)
    team_id: str | None
    team_name: str | None
    ats: AtsPolicy
    url_schemes: tuple[str, ...]
    frameworks: tuple[str, ...]
    sdks: tuple[TrackerEvidence, ...]  # frameworks matched to the shipped SDK list


@dataclass(frozen=True, slots=True)
class WorkNeed:
    """The first question of the Danish CFCS method: does the app serve a work purpose, and for whom."""

    needed: bool | None = None  # None: not recorded by the analyst
    who: str = ""  # e.g. "communications unit running the official account"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OwnershipStep:
    parent: str
    parent_name: str
    child: str
    share: str | None  # percent as written in the catalogue
    direction: bool
    source: str


@dataclass(frozen=True, slots=True)
class Law:
    country: str
    title: str
    citation: str
    provision: str  # what it obliges, in a sentence
    source: str


@dataclass(frozen=True, slots=True)
class Claim:
    """A statement the vendor makes about itself: recorded as a claim, never weighed as a fact."""

    by: str
    statement: str
    source: str
    status: str = "claim"


@dataclass(frozen=True, slots=True)
class PublisherRisk:
    family: str | None
    family_name: str | None
    publisher: str | None
    publisher_name: str | None
    chain: tuple[OwnershipStep, ...]  # publisher up to the ultimate controller
    controller: str | None
    controller_name: str | None
    jurisdictions: tuple[tuple[str, str, str], ...]  # (country, entity, basis)
    laws: tuple[Law, ...]
    claims: tuple[Claim, ...]


@dataclass(frozen=True, slots=True)
class Factor:
    """One term of the score: weight is its maximum, contribution what this build scores on it."""

    id: str
    title: str
    weight: int
    contribution: int
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Assessment:
    schema: str
    file: FileInfo
    platform: str  # android | ios
    app_id: str
    version: str | None
    android: AndroidBuild | None
    ios: IosBuild | None
    publisher: PublisherRisk
    work_need: WorkNeed
    factors: tuple[Factor, ...]
    score: int
    rating: Rating
    action: Action
    summary: str
    assessed_at: str | None  # only when given: the JSON must not change with the clock
