"""Risk assessment of app builds (APK, split-APK bundles, IPA): what the build asks for and carries, who
publishes it and under which laws, a transparent factor score (docs/risk-model.md), a rating, a recommended
action and a written summary. Pure: bytes and the catalogue in, values out.
"""

from appban.risk.archive import ArchiveLimits, SafeArchive
from appban.risk.assessment import assess
from appban.risk.changes import AssessmentDiff, diff
from appban.risk.permissions import PermissionGroup, SpecialAccessKind
from appban.risk.publisher import LawBook, default_law_book
from appban.risk.render import to_html, to_json, to_markdown
from appban.risk.result import (
    Action,
    AndroidBuild,
    Assessment,
    AtsPolicy,
    Claim,
    Component,
    Factor,
    FileInfo,
    IosBuild,
    Law,
    OwnershipStep,
    Permission,
    PublisherRisk,
    Rating,
    SpecialAccess,
    UsageDescription,
    WorkNeed,
)
from appban.risk.signing import Certificate
from appban.risk.trackers import TrackerEvidence, TrackerSignatures, default_signatures

__all__ = [
    "Action",
    "AndroidBuild",
    "ArchiveLimits",
    "Assessment",
    "AssessmentDiff",
    "AtsPolicy",
    "Certificate",
    "Claim",
    "Component",
    "Factor",
    "FileInfo",
    "IosBuild",
    "Law",
    "LawBook",
    "OwnershipStep",
    "Permission",
    "PermissionGroup",
    "PublisherRisk",
    "Rating",
    "SafeArchive",
    "SpecialAccess",
    "SpecialAccessKind",
    "TrackerEvidence",
    "TrackerSignatures",
    "UsageDescription",
    "WorkNeed",
    "assess",
    "default_law_book",
    "default_signatures",
    "diff",
    "to_html",
    "to_json",
    "to_markdown",
]
