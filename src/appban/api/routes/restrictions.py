"""`/api/v1/restrictions`: the restrictions the caller sees, their versions, and publishing them as files.

A restriction is created and changed by sending its policy file, exactly as `appban policy apply` reads it:
the YAML text as the `text` of a JSON object, or as the body itself (`Content-Type: application/yaml`).
The file is checked against the caller's subtree, so an issuer outside it is an unknown organisation. The
ETag of a restriction is its version in force; a PUT needs it in `If-Match` (428 without, 409 with what
changed when stale, nothing written). Revoking is a new version with `status: revoked`. The what-if impact
of a file (`POST /api/v1/restrictions/impact`) stores nothing.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from appban.api.auth import Caller, Manager, Reader
from appban.api.errors import ApiError, responses
from appban.api.etags import matches, restriction_etag
from appban.api.fields import ID_PATTERN, LINE_PATTERN
from appban.api.pagination import Page, PageParams, query_of, slice_page
from appban.api.scope import Work, scoped
from appban.errors import Conflict, InvalidInput, NotFound
from appban.model import Lifecycle, Restriction, Strictness
from appban.policy import MAX_DOCUMENT_BYTES, ParsedRestriction, PolicySet, lifecycle, parse_policy_text
from appban.service import evaluate_rules, impact
from appban.store import AdoptionRepository, ApplyOutcome, RestrictionRepository, StoredRestriction
from appban.store.tables import ID_LENGTH

__all__ = [
    "ImpactOut",
    "RestrictionDetail",
    "RestrictionFile",
    "RestrictionOut",
    "RestrictionVersionOut",
    "router",
]

router = APIRouter(prefix="/restrictions", tags=["restrictions"])

RestrictionPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH, description="A restriction's id.")]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
DEFAULT_SOURCE = "restriction.yaml"


class RestrictionFile(BaseModel):
    """A restriction's policy file, as JSON; `source` names it in error messages and in its version history."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_DOCUMENT_BYTES, description="The YAML file, as `appban policy apply` reads it.")
    source: str | None = Field(None, max_length=200, pattern=LINE_PATTERN,
                               description="A file name for messages and history (default `restriction.yaml`).")


FILE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": RestrictionFile.model_json_schema()},
    "application/yaml": {"schema": {"type": "string", "description": "The policy file itself."}},
}}}


class TargetOut(BaseModel):
    kind: str
    value: str
    platform: str | None
    controlled: bool
    control_test: str | None


class ScopeOut(BaseModel):
    organisations: list[str]
    devices: str


class RestrictionOut(BaseModel):
    id: str
    version: int
    issuer: str
    title: str
    state: Lifecycle  # today's: `expired` is derived from `expires`
    status: Lifecycle  # as written in the file
    strictness: Strictness
    targets: list[TargetOut]
    scope: ScopeOut
    grace_days: int
    cuts: list[str]
    effective: dt.date
    expires: dt.date | None
    review: dt.date | None
    children: str
    shadow: bool
    unknown_counts_as: str
    content_hash: str
    applied_at: dt.datetime
    applied_by: str
    managed: bool  # issued inside the caller's subtree: its admins may change it


class RestrictionVersionOut(BaseModel):
    version: int
    applied_at: dt.datetime
    applied_by: str
    status: Lifecycle
    title: str
    content_hash: str
    source: str


class RestrictionDetail(RestrictionOut):
    rationale: str
    evidence: list[dict[str, str | None]]
    text: str
    versions: list[RestrictionVersionOut]
    adopted_by: list[str]  # organisations of the caller's subtree that adopted it (recommended restrictions)


class AffectedOut(BaseModel):
    device: str
    organisation: str
    holder: str | None
    state: str
    reason: str
    apps: list[str]


class ImpactOut(BaseModel):
    restriction: str
    totals: dict[str, int]
    by_organisation: dict[str, dict[str, int]]
    devices: list[AffectedOut]
    devices_total: int


def summary(work: Work, stored: StoredRestriction) -> RestrictionOut:
    r = stored.restriction
    return RestrictionOut(
        id=r.id, version=stored.version, issuer=r.issuer, title=r.title, state=lifecycle(r, work.now.date()),
        status=r.status, strictness=r.strictness,
        targets=[TargetOut(kind=t.kind.value, value=t.value, platform=t.platform.value if t.platform else None,
                           controlled=t.controlled, control_test=t.control_test) for t in r.targets],
        scope=ScopeOut(organisations=sorted(r.scope.organisations), devices=r.scope.devices.describe()),
        grace_days=r.grace.days, cuts=sorted(r.cuts), effective=r.effective, expires=r.expires, review=r.review,
        children=r.children.value, shadow=r.shadow, unknown_counts_as=r.unknown_counts_as.value,
        content_hash=stored.content_hash, applied_at=stored.applied_at, applied_by=stored.applied_by,
        managed=work.manages(r))


