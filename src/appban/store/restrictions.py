"""Restrictions in the store: each applied file content is a version, the latest is the one in force.

Applying the same content again changes nothing (no version, no audit entry), so `appban policy apply` can
run on every commit of a policy repository. A changed file becomes the next version only if the lifecycle
allows the change (`appban.policy.lifecycle.check_transition`). The stored file text is the truth: the
`Restriction` value is rebuilt from it by the same parser that read the file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import Conflict, InvalidInput, Location, Problem
from appban.model import Lifecycle, Restriction
from appban.policy.lifecycle import check_transition
from appban.policy.restriction import ParsedRestriction, parse_restriction
from appban.store.assessments import AssessmentRepository
from appban.store.audit_log import AuditLog
from appban.store.tables import OrganisationRow, RestrictionRow, RestrictionVersionRow
from appban.yamldoc import Node, load_document

__all__ = ["AppliedVersion", "ApplyOutcome", "RestrictionRepository", "StoredRestriction"]


class ApplyOutcome(StrEnum):
    CREATED = "created"
    NEW_VERSION = "new_version"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class AppliedVersion:
    """What applying one restriction file did: the version now in force and how it came to be."""

    id: str
    version: int
    outcome: ApplyOutcome


@dataclass(frozen=True, slots=True)
class StoredRestriction:
    """One stored version of a restriction, rebuilt from its file text, with who applied it and when."""

    restriction: Restriction
    version: int
    content_hash: str
    source_path: str
    applied_at: dt.datetime
    applied_by: str
    text: str


class RestrictionRepository:
    """Restrictions in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def apply(self, parsed: ParsedRestriction, *, actor: str, now: dt.datetime,
              source_path: str) -> AppliedVersion:
        """Store a restriction file: a new restriction, its next version, or nothing if its content is known.

        Raises InvalidInput (nothing written) if the issuer is not a stored organisation, an evidence entry of
        kind `assessment` does not name a stored assessment the issuer sees (`check_evidence`), or the
        lifecycle refuses the change (a revoked restriction revived, an active one sent back to draft, a new
        issuer), and Conflict if another writer stored a version of the same restriction at the same time.
        """
        restriction = parsed.restriction
        row = self._session.get(RestrictionRow, restriction.id, with_for_update=True)
        if row is None:
            if self._session.get(OrganisationRow, restriction.issuer) is None:
                raise InvalidInput([Problem(parsed.place("issuer"), f"unknown organisation `{restriction.issuer}`",
                                            "apply the organisations file first")])
            self.check_evidence(parsed)
            row = RestrictionRow(id=restriction.id, issuer_id=restriction.issuer, current_version=1,
                                 created_at=now)
            self._session.add(row)
            self._add_version(parsed, 1, actor=actor, now=now, source_path=source_path)
            AuditLog(self._session).append(AuditEvent.RESTRICTION_CREATE, restriction.id, actor=actor, at=now,
                                           details=_details(parsed, 1, source_path, previous_hash=None))
            return AppliedVersion(restriction.id, 1, ApplyOutcome.CREATED)

        latest = self._version_row(row.id, row.current_version)
        if latest.content_hash == parsed.content_hash:
            return AppliedVersion(restriction.id, latest.version, ApplyOutcome.UNCHANGED)
        previous = _stored(latest).restriction
        problem = check_transition(previous, parsed)
        if problem is not None:
            raise InvalidInput([problem])
        self.check_evidence(parsed)
        version = latest.version + 1
        row.current_version = version
        self._add_version(parsed, version, actor=actor, now=now, source_path=source_path)
        revoking = restriction.status is Lifecycle.REVOKED and previous.status is not Lifecycle.REVOKED
        event = AuditEvent.RESTRICTION_REVOKE if revoking else AuditEvent.RESTRICTION_UPDATE
        AuditLog(self._session).append(event, restriction.id, actor=actor, at=now,
                                       details=_details(parsed, version, source_path,
                                                        previous_hash=latest.content_hash))
        return AppliedVersion(restriction.id, version, ApplyOutcome.NEW_VERSION)

    def check_evidence(self, parsed: ParsedRestriction) -> None:
        """Every evidence entry of kind `assessment` must name a stored assessment of the issuer's subtree, by
        its id (`asm_...`) in its `title` or its `url`; raises InvalidInput with one problem per
        entry that does not, at the entry's line. An unchanged file is never checked again (assessments are
        never removed, so what was valid stays valid)."""
        issuer = parsed.restriction.issuer
        assessments = AssessmentRepository(self._session)
        problems: list[Problem] = []
        for where, cited in assessment_citations(parsed):
            if cited is None:
                problems.append(Problem(where, "evidence of kind `assessment` names no assessment",
                                        "put the assessment's id (`asm_...`: `appban assessment list` lists "
                                        "them) in its `title`"))
            elif not assessments.visible_to(cited, issuer):
                problems.append(Problem(where, f"evidence: no assessment `{cited}` of `{issuer}` or an "
                                        "organisation below it",
                                        "cite one stored for the issuer or below it: `appban assessment list "
                                        "--org ORG` lists them"))
        if problems:
            raise InvalidInput(problems)

    def latest(self, restriction_id: str) -> StoredRestriction | None:
        """The version in force, or None for an unknown id."""
        row = self._session.get(RestrictionRow, restriction_id)
        return None if row is None else _stored(self._version_row(row.id, row.current_version))

    def current_version(self, restriction_id: str, *, lock: bool = False) -> int | None:
        """The version in force (None for an unknown id). With `lock`, the restriction stays locked until the
        transaction ends, so a check of that version (an HTTP If-Match) and the `apply` after it are one step."""
        query = select(RestrictionRow.current_version).where(RestrictionRow.id == restriction_id)
        return self._session.scalar(query.with_for_update() if lock else query)

    def all_latest(self) -> list[StoredRestriction]:
        """The version in force of every restriction, by id."""
        query = (select(RestrictionVersionRow)
                 .join(RestrictionRow, (RestrictionRow.id == RestrictionVersionRow.restriction_id)
                       & (RestrictionRow.current_version == RestrictionVersionRow.version))
                 .order_by(RestrictionVersionRow.restriction_id))
        return [_stored(row) for row in self._session.scalars(query)]

    def history(self, restriction_id: str) -> list[StoredRestriction]:
        """Every version of a restriction, oldest first (empty for an unknown id)."""
        query = (select(RestrictionVersionRow)
                 .where(RestrictionVersionRow.restriction_id == restriction_id)
                 .order_by(RestrictionVersionRow.version))
        return [_stored(row) for row in self._session.scalars(query)]

    def _version_row(self, restriction_id: str, version: int) -> RestrictionVersionRow:
        row = self._session.get(RestrictionVersionRow, (restriction_id, version))
        if row is None:  # the schema cannot prevent it (no FK from current_version), so say what broke
            raise Conflict(f"restriction `{restriction_id}` says version {version} is in force, "
                           "but that version is not stored")
        return row

    def _add_version(self, parsed: ParsedRestriction, version: int, *, actor: str, now: dt.datetime,
                     source_path: str) -> None:
        restriction = parsed.restriction
        self._session.add(RestrictionVersionRow(
            restriction_id=restriction.id, version=version, content_hash=parsed.content_hash,
            source_path=source_path, source_text=parsed.text, title=restriction.title,
            status=restriction.status.value, strictness=restriction.strictness.value,
            effective=restriction.effective, expires=restriction.expires, review=restriction.review,
            children=restriction.children.value, shadow=restriction.shadow, applied_at=now, applied_by=actor,
        ))
        try:
            self._session.flush()
        except IntegrityError as error:
            raise Conflict(f"restriction `{restriction.id}` was changed by someone else at the same time "
                           "(apply it again)") from error


