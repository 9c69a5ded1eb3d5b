"""Risk assessments in the store: each stored assessment is one app build's report (appban.risk) as its canonical
JSON, which is the truth, with copies of its headline values (app, version, build digest, rating, score, action)
for listing. Assessments are never changed or removed: a restriction that cites one as evidence can always show it.

Storing is audited (`assessment:create`). Storing the same build again for the same organisation with the same
result (same file contents, work need and catalogue; the file's name aside) is a no-op that returns the stored one, as
applying an unchanged policy file is; a different result (the analyst recorded another work need, the catalogue
changed) is a new assessment. `previous` finds the assessment a new build is compared with (`appban.risk.diff`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import secrets
import types
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import NotFound, StorageUnavailable
from appban.risk import Assessment, to_json
from appban.store.audit_log import AuditLog
from appban.store.bulk import among
from appban.store.tables import AssessmentRow, OrganisationRow

__all__ = ["ASSESSMENT_ID", "AssessmentRecord", "AssessmentRepository", "read_report"]

ASSESSMENT_ID = re.compile(r"asm_[0-9a-f]{16}")
"""The shape of an assessment id: `asm_` and 64 random bits in hex (tokens are `tok_...` alike)."""


@dataclass(frozen=True, slots=True)
class AssessmentRecord:
    """A stored assessment's headline: what a list shows. The full report is `AssessmentRepository.report`."""

    id: str
    organisation: str
    family: str | None
    platform: str
    app_id: str
    version_name: str | None
    version_code: str | None
    build_sha256: str
    file_name: str
    rating: str
    score: int
    action: str
    work_need: str | None
    created_at: dt.datetime
    created_by: str


