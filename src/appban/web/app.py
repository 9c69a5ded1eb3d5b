"""`create_web`: the dashboard, server-rendered pages on one database, signed-in users only.

Each page reads inside one transaction seen through the signed-in user's organisation subtree with the API's
own scoping (`appban.api.scope.Work`: the user stands where a token of the same organisation and role would),
so a page shows exactly what the API would show that user, and anything outside the subtree is a 404 page
identical to the one for an id that does not exist. Changes (granting and revoking exemptions) go through the
same store and service calls as the API, audited the same way, with the user named as the actor.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import secrets
import threading
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import jinja2
import python_multipart  # noqa: F401 (Starlette parses forms with it: missing, fail at start, not at a POST)
from sqlalchemy.orm import Session as DbSession
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from appban import __version__
from appban.access import Permission, TokenInfo, allows
from appban.api import Limits
from appban.api.auth import Caller
from appban.api.backend import Backend
from appban.api.metrics import FleetMetrics, RequestMetrics
from appban.api.routes.devices import worst_state
from appban.api.routes.exemptions import approve_request, decide_refusal, file_request
from appban.api.routes.restrictions import parse_file
from appban.api.scope import Work, scoped
from appban.api.token_cache import TokenCache
from appban.audit import AuditEvent
from appban.errors import AppbanError, Conflict, InvalidInput, Location, NotFound, Problem
from appban.model import ChildPolicy, Exemption, FindingState, Lifecycle, Ownership, Platform, Restriction
from appban.policy import due, lifecycle
from appban.risk import to_html
from appban.service import (
    ComplianceCounts,
    ContextCache,
    Counted,
    CountsCache,
    Reading,
    compliance_counts,
    evaluate_pairs,
    impact,
)
from appban.store import (
    AdoptionRepository,
    AssessmentRepository,
    AuditLog,
    Database,
    DeviceRepository,
    ExemptionRecord,
    ExemptionRepository,
    ExemptionRequest,
    FindingRepository,
    HolderRepository,
    InventoryRepository,
    NoticeRepository,
    RestrictionRepository,
    StoredFinding,
    UserInfo,
    UserRepository,
    data_stamp,
)
from appban.web import charts
from appban.web.sessions import COOKIE, CSRF_FIELD, Session, Sessions

__all__ = ["create_web"]

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
DEVICE_CURSOR_LENGTH = 512  # the longest device id the store keeps
DUE_WITHIN = dt.timedelta(days=30)
TREND_DAYS = 30  # the overview's trend chart
ENDING_SOON = dt.timedelta(days=14)
DRAFT_LIMIT = 64 * 1024  # characters of a what-if draft
EXAMPLE_DEVICES = 20  # affected devices a what-if lists
ASSESSMENT_ID = re.compile(r"asm_[0-9a-f]{16}")
STATE_ORDER = [s.state for s in charts.STATES]
SEVERITY = ["non_compliant", "grace", "unknown", "advised", "exempt", "compliant"]
_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class _SignIn(Exception):
    """Control flow: this request goes to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Viewer:
    user: UserInfo
    session: Session
    caller: Caller

    def may(self, permission: Permission) -> bool:
        return allows(self.user.role, permission)

    @property
    def actor(self) -> str:
        """How the audit log names this user."""
        return f"user:{self.user.id} ({self.user.username})"


@dataclass(frozen=True, slots=True)
class RequestView:
    """An exemption request as the exemptions page lists it: why the user may not decide it (None: may), and
    the last day it asks for."""

    request: ExemptionRequest
    refusal: str | None
    last_day: dt.date


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _local_path(text: str | None, default: str = "/") -> str:
    """A path on this site to go back to; anything else (another host, `//evil`) gives `default`."""
    if not text or not text.startswith("/") or text.startswith("//") or "\\" in text:
        return default
    return text


def _device_url(device_id: str) -> str:
    return "/devices/" + urllib.parse.quote(device_id, safe="/@:")


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


_ACTOR = re.compile(r"(user|token):(?:usr|tok)_[0-9a-f]+ \((.+)\)")


def _who(actor: object) -> str:
    """An actor as people read it: `user:usr_… (ana)` is ana, `token:tok_… (mdm)` the API token mdm; anything
    else (a CLI user, a system actor) as recorded."""
    text = str(actor or "")
    found = _ACTOR.fullmatch(text)
    if found is None:
        return text
    return found.group(2) if found.group(1) == "user" else f"{found.group(2)} (API token)"


def _state_label(state: object) -> str:
    text = str(state)
    return charts.state_style(text).label if text in STATE_ORDER else text