def _version(stored: StoredRestriction) -> RestrictionVersionOut:
    return RestrictionVersionOut(version=stored.version, applied_at=stored.applied_at, applied_by=stored.applied_by,
                                 status=stored.restriction.status, title=stored.restriction.title,
                                 content_hash=stored.content_hash, source=stored.source_path)


def _detail(work: Work, history: list[StoredRestriction]) -> RestrictionDetail:
    latest = history[-1]
    r = latest.restriction
    adopters = sorted(org for org in AdoptionRepository(work.session).adopters(r.id) if work.sees(org))
    return RestrictionDetail(
        **summary(work, latest).model_dump(), rationale=r.rationale,
        evidence=[{"title": e.title, "url": e.url, "kind": e.kind} for e in r.evidence], text=latest.text,
        versions=[_version(item) for item in history], adopted_by=adopters)


def _visible_history(work: Work, restriction_id: str) -> list[StoredRestriction]:
    work.restriction(restriction_id)  # NotFound unless the caller sees it
    history = RestrictionRepository(work.session).history(restriction_id)
    if not history:
        raise NotFound(f"no restriction `{restriction_id}`")
    return history


async def read_policy_file(request: Request) -> tuple[str, str]:
    """The file text and its source name, from a JSON object or a YAML body; 415 for anything else."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    raw = await request.body()
    if kind in YAML_TYPES:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidInput.at("body", f"not UTF-8 text (byte {error.start})", hint="send the file as UTF-8") \
                from None
        return text, DEFAULT_SOURCE
    if kind != "application/json" and not kind.endswith("+json"):
        raise ApiError(415, f"a restriction file comes as application/json or application/yaml, not {kind!r}",
                       hint='send {"text": "<the YAML file>"} or the file with Content-Type: application/yaml')
    try:
        body = RestrictionFile.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]) \
            from None
    return body.text, body.source or DEFAULT_SOURCE


def parse_file(work: Work, text: str, source: str) -> ParsedRestriction:
    """Read a restriction file against the caller's subtree (an issuer outside it is unknown)."""
    parsed = parse_policy_text(text, source, PolicySet(work.subtree_tree(), work.context.catalog))
    if not isinstance(parsed, ParsedRestriction):
        raise InvalidInput.at(source, "this is an organisations file, not a restriction", line=1, column=1,
                              hint="create organisations with POST /api/v1/organisations")
    return parsed


def _stale(work: Work, restriction_id: str, sent: str | None, current: int) -> ApiError:
    history = RestrictionRepository(work.session).history(restriction_id)
    known = next((item for item in history if sent is not None and restriction_etag(item.version) in
                  [tag.strip() for tag in sent.split(",")]), None)
    changes = [_version(item).model_dump(mode="json") for item in history
               if known is None or item.version > known.version]
    diff = None
    if known is not None:
        diff = "".join(difflib.unified_diff(known.text.splitlines(keepends=True), history[-1].text.splitlines(
            keepends=True), fromfile=f"version {known.version}", tofile=f"version {current}"))
    since = f"since version {known.version}" if known else "since the version you read"
    return ApiError(409, f"restriction `{restriction_id}` changed {since}: version {current} is in force; "
                    "nothing was written", code="stale", hint="read it again, merge your change and retry",
                    current_etag=restriction_etag(current), changes=changes, diff=diff)


@router.get("", response_model=Page[RestrictionOut], summary="Restrictions the caller manages or is bound by")
def list_restrictions(
    caller: Reader,
    page: PageParams,
    issuer: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH)] = None,
    state: Annotated[Lifecycle | None, Query(description="Today's state.")] = None,
    strictness: Strictness | None = None,
    managed: Annotated[bool | None, Query(description="Only those issued inside the caller's subtree, or only "
                                                      "those issued above it.")] = None,
    sort: Literal["id", "-id", "issuer", "-issuer", "effective", "-effective", "applied_at", "-applied_at"] = "id",
) -> Page[RestrictionOut]:
    query = query_of("restrictions", issuer=issuer, state=state, strictness=strictness, managed=managed, sort=sort)
    with scoped(caller) as work:
        items = [summary(work, s) for s in RestrictionRepository(work.session).all_latest()
                 if work.sees_restriction(s.restriction)]
    items = [r for r in items if (issuer is None or r.issuer == issuer) and (state is None or r.state is state)
             and (strictness is None or r.strictness is strictness) and (managed is None or r.managed is managed)]
    field = sort.lstrip("-")
    items.sort(key=lambda r: (str(getattr(r, field)), r.id), reverse=sort.startswith("-"))
    chunk, cursor, total = slice_page(items, page, query)
    return Page[RestrictionOut](items=chunk, next=cursor, total=total)


@router.post("", response_model=RestrictionDetail, status_code=201, openapi_extra=FILE_BODY,
             responses=responses(409, 415), summary="Publish a new restriction from its policy file")
