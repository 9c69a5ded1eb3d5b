"""Assess an app build and store the result, in the caller's transaction; compare it with the one before.

The report is made by the pure `appban.risk.assess` and stored by `AssessmentRepository` as its canonical JSON
(no time inside: the same build and work need give the same text, and storing it again is a no-op). "What
changed" is `appban.risk.diff` between the stored report of the previous assessment of the same app (platform
and identifier) and this one, among the organisations the caller sees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from appban.catalog import Catalog
from appban.errors import NotFound
from appban.risk import ArchiveLimits, Assessment, AssessmentDiff, WorkNeed, assess, diff
from appban.store import AssessmentRecord, AssessmentRepository

__all__ = ["Comparison", "StoredAssessment", "assess_and_store", "compare_with_previous", "store_assessment"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """An assessment and the one it follows: `previous` None for the first of its app."""

    record: AssessmentRecord
    previous: AssessmentRecord | None
    changes: AssessmentDiff | None


@dataclass(frozen=True, slots=True)
class StoredAssessment:
    """What `assess_and_store` did: the stored assessment (`created` False when this build had already been
    assessed with the same result, which is then returned), its report, and what changed since the last one."""

    record: AssessmentRecord
    assessment: Assessment
    created: bool
    previous: AssessmentRecord | None
    changes: AssessmentDiff | None


def assess_and_store(session: Session, stream: BinaryIO, name: str, *, organisation: str, catalog: Catalog,
                     actor: str, now: dt.datetime, work_need: WorkNeed | None = None,
                     visible: Collection[str] | None = None, limits: ArchiveLimits | None = None,
                     ) -> StoredAssessment:
    """Assess the APK, split-APK bundle or IPA in `stream` (seekable) and store it for `organisation`.

    `visible` bounds which earlier assessments it is compared with (the caller's organisations; None: all).
    Raises InvalidInput naming `name` for a file that cannot be assessed (nothing stored), NotFound for an
    unknown organisation.
    """
    assessment = assess(stream, name, catalog, work_need=work_need, limits=limits)
    return store_assessment(session, assessment, organisation=organisation, actor=actor, now=now, visible=visible)


def store_assessment(session: Session, assessment: Assessment, *, organisation: str, actor: str, now: dt.datetime,
                     visible: Collection[str] | None = None) -> StoredAssessment:
    """Store an assessment already made (`appban.risk.assess`) for `organisation`; see `assess_and_store`.

    A shell whose transaction holds a write lock (SQLite takes it when a transaction begins) assesses first,
    outside any transaction, and stores with this: assessing a large build takes seconds.
    """
    repository = AssessmentRepository(session)
    record, created = repository.save(assessment, organisation=organisation, actor=actor, now=now)
    comparison = _compare(repository, record, assessment, visible)
    return StoredAssessment(record=record, assessment=assessment, created=created, previous=comparison.previous,
                            changes=comparison.changes)


def compare_with_previous(session: Session, assessment_id: str, visible: Collection[str] | None = None,
                          ) -> Comparison:
    """A stored assessment and what changed since the previous one of its app among `visible` organisations.

    Raises NotFound for an unknown id, or one whose organisation is not among `visible`.
    """
    repository = AssessmentRepository(session)
    record = repository.get(assessment_id)
    if record is None or (visible is not None and record.organisation not in visible):
        raise NotFound(f"no assessment `{assessment_id}`")
    current = repository.report(assessment_id)
    assert current is not None
    return _compare(repository, record, current, visible)


def _compare(repository: AssessmentRepository, record: AssessmentRecord, current: Assessment,
             visible: Collection[str] | None) -> Comparison:
    previous = repository.previous(record, visible)
    if previous is None:
        return Comparison(record=record, previous=None, changes=None)
    before = repository.report(previous.id)
    assert before is not None
    return Comparison(record=record, previous=previous, changes=diff(before, current))