def _details(parsed: ParsedRestriction, version: int, source_path: str,
             previous_hash: str | None) -> dict[str, object]:
    details: dict[str, object] = {
        "version": version,
        "content_hash": parsed.content_hash,
        "source": source_path,
        "status": parsed.restriction.status.value,
    }
    if previous_hash is not None:
        details["previous_hash"] = previous_hash
    return details


_CITED = re.compile(r"\basm_\w+")


def assessment_citations(parsed: ParsedRestriction) -> list[tuple[Location, str | None]]:
    """(where, assessment id or None) of each evidence entry of kind `assessment`, in file order."""
    if not any(e.kind == "assessment" for e in parsed.restriction.evidence):
        return []
    document = load_document(parsed.text, parsed.source).value
    entries: Any = document.get("evidence") if isinstance(document, CommentedMap) else None
    if not isinstance(entries, CommentedSeq):
        return []
    out: list[tuple[Location, str | None]] = []
    for item in Node(entries, parsed.place("evidence")).items():
        if not (isinstance(item.value, CommentedMap) and item.value.get("kind") == "assessment"):
            continue
        found = [m.group(0) for field in ("title", "url") if isinstance(item.value.get(field), str)
                 for m in [_CITED.search(item.value[field])] if m is not None]
        out.append((item.where, found[0] if found else None))
    return out


def _stored(row: RestrictionVersionRow) -> StoredRestriction:
    return StoredRestriction(
        restriction=_parse(row.source_text, row.source_path).restriction, version=row.version,
        content_hash=row.content_hash, source_path=row.source_path, applied_at=row.applied_at,
        applied_by=row.applied_by, text=row.source_text,
    )


@lru_cache(maxsize=1024)
def _parse(text: str, source: str) -> ParsedRestriction:
    """Parsing YAML is the slow part of reading restrictions; a stored version's text never changes."""
    return parse_restriction(text, source=source)