class AssessmentRepository:
    """Assessments in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def save(self, assessment: Assessment, *, organisation: str, actor: str, now: dt.datetime,
             ) -> tuple[AssessmentRecord, bool]:
        """Store an assessment for `organisation` (audited); returns it and whether it is new.

        The same build with the same result already stored for the organisation (the file's name aside) is
        returned as it is (False): nothing is written. Raises NotFound for an unknown organisation.
        """
        if self._session.get(OrganisationRow, organisation) is None:
            raise NotFound(f"no organisation `{organisation}`")
        report = to_json(assessment)
        same_build = self._session.scalars(
            select(AssessmentRow).where(AssessmentRow.organisation_id == organisation,
                                        AssessmentRow.build_sha256 == assessment.file.sha256)
            .order_by(AssessmentRow.created_at, AssessmentRow.id))
        for row in same_build:
            if row.report == report or dataclasses.replace(read_report(row.report, row.id),
                                                           file=assessment.file) == assessment:
                return _record(row), False  # the same result, whatever the file was called this time
        version_name, version_code = _versions(assessment)
        row = AssessmentRow(
            id="asm_" + secrets.token_hex(8), organisation_id=organisation, family=assessment.publisher.family,
            platform=assessment.platform, app_identifier=assessment.app_id, version_name=version_name,
            version_code=version_code, build_sha256=assessment.file.sha256, file_name=assessment.file.name,
            rating=assessment.rating.value, score=assessment.score, action=assessment.action.value,
            work_need=_need(assessment), report=report, created_at=now, created_by=actor)
        self._session.add(row)
        self._session.flush()
        record = _record(row)
        AuditLog(self._session).append(AuditEvent.ASSESSMENT_CREATE, record.id, actor=actor, at=now,
                                       details=_details(record))
        return record, True

    def get(self, assessment_id: str) -> AssessmentRecord | None:
        row = self._session.get(AssessmentRow, assessment_id)
        return None if row is None else _record(row)

    def report_text(self, assessment_id: str) -> str | None:
        """The stored report, exactly as `appban assess --format json` writes it."""
        return self._session.scalar(select(AssessmentRow.report).where(AssessmentRow.id == assessment_id))

    def report(self, assessment_id: str) -> Assessment | None:
        """The stored report as the value `appban.risk.assess` returned."""
        text = self.report_text(assessment_id)
        return None if text is None else read_report(text, assessment_id)

    def page(self, *, organisations: Collection[str] | None = None, family: str | None = None,
             platform: str | None = None, app_id: str | None = None, offset: int = 0, limit: int | None = 50,
             ) -> tuple[list[AssessmentRecord], int]:
        """One page of the assessments that match, newest first, and how many match in all.

        `organisations` None means all; `family`, `platform` and `app_id` filter when given.
        """
        conditions: list[ColumnElement[bool]] = []
        if organisations is not None:
            conditions.append(among(AssessmentRow.organisation_id, sorted(organisations)))
        for column, value in ((AssessmentRow.family, family), (AssessmentRow.platform, platform),
                              (AssessmentRow.app_identifier, app_id)):
            if value is not None:
                conditions.append(column == value)
        total = self._session.scalar(select(func.count()).select_from(AssessmentRow).where(*conditions)) or 0
        query = (select(*_HEADLINE).where(*conditions)
                 .order_by(AssessmentRow.created_at.desc(), AssessmentRow.id.desc()).offset(offset).limit(limit))
        return [_record(row) for row in self._session.execute(query)], total

    def previous(self, record: AssessmentRecord, organisations: Collection[str] | None = None,
                 ) -> AssessmentRecord | None:
        """The latest assessment of the same app (platform and identifier) stored before `record` (ties in
        time broken by id), among those of `organisations` when given: what `record` is compared with."""
        earlier = or_(AssessmentRow.created_at < record.created_at,
                      and_(AssessmentRow.created_at == record.created_at, AssessmentRow.id < record.id))
        return self._latest(record.platform, record.app_id, organisations, earlier)

    def latest(self, platform: str, app_id: str, organisations: Collection[str] | None = None,
               ) -> AssessmentRecord | None:
        """The newest assessment of an app, among those of `organisations` when given."""
        return self._latest(platform, app_id, organisations)

    def ids_of(self, organisations: Collection[str]) -> frozenset[str]:
        """The ids of the assessments these organisations stored (what their audit entries are about)."""
        return frozenset(self._session.scalars(
            select(AssessmentRow.id).where(among(AssessmentRow.organisation_id, sorted(organisations)))))

    def visible_to(self, assessment_id: str, organisation: str) -> bool:
        """Whether the assessment belongs to `organisation` or an organisation below it."""
        record = self.get(assessment_id)
        if record is None:
            return False
        current: str | None = record.organisation
        seen: set[str] = set()
        while current is not None and current not in seen:
            if current == organisation:
                return True
            seen.add(current)
            current = self._session.scalar(select(OrganisationRow.parent_id).where(OrganisationRow.id == current))
        return False

    def _latest(self, platform: str, app_id: str, organisations: Collection[str] | None,
                *more: ColumnElement[bool]) -> AssessmentRecord | None:
        conditions = [AssessmentRow.platform == platform, AssessmentRow.app_identifier == app_id, *more]
        if organisations is not None:
            conditions.append(among(AssessmentRow.organisation_id, sorted(organisations)))
        row = self._session.execute(select(*_HEADLINE).where(*conditions)
                                    .order_by(AssessmentRow.created_at.desc(), AssessmentRow.id.desc())
                                    .limit(1)).first()
        return None if row is None else _record(row)


_HEADLINE = (AssessmentRow.id, AssessmentRow.organisation_id, AssessmentRow.family, AssessmentRow.platform,
             AssessmentRow.app_identifier, AssessmentRow.version_name, AssessmentRow.version_code,
             AssessmentRow.build_sha256, AssessmentRow.file_name, AssessmentRow.rating, AssessmentRow.score,
             AssessmentRow.action, AssessmentRow.work_need, AssessmentRow.created_at, AssessmentRow.created_by)


def _record(row: Any) -> AssessmentRecord:
    return AssessmentRecord(id=row.id, organisation=row.organisation_id, family=row.family, platform=row.platform,
                            app_id=row.app_identifier, version_name=row.version_name, version_code=row.version_code,
                            build_sha256=row.build_sha256, file_name=row.file_name, rating=row.rating,
                            score=row.score, action=row.action, work_need=row.work_need, created_at=row.created_at,
                            created_by=row.created_by)


def _versions(assessment: Assessment) -> tuple[str | None, str | None]:
    if assessment.android is not None:
        return assessment.android.version_name, assessment.android.version_code
    if assessment.ios is not None:
        return assessment.ios.version, assessment.ios.build
    return assessment.version, None


def _need(assessment: Assessment) -> str | None:
    need = assessment.work_need
    if need.needed is None:
        return None
    if not need.needed:
        return "none"
    return "; ".join(part for part in (need.who, need.reason) if part) or "yes"


def _details(record: AssessmentRecord) -> dict[str, object]:
    return {"organisation": record.organisation, "platform": record.platform, "app": record.app_id,
            "family": record.family, "version": record.version_name, "sha256": record.build_sha256,
            "rating": record.rating, "score": record.score, "action": record.action}


# --- the stored JSON read back into values ----------------------------------------------------------------


def read_report(text: str, name: str = "assessment") -> Assessment:
    """The `Assessment` whose `appban.risk.to_json` is `text`: every field is read back by its declared type
    (dataclasses, tuples, enums, optional values), so `to_json(read_report(t)) == t`. A report stored before a
    field with a default was added reads with that default.

    Raises StorageUnavailable when the text is not a report this appban can read (damaged, or written by an
    appban with another report schema).
    """
    try:
        value = _load(Assessment, json.loads(text))
    except (ValueError, TypeError, KeyError) as error:
        raise StorageUnavailable(f"{name}: the stored report cannot be read by this appban ({error})") from None
    assert isinstance(value, Assessment)
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _load(kind: Any, value: Any) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        options = [arg for arg in get_args(kind) if arg is not type(None)]
        if len(options) != 1:
            raise TypeError(f"cannot read a value of {kind}")
        return _load(options[0], value)
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, not {type(value).__name__}")
        args = get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], item) for item in value)
        return tuple(_load(arg, item) for arg, item in zip(args, value, strict=True))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {kind.__name__}, not {type(value).__name__}")
        hints = _hints(kind)
        fields = dataclasses.fields(kind)
        unknown = set(value) - {f.name for f in fields}
        missing = [f.name for f in fields if f.name not in value and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if unknown or missing:  # a field added since, with a default, is left to its default
            raise KeyError(f"{kind.__name__}: unknown fields {sorted(unknown)}, missing fields {missing}")
        return kind(**{f.name: _load(hints[f.name], value[f.name]) for f in fields if f.name in value})
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    if kind in (str, int, bool, float):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"expected {kind.__name__}, not {type(value).__name__}")
        return value
    raise TypeError(f"cannot read a value of {kind}")