async def create_restriction(request: Request, response: Response,
                             caller: Manager) -> RestrictionDetail:
    text, source = await read_policy_file(request)
    detail = await run_in_threadpool(_create, caller, text, source)
    response.headers["ETag"] = restriction_etag(detail.version)
    response.headers["Location"] = f"/api/v1/restrictions/{detail.id}"
    return detail


def _create(caller: Caller, text: str, source: str) -> RestrictionDetail:
    with scoped(caller) as work:
        parsed = parse_file(work, text, source)
        restriction_id = parsed.restriction.id
        repository = RestrictionRepository(work.session)
        if repository.current_version(restriction_id) is not None:
            raise Conflict(f"the restriction id `{restriction_id}` is already in use (to change your own "
                           f"restriction, PUT /api/v1/restrictions/{restriction_id} with If-Match)")
        repository.apply(parsed, actor=caller.actor, now=work.now, source_path=source)
        work.reload()
        evaluate_rules(work.session, work.context, [restriction_id], work.now)
        return _detail(work, repository.history(restriction_id))


@router.post("/impact", response_model=ImpactOut, openapi_extra=FILE_BODY, responses=responses(415),
             summary="What-if: the devices and holders a restriction file would affect (stores nothing)")
async def restriction_impact(
    request: Request,
    caller: Reader,
    limit: Annotated[int, Query(ge=0, le=1000, description="Affected devices to list.")] = 100,
) -> ImpactOut:
    text, source = await read_policy_file(request)
    return await run_in_threadpool(_impact, caller, text, source, limit)


def _impact(caller: Caller, text: str, source: str, limit: int) -> ImpactOut:
    with scoped(caller) as work:
        parsed = parse_file(work, text, source)
        result = impact(work.session, work.context, parsed.restriction, work.now)
        work.session.rollback()
    affected = [a for a in result.affected if work.sees(a.organisation)]
    by_organisation = {org: dict(counts) for org, counts in sorted(result.summary.by_organisation.items())
                       if work.sees(org)}
    totals: dict[str, int] = {}
    for counts in by_organisation.values():
        for state, count in counts.items():
            totals[state] = totals.get(state, 0) + count
    return ImpactOut(restriction=result.restriction, totals=totals, by_organisation=by_organisation,
                     devices=[AffectedOut(device=a.device, organisation=a.organisation, holder=a.holder,
                                          state=a.state.value, reason=a.reason, apps=list(a.apps))
                              for a in affected[:limit]], devices_total=len(affected))


@router.get("/{restriction_id}", response_model=RestrictionDetail, responses=responses(404),
            summary="One restriction: what it says now, its file and every version")
def get_restriction(restriction_id: RestrictionPath, response: Response,
                    caller: Reader) -> RestrictionDetail:
    with scoped(caller) as work:
        detail = _detail(work, _visible_history(work, restriction_id))
    response.headers["ETag"] = restriction_etag(detail.version)
    return detail


@router.put("/{restriction_id}", response_model=RestrictionDetail, openapi_extra=FILE_BODY,
            responses=responses(404, 409, 415, 428), summary="Publish a new version of a restriction")
async def update_restriction(
    restriction_id: RestrictionPath, request: Request, response: Response, caller: Manager,
    if_match: Annotated[str | None, Header(max_length=1000, description="The ETag read (the version).")] = None,
) -> RestrictionDetail:
    text, source = await read_policy_file(request)
    detail = await run_in_threadpool(_update, caller, restriction_id, if_match, text, source)
    response.headers["ETag"] = restriction_etag(detail.version)
    return detail


def _update(caller: Caller, restriction_id: str, if_match: str | None, text: str, source: str) -> RestrictionDetail:
    with scoped(caller) as work:
        current: Restriction = work.restriction(restriction_id)
        if not work.manages(current):
            raise ApiError(403, f"`{restriction_id}` is issued by `{current.issuer}`, above your organisation",
                           hint="only admins of the issuer change a restriction")
        repository = RestrictionRepository(work.session)
        version = repository.current_version(restriction_id, lock=True)  # held until commit: check and write
        if version is None:
            raise NotFound(f"no restriction `{restriction_id}`")
        if not matches(if_match, restriction_etag(version)):
            raise _stale(work, restriction_id, if_match, version)
        parsed = parse_file(work, text, source)
        if parsed.restriction.id != restriction_id:
            raise InvalidInput.at(str(parsed.place("id").source), f"the file is restriction "
                                  f"`{parsed.restriction.id}`, not `{restriction_id}`", line=parsed.place("id").line,
                                  column=parsed.place("id").column, hint="a restriction keeps its id")
        applied = repository.apply(parsed, actor=caller.actor, now=work.now, source_path=source)
        if applied.outcome is not ApplyOutcome.UNCHANGED:
            work.reload()
            evaluate_rules(work.session, work.context, [restriction_id], work.now)
        return _detail(work, repository.history(restriction_id))