class WebApp:
    """The dashboard's routes, on one database."""

    def __init__(self, database: Database, *, clock: Callable[[], dt.datetime], secret: bytes,
                 secure_cookies: bool) -> None:
        self.database = database
        self.clock = clock
        self.sessions = Sessions(secret, secure=secure_cookies, clock=clock)
        self.backend = Backend(database=database, clock=clock, contexts=ContextCache(),
                               tokens=TokenCache(database, clock), limits=Limits.from_environment(),
                               requests=RequestMetrics(), fleet=FleetMetrics(database, clock))
        self.counts: CountsCache[ComplianceCounts] = CountsCache()  # the overview's counts, kept between views
        environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                         trim_blocks=False, auto_reload=False)
        self.templates = Jinja2Templates(env=environment)
        env = self.templates.env
        env.filters["when"] = _when
        env.filters["device_url"] = _device_url
        env.filters["state_label"] = _state_label
        env.filters["who"] = _who
        env.filters["quote"] = lambda text: urllib.parse.quote(str(text), safe="")
        env.globals["version"] = __version__
        env.globals["legend"] = charts.legend
        env.globals["states"] = charts.STATES

    # --- plumbing -------------------------------------------------------------------------------------------

    def _counts(self, work: Work) -> Counted[ComplianceCounts]:
        """The subtree's compliance counts, recounted only when the data changed and, on a fleet where counting
        takes long, served from the last count while a background refresh runs (appban.service.summaries)."""
        home = work.home

        def compute() -> ComplianceCounts:
            return compliance_counts(work.session, work.context, home, work.now, days=TREND_DAYS)

        return self.counts.get(home, data_stamp(work.session), work.now, compute, self._recount(home))

    def _recount(self, home: str) -> Callable[[], Reading[ComplianceCounts]]:
        """Counts of a subtree read in a transaction of their own (a background refresh)."""
        def refresh() -> Reading[ComplianceCounts]:
            with self.database.session() as session:
                stamp = data_stamp(session)  # before the counts: a change in between only makes them newer
                context = self.backend.contexts.get(session)
                now = self.clock()
                return Reading(stamp, now, compliance_counts(session, context, home, now, days=TREND_DAYS))

        return refresh

    def warm_counts(self) -> None:
        """Count, in the background, the subtree of every organisation that has dashboard users: on a large fleet
        the first view after a start then finds counts kept instead of waiting seconds for them."""
        def start() -> None:
            with self.database.session() as session:
                homes = sorted({user.organisation for user in UserRepository(session).list() if user.active})
            for home in homes:
                self.counts.warm(home, self._recount(home))

        threading.Thread(target=start, name="appban-counts-warm", daemon=True).start()

    def viewer(self, request: Request) -> Viewer:
        """The signed-in user of this request; _SignIn (to the sign-in page) when there is none."""
        session = self.sessions.decode(request.cookies.get(COOKIE))
        user = None
        if session is not None and session.user is not None:
            with self.database.session() as db:
                user = UserRepository(db).get(session.user)
        if session is None or user is None or not user.active:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise _SignIn(target)
        token = TokenInfo(id=user.id, name=user.username, organisation=user.organisation, role=user.role,
                          created_at=user.created_at, created_by=user.created_by, expires=None)
        return Viewer(user=user, session=session, caller=Caller(token, self.backend))

    @contextmanager
    def work(self, viewer: Viewer) -> Iterator[Work]:
        with scoped(viewer.caller) as work:
            yield work

    def render(self, request: Request, template: str, viewer: Viewer | None, status: int = 200,
               **context: Any) -> Response:
        csrf = viewer.session.csrf if viewer else context.pop("csrf", "")
        response = self.templates.TemplateResponse(request, template, {
            "viewer": viewer, "user": viewer.user if viewer else None, "csrf": csrf, "csrf_field": CSRF_FIELD,
            "may_manage": bool(viewer and viewer.may(Permission.MANAGE)),
            "may_audit": bool(viewer and viewer.may(Permission.READ_AUDIT)), **context}, status_code=status)
        return _secured(response)

    async def checked_form(self, request: Request) -> tuple[Viewer, Mapping[str, str]]:
        """The form of a POST from a signed-in user whose CSRF token matches; 403 otherwise."""
        viewer = await run_in_threadpool(self.viewer, request)
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if not viewer.session.csrf_matches(fields.get(CSRF_FIELD)):
            raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page and try again")
        return viewer, fields

    # --- sign-in ------------------------------------------------------------------------------------------------

    def login_page(self, request: Request) -> Response:
        session = self.sessions.decode(request.cookies.get(COOKIE))
        if session is not None and session.user is not None:
            try:
                self.viewer(request)
                return RedirectResponse(_local_path(request.query_params.get("next")), 303)
            except _SignIn:
                pass
        if session is None:
            session = self.sessions.new(None)
        response = self.render(request, "login.html", None, csrf=session.csrf,
                               next=_local_path(request.query_params.get("next")), error=None, username="")
        response.set_cookie(COOKIE, self.sessions.encode(session), **self.sessions.cookie_options())  # type: ignore[arg-type]
        return response

    async def login(self, request: Request) -> Response:
        session = self.sessions.decode(request.cookies.get(COOKIE))
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if session is None or not session.csrf_matches(fields.get(CSRF_FIELD)):
            raise HTTPException(403, "the sign-in form expired or came from elsewhere: reload it and try again")
        username = fields.get("username", "").strip().lower()[:63]
        password = fields.get("password", "")[:1024]
        target = _local_path(fields.get("next"))

        def check() -> UserInfo | None:
            with self.database.session() as db:
                return UserRepository(db).verify(username, password)

        user = await run_in_threadpool(check)
        if user is None:
            return self.render(request, "login.html", None, status=401, csrf=session.csrf, next=target,
                               error="Wrong username or password.", username=username)
        response = RedirectResponse(target, 303)
        response.set_cookie(COOKIE, self.sessions.encode(self.sessions.new(user.id)),
                            **self.sessions.cookie_options())  # type: ignore[arg-type]
        return _secured(response)

    async def logout(self, request: Request) -> Response:
        await self.checked_form(request)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/", secure=self.sessions.secure, httponly=True, samesite="lax")
        return _secured(response)

    # --- overview -------------------------------------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        viewer = self.viewer(request)
        with self.work(viewer) as work:
            visible = work.visible_restrictions()
            shown = {r.id for r in visible}
            counted = self._counts(work)
            report = counted.value
            adoptions = AdoptionRepository(work.session).all()
            tree = work.tree
            own: dict[str, Counter[str]] = {org: Counter() for org in work.organisations}
            totals_by_restriction: dict[str, Counter[str]] = {}
            for summary in report.restrictions:
                if summary.restriction not in shown:
                    continue
                totals_by_restriction[summary.restriction] = summary.totals()
                for org, counts in summary.by_organisation.items():
                    if org in own:
                        own[org].update(counts)
            rows: list[dict[str, Any]] = []
            for org_id, depth in _walk(tree.children, work.home):
                subtree: Counter[str] = Counter()
                for member in tree.subtree(org_id):
                    subtree.update(own.get(member, Counter()))
                rows.append({"id": org_id, "name": tree.organisations[org_id].name, "depth": depth,
                             "counts": subtree, "total": sum(subtree.values()),
                             "compliant_share": _share(subtree)})
            restrictions = [{
                "restriction": r, "state": lifecycle(r, work.now.date()).value, "managed": work.manages(r),
                "counts": totals_by_restriction.get(r.id, Counter()),
            } for r in visible]
            due_items = due(visible, work.now.date(), DUE_WITHIN)
            pending = _pending_adoptions(work, visible, adoptions)
            trend = [charts.TrendPoint(day, nc, grace) for day, nc, grace in report.trend]
        chart_rows: list[tuple[str, Mapping[str, int]]] = [
            (str(row["name"]), own[str(row["id"])]) for row in rows if sum(own[str(row["id"])].values())]
        bars = charts.stacked_bars(chart_rows, title="Devices in scope by finding state, per organisation",
                                   description="Each bar is one organisation's own devices in scope of the "
                                   "restrictions shown, divided by state; the table below gives the numbers.")
        line = charts.trend_chart(trend, title=f"Non-compliant and in-grace findings over the last {TREND_DAYS} days",
                                  description=_trend_description(trend))
        return self.render(request, "overview.html", viewer, nav="overview", rows=rows, restrictions=restrictions,
                           due_items=due_items, pending=pending, trend=trend, trend_svg=line, bars_svg=bars,
                           chart_rows=chart_rows, today=work.now.date(), devices=report.devices,
                           stale=report.stale_devices, home=tree.organisations[work.home].name,
                           counted_at=counted.at, counts_stale=counted.stale)

    # --- restrictions ---------------------------------------------------------------------------------------

    def restriction(self, request: Request, *, viewer: Viewer | None = None,
                    what_if: Mapping[str, Any] | None = None) -> Response:
        viewer = viewer or self.viewer(request)
        restriction_id = request.path_params["restriction_id"]
        with self.work(viewer) as work:
            restriction = work.restriction(restriction_id)
            history = RestrictionRepository(work.session).history(restriction_id)
            if not history:
                raise NotFound(f"no restriction `{restriction_id}`")
            counted = self._counts(work)
            summaries = counted.value.restrictions
            summary = next((s for s in summaries if s.restriction == restriction_id), None)
            by_org = dict(summary.by_organisation) if summary else {}
            names = {org: work.tree.organisations[org].name for org in by_org}
            adoptions = [a for a in AdoptionRepository(work.session).all()
                         if a.restriction == restriction_id and work.sees(a.organisation)]
            assessments = AssessmentRepository(work.session)
            evidence = []
            for item in restriction.evidence:
                found = ASSESSMENT_ID.search(f"{item.url or ''} {item.title}") if item.kind == "assessment" else None
                link = None
                if found is not None:
                    record = assessments.get(found.group(0))
                    if record is not None and work.sees(record.organisation):
                        link = f"/assessments/{record.id}"
                evidence.append({"title": item.title, "url": item.url, "kind": item.kind, "link": link})
            records = ExemptionRepository(work.session).records()
            seen = {e.id for e in work.visible_exemptions(r.exemption for r in records
                                                          if r.exemption.restriction == restriction_id)}
            exemptions = [_exemption_view(r, work.now) for r in records if r.exemption.id in seen]
            pending = _pending_adoptions(work, [restriction], AdoptionRepository(work.session).all())
            state = lifecycle(restriction, work.now.date()).value
            managed = work.manages(restriction)
            issuer = work.tree.organisations[restriction.issuer].name if restriction.issuer in work.tree else \
                restriction.issuer
        rows = sorted(((names.get(org, org), counts) for org, counts in by_org.items()), key=lambda r: r[0])
        totals: Counter[str] = Counter()
        for _, counts in rows:
            totals.update(counts)
        bars = charts.stacked_bars(rows, title=f"Devices by state per organisation: {restriction.title}",
                                   description=f"{sum(totals.values())} devices in scope; "
                                   + ", ".join(f"{totals[s]} {_state_label(s)}" for s in SEVERITY if totals[s])
                                   + ". The table beside gives the numbers per organisation.")
        versions = []
        for index, stored in enumerate(history):
            before = history[index - 1].text.splitlines() if index else []
            diff = "\n".join(difflib.unified_diff(before, stored.text.splitlines(),
                                                  f"version {history[index - 1].version}" if index else "",
                                                  f"version {stored.version}", lineterm="")) if index else ""
            versions.append({"stored": stored, "diff": diff})
        if what_if is None:
            what_if = {"draft": history[-1].text, "error": None, "result": None}
        return self.render(request, "restriction.html", viewer, nav="overview", r=restriction, state=state,
                           managed=managed, issuer=issuer, rows=rows, totals=totals, bars_svg=bars,
                           evidence=evidence, adoptions=adoptions, pending=pending, versions=list(reversed(versions)),
                           exemptions=exemptions, what_if=what_if, counted_at=counted.at,
                           counts_stale=counted.stale, status=422 if what_if.get("error") else 200)

    async def what_if(self, request: Request) -> Response:
        """The impact of an edited draft of this restriction, as `appban policy impact` computes it; stores
        nothing. A draft that does not parse gives one line saying where and what, on the page."""
        viewer, fields = await self.checked_form(request)
        restriction_id = request.path_params["restriction_id"]
        text = fields.get("draft", "").replace("\r\n", "\n")
        outcome = await run_in_threadpool(self._what_if, viewer, restriction_id, text)
        return await run_in_threadpool(lambda: self.restriction(request, viewer=viewer, what_if=outcome))

    def _what_if(self, viewer: Viewer, restriction_id: str, text: str) -> dict[str, Any]:
        outcome: dict[str, Any] = {"draft": text, "error": None, "result": None}
        with self.work(viewer) as work:
            restriction = work.restriction(restriction_id)  # NotFound unless the user sees it
            if not (viewer.may(Permission.MANAGE) and work.manages(restriction)):
                raise HTTPException(403, "only admins of the issuer try drafts of a restriction")
            try:
                if not text.strip():
                    raise InvalidInput.at("draft", "the draft is empty: paste or edit the restriction's YAML")
                if len(text) > DRAFT_LIMIT:
                    raise InvalidInput.at("draft", f"the draft is longer than {DRAFT_LIMIT} characters")
                parsed = parse_file(work, text, f"{restriction_id}.yaml")
                if parsed.restriction.id != restriction_id:
                    raise InvalidInput.at(f"{restriction_id}.yaml", f"the draft's id is `{parsed.restriction.id}`: "
                                          f"keep `{restriction_id}` to try a change of this restriction")
                result = impact(work.session, work.context, parsed.restriction, work.now)
            except AppbanError as error:
                outcome["error"] = _one_line(error)
                return outcome
            except (ValueError, TypeError, KeyError, RecursionError) as error:  # never a 500 for a bad draft
                outcome["error"] = f"{restriction_id}.yaml: the draft cannot be read ({type(error).__name__})"
                return outcome
            finally:
                work.session.rollback()  # a what-if stores nothing
            names = {org: work.tree.organisations[org].name for org in result.summary.by_organisation
                     if work.sees(org)}
            affected = [a for a in result.affected if work.sees(a.organisation)]
        by_org = sorted(((names[org], counts) for org, counts in result.summary.by_organisation.items()
                         if org in names), key=lambda row: row[0])
        totals: Counter[str] = Counter()
        for _, counts in by_org:
            totals.update(counts)
        outcome["result"] = {"rows": by_org, "totals": totals, "devices": affected[:EXAMPLE_DEVICES],
                             "devices_total": len(affected), "organisations": len(by_org),
                             "title": parsed.restriction.title}
        return outcome

    # --- devices --------------------------------------------------------------------------------------------

    def devices(self, request: Request) -> Response:
        viewer = self.viewer(request)
        q = request.query_params
        organisation = q.get("organisation") or None
        state = _choice(q.get("state"), [s.value for s in FindingState])
        platform = _choice(q.get("platform"), [p.value for p in Platform])
        ownership = _choice(q.get("ownership"), [o.value for o in Ownership])
        app = (q.get("app") or "").strip()[:512] or None
        search = (q.get("q") or "").strip()[:DEVICE_CURSOR_LENGTH] or None  # a holder's e-mail, or a device id's start
        holder = search if search is not None and "@" in search else None
        id_prefix = search if search is not None and holder is None else None
        start = int(q["start"]) if q.get("start", "").isdigit() else 0
        # keyset cursors: `after` the last id of the page before, `before` the first id of the page after
        after = (q.get("after") or "")[:DEVICE_CURSOR_LENGTH] or None
        before = None if after is not None else (q.get("before") or "")[:DEVICE_CURSOR_LENGTH] or None
        with self.work(viewer) as work:
            organisations = work.filter_below(organisation)
            # every filter, the app one too, runs in the database, and pages go by keyset: a million devices
            devices, total = DeviceRepository(work.session).page(
                organisations=organisations, platform=platform, ownership=ownership, state=state, app=app,
                holder=holder, id_prefix=id_prefix, offset=start, limit=PAGE_SIZE, after=after or before,
                descending=before is not None)
            if before is not None:
                devices.reverse()
            findings = FindingRepository(work.session).get_for_devices(d.id for d in devices)
            grouped = _by_device(findings)
            rows = [{"device": d, "state": worst_state(grouped.get(d.id, [])).value} for d in devices]
            choices = [(org_id, "\u2002" * depth + work.tree.organisations[org_id].name)
                       for org_id, depth in _walk(work.tree.children, work.home)]
        filters = {"q": search, "organisation": organisation, "state": state, "platform": platform,
                   "ownership": ownership, "app": app}
        base = {k: v for k, v in filters.items() if v}
        keyset = bool(devices)
        forward: dict[str, Any] = {**base, "start": start + PAGE_SIZE}
        backward: dict[str, Any] = {**base, "start": max(0, start - PAGE_SIZE)}
        if keyset:
            forward["after"] = devices[-1].id
            backward["before"] = devices[0].id
        next_url = f"/devices?{urllib.parse.urlencode(forward)}" if start + PAGE_SIZE < total else None
        previous_url = f"/devices?{urllib.parse.urlencode(backward)}" if start > 0 else None
        return self.render(request, "devices.html", viewer, nav="devices", rows=rows, total=total, start=start,
                           filters=filters, organisations=choices, next_url=next_url, previous_url=previous_url,
                           platforms=[p.value for p in Platform], ownerships=[o.value for o in Ownership])

    def device(self, request: Request) -> Response:
        viewer = self.viewer(request)
        device_id = request.path_params["device_id"]
        with self.work(viewer) as work:
            device = DeviceRepository(work.session).get_many([device_id]).get(device_id)
            if device is None or not work.sees(device.organisation):
                raise NotFound(f"no device `{device_id}`")
            inventories = InventoryRepository(work.session)
            inventory = inventories.get_many([device_id]).get(device_id)
            apps = inventories.app_details(device_id)
            since = dict(inventory.apps) if inventory is not None else {}
            reports = inventories.reports(device_id, limit=10)
            stored = FindingRepository(work.session).get_for_devices([device_id])
            holder = HolderRepository(work.session).get_many([device.holder]).get(device.holder) \
                if device.holder else None
            history = _device_events(work.session, device_id)
            records = ExemptionRepository(work.session).records()
            mine = [r for r in records if r.exemption.device == device_id
                    or (device.holder is not None and r.exemption.holder == device.holder)]
            seen = {e.id for e in work.visible_exemptions(r.exemption for r in mine)}
            exemptions = [_exemption_view(r, work.now) for r in mine if r.exemption.id in seen]
            findings = []
            for (_, rule_id), item in sorted(stored.items()):
                rule = work.context.rules.get(rule_id)
                visible = rule is not None and work.sees_restriction(rule.restriction)
                findings.append({"restriction": rule_id, "title": rule.restriction.title if rule else rule_id,
                                 "visible": visible, "manages": bool(visible and rule and work.manages(
                                     rule.restriction)), "finding": item, "state": item.verdict.state.value})
            organisation = work.tree.organisations[device.organisation].name
            notices = NoticeRepository(work.session).for_device(device_id, limit=50)
            requests = work.visible_requests(r for r in ExemptionRepository(work.session).requests()
                                             if r.device == device_id
                                             or (device.holder is not None and r.holder == device.holder))
            now = work.now
        state = worst_state(list(stored.values())).value
        return self.render(request, "device.html", viewer, nav="devices", device=device, organisation=organisation,
                           inventory=inventory, apps=[(entry, since.get(entry.app)) for entry in apps],
                           reports=reports, findings=findings, holder=holder, history=history,
                           exemptions=exemptions, state=state, default_ends=(now + dt.timedelta(days=30)).date(),
                           granted=request.query_params.get("granted"), notices=notices, requests=requests,
                           requested=request.query_params.get("requested"),
                           may_request=viewer.may(Permission.REQUEST_EXEMPTION))

    # --- exemptions -----------------------------------------------------------------------------------------

    def exemptions(self, request: Request, *, errors: list[str] | None = None,
                   form: Mapping[str, str] | None = None, viewer: Viewer | None = None) -> Response:
        viewer = viewer or self.viewer(request)
        wanted = _choice(request.query_params.get("state"), ["active", "ended", "revoked"])
        with self.work(viewer) as work:
            records = ExemptionRepository(work.session).records()
            seen = {e.id for e in work.visible_exemptions(r.exemption for r in records)}
            items = [_exemption_view(r, work.now) for r in records if r.exemption.id in seen]
            managed = {rule_id for rule_id, rule in work.context.rules.items() if work.manages(rule.restriction)}
            grantable = [rule.restriction for rule_id, rule in sorted(work.context.rules.items())
                         if rule_id in managed]
            soon = work.now + ENDING_SOON
            for item in items:
                item["manages"] = item["record"].exemption.restriction in managed
                item["expiring"] = item["state"] == "active" and item["record"].exemption.ends <= soon
            default_ends = (work.now + dt.timedelta(days=30)).date()
            requests = [RequestView(r, decide_refusal(work, r) if r.status == "pending" else None, _last_day(r.ends))
                        for r in work.visible_requests(ExemptionRepository(work.session).requests())]
            requestable = work.visible_restrictions()
        items.sort(key=lambda item: (item["state"] != "active", item["record"].exemption.ends))
        expiring = [item for item in items if item["expiring"]]
        if wanted:
            items = [item for item in items if item["state"] == wanted]
        pending = [r for r in requests if r.request.status == "pending"]
        decided = sorted((r for r in requests if r.request.status != "pending"),
                         key=lambda r: r.request.decided_at or r.request.requested_at, reverse=True)[:50]
        return self.render(request, "exemptions.html", viewer, status=422 if errors else 200, nav="exemptions",
                           items=items, grantable=grantable, errors=errors or [], form=form or {},
                           default_ends=default_ends, wanted=wanted, done=request.query_params.get("done"),
                           expiring=expiring, pending=pending, decided=decided, requestable=requestable,
                           may_request=viewer.may(Permission.REQUEST_EXEMPTION),
                           soon_days=ENDING_SOON.days)

    async def grant(self, request: Request) -> Response:
        viewer, fields = await self.checked_form(request)
        if not viewer.may(Permission.MANAGE):
            raise HTTPException(403, f"a `{viewer.user.role}` may not grant exemptions (it needs `manage`)")
        return await self._change(request, viewer, fields, lambda: self._grant(viewer, fields), "granted",
                                  also=(NotFound,))

    def _grant(self, viewer: Viewer, fields: Mapping[str, str]) -> str:
        form = _ExemptionForm.read(fields, "exemption", "the reason must say why, in words an auditor will read",
                                   extra=[] if fields.get("approver", "").strip() else ["name who approved it"])
        with self.work(viewer) as work:
            rule = work.context.rules.get(form.restriction)
            if rule is None or not work.sees_restriction(rule.restriction):
                raise InvalidInput.at("restriction", f"unknown restriction `{form.restriction}`")
            if not work.manages(rule.restriction):
                raise HTTPException(403, f"`{form.restriction}` is issued by `{rule.restriction.issuer}`, above "
                                    "your organisation: only admins of the issuer grant its exemptions")
            devices = DeviceRepository(work.session)
            if form.device is not None:
                device = devices.get_many([form.device]).get(form.device)
                if device is None or not work.sees(device.organisation):
                    raise InvalidInput.at("device", f"unknown device `{form.device}`")
                pairs = [(form.device, form.restriction)]
            else:
                pairs = [(d, form.restriction) for d in sorted(devices.ids_of_holder(form.holder or ""))]
            exemption = Exemption(id=f"ex-{_token()}", restriction=form.restriction, reason=form.reason,
                                  approver=fields.get("approver", "").strip()[:200], ends=form.ends,
                                  device=form.device, holder=form.holder)
            ExemptionRepository(work.session).grant(exemption, actor=viewer.actor, now=work.now)
            evaluate_pairs(work.session, work.context, pairs, work.now)
        return exemption.id

    async def file_request(self, request: Request) -> Response:
        """A request for an exemption (admins and analysts): pending until the issuer's admins decide."""
        viewer, fields = await self.checked_form(request)
        if not viewer.may(Permission.REQUEST_EXEMPTION):
            raise HTTPException(403, f"a `{viewer.user.role}` may not ask for exemptions (it changes nothing)")

        def store() -> str:
            form = _ExemptionForm.read(fields, "request",
                                       "the reason must say why, in words the approver and an auditor will read")
            with self.work(viewer) as work:
                return file_request(work, restriction=form.restriction, device=form.device, holder=form.holder,
                                    reason=form.reason, ends=form.ends, actor=viewer.actor).id

        return await self._change(request, viewer, fields, store, "requested")

    async def decide(self, request: Request) -> Response:
        """Approve (the exemption is granted as by a grant, the devices judged again) or reject with a reason."""
        decision = request.path_params["decision"]
        if decision not in ("approve", "reject"):
            raise HTTPException(404)
        viewer, fields = await self.checked_form(request)
        request_id = str(request.path_params["request_id"])

        def store() -> str:
            with self.work(viewer) as work:
                found = work.exemption_request(request_id)  # NotFound unless the user sees it
                refusal = decide_refusal(work, found)
                if refusal is not None:
                    raise HTTPException(403, refusal)
                if decision == "reject":
                    ExemptionRepository(work.session).reject(request_id, reason=fields.get("reason", "")[:2000],
                                                             actor=viewer.actor, now=work.now)
                    return request_id
                problems: list[str] = []
                ends = _end_of_day(fields.get("ends", ""), problems) if fields.get("ends") else None
                if problems:
                    raise InvalidInput.at("approval", problems[0])
                approved = approve_request(work, request_id, approver=viewer.user.username, ends=ends,
                                           note=fields.get("note", "").strip()[:2000] or None, actor=viewer.actor)
                return approved.exemption or request_id

        return await self._change(request, viewer, fields, store, "approved" if decision == "approve" else "rejected")

    async def _change(self, request: Request, viewer: Viewer, fields: Mapping[str, str], store: Callable[[], str],
                      done: str, *, also: tuple[type[AppbanError], ...] = ()) -> Response:
        """Run a change; on bad input (or a conflict, or `also`), the exemptions page with the problems (422);
        else back where it came from, with `done=<what changed>` for the page to say so."""
        messages: list[str] = []
        refused: tuple[type[AppbanError], ...] = (Conflict, *also)
        try:
            changed = await run_in_threadpool(store)
        except InvalidInput as error:
            messages = [problem.message + (f" ({problem.hint})" if problem.hint else "") for problem in error.problems]
        except refused as error:
            messages = [error.diagnosis]
        if messages:
            return await run_in_threadpool(lambda: self.exemptions(request, errors=messages, form=fields,
                                                                   viewer=viewer))
        back = _local_path(fields.get("return_to"), "/exemptions")
        separator = "&" if "?" in back else "?"
        return _secured(RedirectResponse(f"{back}{separator}{done}={urllib.parse.quote(changed)}", 303))

    async def revoke(self, request: Request) -> Response:
        viewer, fields = await self.checked_form(request)
        if not viewer.may(Permission.MANAGE):
            raise HTTPException(403, f"a `{viewer.user.role}` may not revoke exemptions (it needs `manage`)")
        exemption_id = request.path_params["exemption_id"]

        def revoke() -> None:
            with self.work(viewer) as work:
                found = work.exemption(exemption_id)  # NotFound unless the user sees it
                rule = work.context.rules[found.restriction]
                if not work.manages(rule.restriction):
                    raise HTTPException(403, "only admins of the issuer revoke its exemptions")
                revoked = ExemptionRepository(work.session).revoke(exemption_id, actor=viewer.actor, now=work.now)
                devices = ({revoked.device} if revoked.device else
                           DeviceRepository(work.session).ids_of_holder(revoked.holder or ""))
                evaluate_pairs(work.session, work.context, [(d, revoked.restriction) for d in sorted(devices)],
                               work.now)

        await run_in_threadpool(revoke)
        back = _local_path(fields.get("return_to"), "/exemptions")
        separator = "&" if "?" in back else "?"
        return _secured(RedirectResponse(f"{back}{separator}done=revoked", 303))

    # --- assessments ----------------------------------------------------------------------------------------

    def assessments(self, request: Request) -> Response:
        viewer = self.viewer(request)
        start = int(request.query_params["start"]) if request.query_params.get("start", "").isdigit() else 0
        with self.work(viewer) as work:
            records, total = AssessmentRepository(work.session).page(organisations=work.filter, offset=start,
                                                                    limit=PAGE_SIZE)
        return self.render(request, "assessments.html", viewer, nav="assessments", records=records, total=total,
                           start=start, next_url=f"/assessments?start={start + PAGE_SIZE}"
                           if start + PAGE_SIZE < total else None)

    def assessment(self, request: Request) -> Response:
        viewer = self.viewer(request)
        assessment_id = request.path_params["assessment_id"]
        with self.work(viewer) as work:
            repository = AssessmentRepository(work.session)
            record = repository.get(assessment_id)
            if record is None or not work.sees(record.organisation):
                raise NotFound(f"no assessment `{assessment_id}`")
            report = repository.report(assessment_id)
            if report is None:
                raise NotFound(f"no assessment `{assessment_id}`")
            organisation = work.tree.organisations[record.organisation].name
        body = _report_body(to_html(report))
        factors = sorted(report.factors, key=lambda f: -f.contribution)
        return self.render(request, "assessment.html", viewer, nav="assessments", record=record, report=report,
                           factors=factors, body=body, organisation=organisation)

    # --- audit log ------------------------------------------------------------------------------------------

    def audit(self, request: Request) -> Response:
        viewer = self.viewer(request)
        if not viewer.may(Permission.READ_AUDIT):
            raise HTTPException(403, f"a `{viewer.user.role}` does not read the audit log (it needs `read-audit`)")
        kinds = sorted({event.value.split(":", 1)[0] for event in AuditEvent})
        choices = kinds + sorted(event.value for event in AuditEvent)
        chosen = _choice(request.query_params.get("event"), choices)
        events = None if chosen is None else frozenset(
            e.value for e in AuditEvent if e.value == chosen or e.value.split(":", 1)[0] == chosen)
        before = int(request.query_params["before"]) if request.query_params.get("before", "").isdigit() else None
        with self.work(viewer) as work:
            log = AuditLog(work.session)
            scope = work.audit_filters(log)
            entries = log.page(**scope, events=events, before=before, limit=PAGE_SIZE + 1)
            total = log.count(**scope, events=events)
        shown = entries[:PAGE_SIZE]
        next_url = None
        if len(entries) > PAGE_SIZE:
            params = {"before": shown[-1].seq, **({"event": chosen} if chosen else {})}
            next_url = f"/audit?{urllib.parse.urlencode(params)}"
        return self.render(request, "audit.html", viewer, nav="audit", entries=shown, total=total, chosen=chosen,
                           choices=choices, next_url=next_url)

    # --- errors ---------------------------------------------------------------------------------------------

    def _optional_viewer(self, request: Request) -> Viewer | None:
        try:
            return self.viewer(request)
        except (_SignIn, AppbanError):
            return None

    async def not_found(self, request: Request, exc: Exception) -> Response:
        viewer = await run_in_threadpool(self._optional_viewer, request)
        message = exc.diagnosis if isinstance(exc, NotFound) else "There is no page at this address."
        return self.render(request, "error.html", viewer, status=404, title="Not found", message=message)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return await self.not_found(request, exc)
        viewer = await run_in_threadpool(self._optional_viewer, request)
        title = {403: "Forbidden", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return self.render(request, "error.html", viewer, status=exc.status_code, title=title, message=exc.detail)

    async def sign_in(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _SignIn)
        return _secured(RedirectResponse(f"/login?next={urllib.parse.quote(exc.next_path, safe='/')}", 303))


def create_web(database: Database, *, clock: Callable[[], dt.datetime] = _utc_now, secret: bytes | str,
               secure_cookies: bool = False, counts: CountsCache[ComplianceCounts] | None = None,
               warm_counts: bool = False) -> Starlette:
    """The dashboard on an open database whose schema is current.

    `secret` signs the session cookies (the server passes APPBAN_SECRET); `secure_cookies` marks them Secure,
    which the server does when its public URL is https. `counts` keeps the overview's counts between views
    (default: appban.service.CountsCache's defaults); `warm_counts` counts them in the background at once
    (the server does; tests do not, so that no thread writes beside them).
    """
    key = secret.encode() if isinstance(secret, str) else secret
    web = WebApp(database, clock=clock, secret=key, secure_cookies=secure_cookies)
    if counts is not None:
        web.counts = counts
    if warm_counts:
        web.warm_counts()

    def sync(handler: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(handler, request)

        return endpoint

    routes = [
        Route("/", sync(web.overview), methods=["GET"], name="overview"),
        Route("/login", sync(web.login_page), methods=["GET"]),
        Route("/login", web.login, methods=["POST"]),
        Route("/logout", web.logout, methods=["POST"]),
        Route("/restrictions/{restriction_id}", sync(web.restriction), methods=["GET"]),
        Route("/restrictions/{restriction_id}/what-if", web.what_if, methods=["POST"]),
        Route("/devices", sync(web.devices), methods=["GET"]),
        Route("/devices/{device_id:path}", sync(web.device), methods=["GET"]),
        Route("/exemptions", sync(lambda request: web.exemptions(request)), methods=["GET"]),
        Route("/exemptions", web.grant, methods=["POST"]),
        Route("/exemptions/{exemption_id}/revoke", web.revoke, methods=["POST"]),
        Route("/exemptions/requests", web.file_request, methods=["POST"]),
        Route("/exemptions/requests/{request_id}/{decision:str}", web.decide, methods=["POST"]),
        Route("/assessments", sync(web.assessments), methods=["GET"]),
        Route("/assessments/{assessment_id}", sync(web.assessment), methods=["GET"]),
        Route("/audit", sync(web.audit), methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        NotFound: web.not_found, HTTPException: web.http_error, _SignIn: web.sign_in}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.web = web
    return app


# --- helpers ----------------------------------------------------------------------------------------------------


def _secured(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("cache-control", "no-store")
    return response


def _token() -> str:
    return secrets.token_hex(4)


def _choice(value: str | None, allowed: Iterable[str]) -> str | None:
    return value if value and value in set(allowed) else None


def _walk(children: Callable[[str], tuple[str, ...]], root: str, depth: int = 0) -> Iterator[tuple[str, int]]:
    yield root, depth
    for child in sorted(children(root)):
        yield from _walk(children, child, depth + 1)


def _share(counts: Counter[str]) -> float | None:
    total = sum(counts.values())
    return None if not total else 100.0 * (counts["compliant"] + counts["exempt"]) / total


def _by_device(findings: Mapping[tuple[str, str], StoredFinding]) -> dict[str, list[StoredFinding]]:
    grouped: dict[str, list[StoredFinding]] = {}
    for (device_id, _), finding in findings.items():
        grouped.setdefault(device_id, []).append(finding)
    return grouped


def _trend_description(points: list[charts.TrendPoint]) -> str:
    if not points:
        return "No history yet."
    first, last = points[0], points[-1]
    peak = max(points, key=lambda p: p.non_compliant)
    return (f"From {first.day} to {last.day}: non-compliant went from {first.non_compliant} to "
            f"{last.non_compliant} (highest {peak.non_compliant} on {peak.day}); in grace from {first.grace} to "
            f"{last.grace}. The table below lists every day.")


def _pending_adoptions(work: Work, restrictions: Iterable[Restriction], adoptions: Iterable[Any],
                       ) -> list[dict[str, Any]]:
    """Recommended restrictions with organisations of the user's subtree, below the issuer and in scope, that
    neither decided nor are bound through an ancestor that adopted."""
    tree = work.tree
    decided: dict[str, dict[str, bool]] = {}
    for adoption in adoptions:
        decided.setdefault(adoption.restriction, {})[adoption.organisation] = adoption.adopted
    out = []
    for restriction in restrictions:
        if (restriction.children is not ChildPolicy.RECOMMENDED or restriction.issuer not in tree
                or lifecycle(restriction, work.now.date()) in (Lifecycle.EXPIRED, Lifecycle.REVOKED)):
            continue
        choices = decided.get(restriction.id, {})
        adopters = [org for org, adopted in choices.items() if adopted]
        candidates = [org for org in sorted(work.organisations)
                      if org != restriction.issuer and org in tree and tree.is_within(org, restriction.issuer)
                      and any(tree.is_within(org, s) for s in restriction.scope.organisations if s in tree)]
        pending = [org for org in candidates if org not in choices
                   and not any(tree.is_within(org, a) for a in adopters)]
        declined = [org for org in candidates if choices.get(org) is False]
        if pending or declined:
            out.append({"restriction": restriction, "candidates": len(candidates),
                        "adopted": [tree.organisations[o].name for o in candidates if o in adopters],
                        "pending": [tree.organisations[o].name for o in pending],
                        "declined": [tree.organisations[o].name for o in declined]})
    return out


@dataclass(frozen=True, slots=True)
class _ExemptionForm:
    """What the grant and request forms share: a restriction, one device or one holder, a reason, an end."""

    restriction: str
    device: str | None
    holder: str | None
    reason: str
    ends: dt.datetime

    @classmethod
    def read(cls, fields: Mapping[str, str], place: str, reason_hint: str, extra: Sequence[str] = ()) -> Self:
        """The form's fields, or InvalidInput listing every problem at once (and `extra` ones) at `place`; the
        store checks them again, but a person fixes a form best with all its problems in one answer."""
        device = fields.get("device", "").strip() or None
        holder = fields.get("holder", "").strip().lower() or None
        reason = fields.get("reason", "").strip()
        problems: list[str] = []
        if (device is None) == (holder is None):
            problems.append("name exactly one device or one holder")
        if not reason:
            problems.append(reason_hint)
        problems += extra
        ends = _end_of_day(fields.get("ends", ""), problems)
        if problems or ends is None:
            raise InvalidInput([Problem(Location(place), message) for message in problems])
        return cls(fields.get("restriction", "").strip(), device, holder, reason[:2000], ends)


def _end_of_day(text: str, problems: list[str]) -> dt.datetime | None:
    """The end of a last day given as YYYY-MM-DD (through the whole day, UTC); None with a problem added."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        problems.append("the end date must be a date (YYYY-MM-DD)")
        return None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)


def _last_day(ends: dt.datetime) -> dt.date:
    """The last day an end (the start of the day after, as `_end_of_day` makes it) still covers."""
    return (ends.astimezone(dt.UTC) - dt.timedelta(microseconds=1)).date()


def _one_line(error: AppbanError) -> str:
    """An error as one line for a page: the first problem of an InvalidInput, saying how many more there are."""
    if isinstance(error, InvalidInput):
        more = len(error.problems) - 1
        text = str(error.problems[0]) + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
    else:
        text = error.diagnosis or type(error).__name__
    return " ".join(text.split())[:500]


def _exemption_view(record: ExemptionRecord, now: dt.datetime) -> dict[str, Any]:
    state = "revoked" if record.revoked_at is not None else ("active" if record.exemption.ends > now else "ended")
    return {"record": record, "state": state, "manages": False, "expiring": False}


def _device_events(session: DbSession, device_id: str) -> list[dict[str, Any]]:
    """The device's finding history, newest first (the store's `ix_finding_events_device_id` index)."""
    return [{"at": event.at, "restriction": event.restriction,
             "from": None if event.state_from is None else event.state_from.value, "to": event.state_to.value,
             "shadow": event.shadow}
            for event in FindingRepository(session).events(device=device_id, newest_first=True, limit=200)]


def _report_body(document: str) -> str:
    """The sections of `appban.risk.to_html`'s page (already escaped), without its own title."""
    start = document.find("<body>")
    end = document.rfind("</body>")
    body = document[start + len("<body>"):end] if start >= 0 and end > start else ""
    body = re.sub(r"^<h1>.*?</h1>", "", body, count=1, flags=re.S)
    return body.replace("<h2>", "<h3>").replace("</h2>", "</h3>")  # below the page's own h2

