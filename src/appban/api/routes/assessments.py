"""`/api/v1/assessments`: risk assessments of app builds, made from an uploaded APK or IPA and stored.

`POST` takes the build itself as the body (`application/vnd.android.package-archive` or
`application/octet-stream`), spooled to a temporary file up to the upload limit (413 past it), assessed by
`appban.risk` and stored for the caller's organisation (or one below it, `organisation=`), with what changed
since the previous assessment of the same app. A file that cannot be assessed (not an APK or IPA, a zip bomb,
a path out of the archive) is a 422 naming the problem, and nothing is stored. Analysts and admins create
assessments; every role that reads sees those of its subtree, and nothing else (404 as for an unknown id).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import IO, Annotated, Any, BinaryIO, cast

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from appban.access import Permission
from appban.api.auth import Caller, Reader, authenticate
from appban.api.errors import ApiError, responses
from appban.api.fields import ID_PATTERN, LINE_PATTERN, NOTE_LENGTH, TEXT_PATTERN
from appban.api.limits import spooled
from appban.api.pagination import Page, PageParams, query_of
from appban.api.scope import scoped
from appban.errors import InvalidInput
from appban.model import Platform
from appban.risk import AssessmentDiff, WorkNeed, assess
from appban.service import Comparison, compare_with_previous, store_assessment
from appban.store import AssessmentRecord, AssessmentRepository
from appban.store.tables import APP_ID_LENGTH, ID_LENGTH

__all__ = ["AssessmentDetail", "AssessmentOut", "ChangesOut", "router"]

router = APIRouter(prefix="/assessments", tags=["assessments"])

MEDIA_TYPES = ("application/vnd.android.package-archive", "application/octet-stream")
_BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": dict.fromkeys(MEDIA_TYPES, _BINARY),
                                               "description": "The APK, split-APK bundle (XAPK/APKS) or IPA."}}
AssessmentPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH, description="An assessment's id.")]


def _assessor(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
    """Analysts (`assess`) and admins (`manage`) create assessments; 403 for every other role."""
    if not (caller.may(Permission.ASSESS) or caller.may(Permission.MANAGE)):
        raise ApiError(403, f"a `{caller.token.role}` token may not do this (it needs `{Permission.ASSESS}`)",
                       hint="use an analyst's or an admin's token")
    return caller


Assessor = Annotated[Caller, Depends(_assessor)]


class AssessmentOut(BaseModel):
    """A stored assessment's headline; `report` of the detail is the full report (`appban assess` JSON)."""

    id: str
    organisation: str
    family: str | None  # the catalogued app family, null for an app in none
    platform: str
    app_id: str
    version_name: str | None
    version_code: str | None
    build_sha256: str  # SHA-256 of the file: the same build assessed again is recognised by it
    file_name: str
    rating: str
    score: int
    action: str
    work_need: str | None
    created_at: dt.datetime
    created_by: str


class ChangesOut(BaseModel):
    """What changed since the previous assessment of the same app (`appban.risk.diff`)."""

    previous: str  # the previous assessment's id
    changed: bool
    previous_version: str | None
    current_version: str | None
    added_permissions: list[str]
    removed_permissions: list[str]
    added_trackers: list[str]
    removed_trackers: list[str]
    added_special_access: list[str]
    removed_special_access: list[str]
    signer_changed: bool
    previous_signers: list[str]
    current_signers: list[str]
    previous_rating: str
    current_rating: str
    score_change: int


class AssessmentDetail(AssessmentOut):
    report: dict[str, Any]
    changes: ChangesOut | None  # null for the first assessment of its app the caller sees


class AssessmentCreated(AssessmentDetail):
    created: bool  # false: this build had been assessed with the same result, which is returned (200)


def _out(record: AssessmentRecord) -> AssessmentOut:
    return AssessmentOut(id=record.id, organisation=record.organisation, family=record.family,
                         platform=record.platform, app_id=record.app_id, version_name=record.version_name,
                         version_code=record.version_code, build_sha256=record.build_sha256,
                         file_name=record.file_name, rating=record.rating, score=record.score, action=record.action,
                         work_need=record.work_need, created_at=record.created_at, created_by=record.created_by)


def _changes(previous: AssessmentRecord | None, changes: AssessmentDiff | None) -> ChangesOut | None:
    if previous is None or changes is None:
        return None
    return ChangesOut(
        previous=previous.id, changed=changes.changed, previous_version=changes.previous_version,
        current_version=changes.current_version, added_permissions=list(changes.added_permissions),
        removed_permissions=list(changes.removed_permissions), added_trackers=list(changes.added_trackers),
        removed_trackers=list(changes.removed_trackers), added_special_access=list(changes.added_special_access),
        removed_special_access=list(changes.removed_special_access), signer_changed=changes.signer_changed,
        previous_signers=list(changes.previous_signers), current_signers=list(changes.current_signers),
        previous_rating=changes.previous_rating, current_rating=changes.current_rating,
        score_change=changes.score_change)


