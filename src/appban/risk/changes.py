"""What changed between two assessments of the same app: permissions, trackers, special access, signer."""

from __future__ import annotations

from dataclasses import dataclass

from appban.errors import InvalidInput
from appban.risk.result import Assessment

__all__ = ["AssessmentDiff", "diff"]


@dataclass(frozen=True, slots=True)
class AssessmentDiff:
    app_id: str
    previous_version: str | None
    current_version: str | None
    added_permissions: tuple[str, ...]  # Android permissions, or iOS usage-description keys
    removed_permissions: tuple[str, ...]
    added_trackers: tuple[str, ...]
    removed_trackers: tuple[str, ...]
    added_special_access: tuple[str, ...]
    removed_special_access: tuple[str, ...]
    signer_changed: bool  # a different certificate (Android) or team (iOS): a new publisher, or a repackaging
    previous_signers: tuple[str, ...]
    current_signers: tuple[str, ...]
    previous_rating: str
    current_rating: str
    score_change: int

    @property
    def changed(self) -> bool:
        return bool(self.added_permissions or self.removed_permissions or self.added_trackers
                    or self.removed_trackers or self.added_special_access or self.removed_special_access
                    or self.signer_changed or self.previous_rating != self.current_rating)


def diff(previous: Assessment, current: Assessment) -> AssessmentDiff:
    if (previous.platform, previous.app_id) != (current.platform, current.app_id):
        raise InvalidInput.at(current.file.name, f"is {current.platform} app {current.app_id}, not "
                              f"{previous.platform} app {previous.app_id}", hint="compare builds of the same app")
    before, after = _facts(previous), _facts(current)
    return AssessmentDiff(
        app_id=current.app_id, previous_version=previous.version, current_version=current.version,
        added_permissions=_minus(after[0], before[0]), removed_permissions=_minus(before[0], after[0]),
        added_trackers=_minus(after[1], before[1]), removed_trackers=_minus(before[1], after[1]),
        added_special_access=_minus(after[2], before[2]), removed_special_access=_minus(before[2], after[2]),
        signer_changed=before[3] != after[3], previous_signers=tuple(sorted(before[3])),
        current_signers=tuple(sorted(after[3])), previous_rating=previous.rating.value,
        current_rating=current.rating.value, score_change=current.score - previous.score)


def _facts(a: Assessment) -> tuple[set[str], set[str], set[str], frozenset[str]]:
    if a.android is not None:
        b = a.android
        return ({p.name for p in b.permissions}, {t.name for t in b.trackers}, {s.kind.value for s in b.special_access},
                frozenset(c.sha256 for c in b.certificates))
    if a.ios is not None:
        i = a.ios
        return ({u.key for u in i.usage_descriptions}, {t.name for t in i.sdks}, {k for k, _ in i.entitlements},
                frozenset({i.team_id} if i.team_id else ()))
    return set(), set(), set(), frozenset()


def _minus(a: set[str], b: set[str]) -> tuple[str, ...]:
    return tuple(sorted(a - b))