def _detail(comparison: Comparison, report: str) -> dict[str, Any]:
    return {**_out(comparison.record).model_dump(), "report": json.loads(report),
            "changes": _changes(comparison.previous, comparison.changes)}


@router.post("", response_model=AssessmentCreated, status_code=201, openapi_extra=UPLOAD_BODY,
             responses={200: {"description": "This build had been assessed with the same result: the stored "
                                             "assessment.", "model": AssessmentCreated}, **responses(415)},
             summary="Assess an app build (APK or IPA) and store the assessment")
async def create_assessment(
    request: Request,
    response: Response,
    caller: Assessor,
    name: Annotated[str, Query(max_length=200, pattern=LINE_PATTERN, description=(
        "The file's name, in errors and in the report."))] = "",
    need: Annotated[str | None, Query(max_length=NOTE_LENGTH, pattern=TEXT_PATTERN, description=(
        "Who needs the app for work (the analyst's answer); omit if nobody does."))] = None,
    organisation: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH, description=(
        "The organisation the assessment is stored for (default: the caller's)."))] = None,
) -> AssessmentCreated:
    kind = request.headers.get("content-type", MEDIA_TYPES[1]).split(";")[0].strip().lower()
    if kind and kind not in MEDIA_TYPES:
        raise ApiError(415, f"an app build comes as {' or '.join(MEDIA_TYPES)}, not {kind!r}",
                       hint="send the APK or IPA file itself as the body")
    spool = await spooled(request.stream(), caller.backend.limits.upload)
    try:
        work_need = WorkNeed(True, need.strip()) if need and need.strip() else WorkNeed()
        created, body = await run_in_threadpool(_assess, caller, spool,
                                                name.strip() or "upload", work_need, organisation)
    finally:
        spool.close()
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/assessments/{body['id']}"
    return AssessmentCreated(**body, created=created)


def _assess(caller: Caller, stream: IO[bytes], name: str, need: WorkNeed, organisation: str | None,
            ) -> tuple[bool, dict[str, Any]]:
    with scoped(caller) as work:
        owner = organisation or work.home
        if not work.sees(owner):
            raise InvalidInput.at("query.organisation", f"unknown organisation `{owner}`",
                                  hint="assess for your organisation or one below it")
        catalog = work.context.catalog
    # Assessed outside any transaction: it takes seconds for a large build, and SQLite would hold its write lock.
    assessment = assess(cast(BinaryIO, stream), name, catalog, work_need=need)
    with scoped(caller) as work:
        if not work.sees(owner):  # removed meanwhile
            raise InvalidInput.at("query.organisation", f"unknown organisation `{owner}`")
        stored = store_assessment(work.session, assessment, organisation=owner, actor=caller.actor, now=work.now,
                                  visible=work.organisations)
        report = AssessmentRepository(work.session).report_text(stored.record.id)
        assert report is not None
        comparison = Comparison(record=stored.record, previous=stored.previous, changes=stored.changes)
        return stored.created, _detail(comparison, report)


@router.get("", response_model=Page[AssessmentOut], responses=responses(404),
            summary="Assessments of the caller's subtree, newest first")
def list_assessments(
    caller: Reader,
    page: PageParams,
    organisation: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH, description=(
        "Assessments of this organisation and those below it."))] = None,
    family: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH, description=(
        "Assessments of apps of this catalogued family (tiktok, ...)."))] = None,
    platform: Platform | None = None,
    app: Annotated[str | None, Query(pattern=LINE_PATTERN, min_length=1, max_length=APP_ID_LENGTH, description=(
        "Assessments of this package name or bundle id."))] = None,
) -> Page[AssessmentOut]:
    query = query_of("assessments", organisation=organisation, family=family, platform=platform, app=app)
    start = page.position(query)
    with scoped(caller) as work:
        records, total = AssessmentRepository(work.session).page(
            organisations=work.filter_below(organisation), family=family,
            platform=platform.value if platform else None, app_id=app, offset=start, limit=page.limit)
    end = start + len(records)
    return Page[AssessmentOut](items=[_out(r) for r in records],
                               next=page.next_cursor(query, end) if end < total else None, total=total)


@router.get("/{assessment_id}", response_model=AssessmentDetail, responses=responses(404),
            summary="One assessment: its full report, and what changed since the previous one of its app")
def get_assessment(assessment_id: AssessmentPath, caller: Reader) -> AssessmentDetail:
    with scoped(caller) as work:
        comparison = compare_with_previous(work.session, assessment_id, work.organisations)
        report = AssessmentRepository(work.session).report_text(assessment_id)
        assert report is not None
        return AssessmentDetail(**_detail(comparison, report))
