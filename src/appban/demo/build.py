"""Building the demo database: the seed cases and the synthetic fleet, written through the same service and
store code the CLI uses (`appban org apply`, `policy apply`, `import`, `holders import`, `exemption grant`,
`assess --store`, `token create`), each step with the `now` of the day it happens in the story.

Order: organisations and restrictions (the day before the history starts), the recommendation adoptions, the
stored assessment of a TikTok build and a new version of the Commission's restriction citing it, then each day
of inventory reports in date order (imported in bulk through `service.import_stream`, deadlines moved on with
`service.refresh_due`, the planned exemptions granted on their day), the holder map, a last evaluation at the
end (devices gone silent become unknown), an admin API token and a dashboard login.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from appban.access import Role
from appban.catalog import Catalog, default_catalog
from appban.demo.fleet import DEFAULT_SEED, DEFAULT_WEEKS, EU_RESTRICTION, Day, Fleet, generate_fleet
from appban.demo.sample_apk import tiktok_apk
from appban.errors import AppbanError, Conflict, InvalidInput, Location
from appban.inventory import DeviceReport, HolderAssignment, ReportDefaults
from appban.model import Exemption, FindingState
from appban.policy import PolicyBatch, read_batch
from appban.risk import assess
from appban.service import (
    ContextCache,
    assign_holders,
    evaluate_pairs,
    evaluate_rules,
    import_stream,
    load_context,
    refresh_due,
    store_assessment,
)
from appban.store import (
    AdoptionRepository,
    Database,
    DeviceRepository,
    ExemptionRepository,
    FindingRepository,
    OrganisationRepository,
    RestrictionRepository,
    TokenRepository,
    UserRepository,
)

__all__ = [
    "DEMO_ACTOR",
    "DEMO_LOGIN",
    "DEMO_ORGANISATION",
    "DEMO_TOKEN_NAME",
    "DEMO_URL",
    "DemoResult",
    "ProgressCallback",
    "build_demo",
    "examples_directory",
    "is_demo_database",
    "sqlite_path",
    "state_counts",
]

DEMO_URL = "sqlite:///appban-demo.db"
DEMO_ACTOR = "appban:demo"
DEMO_ORGANISATION = "eu-commission"
DEMO_TOKEN_NAME = "appban-demo-admin"  # noqa: S105 (the token's name, not its secret)
DEMO_LOGIN = "admin@eu-commission"
FORMAT_NAME = "demo"
IMPORT_EVERY = 1  # days of reports per import after the first day (daily: finding events carry their own day)

# Belgium's recommendation to regional and local authorities: who adopted it, who declined (a story, not news).
_ADOPTIONS = (
    ("be-flanders", True, "The Flemish government follows the federal decision for its own services."),
    ("be-antwerpen", True, "Adopted by the college of mayor and aldermen."),
    ("be-gent", True, "Adopted for the city's devices."),
    ("be-brussels", True, "The Brussels government follows the federal decision."),
    ("be-wallonia", False, "The Walloon government will decide after its own risk analysis."),
)

ProgressCallback = Callable[[str, int, int], None]  # (what is happening, steps done, steps in all)


@dataclass(frozen=True, slots=True)
class DemoResult:
    url: str
    devices: int
    holders: int
    reports: int
    days: int
    exemptions: int
    assessment: str  # the stored assessment's id
    cited: bool  # the Commission's restriction cites it (a second version of the restriction)
    token_id: str
    token: str  # the API token's secret, shown once
    login: tuple[str, str] | None  # dashboard (username, password), None without a user store
    states: Counter[str]  # the Commission's restriction: findings per state at the end (compliant ones are not kept)
    seconds: float


class _Reports:
    """An inventory format whose file is already parsed: the demo's reports of one day, handed to the same
    `service.import_stream` an `appban import` file goes through."""

    name = FORMAT_NAME

    def __init__(self, reports: Sequence[DeviceReport]) -> None:
        self._reports = reports

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        return iter(self._reports)


def examples_directory() -> Path | None:
    """The seed cases shipped beside the source (`examples/` of a checkout), if there."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "examples"
        if (candidate / "organisations").is_dir() and (candidate / "restrictions").is_dir():
            return candidate
    return None


def is_demo_database(db: Database) -> bool:
    """Whether a database was made by `appban demo` (its demo token is there): one it may replace."""
    try:
        if db.revision() is None:
            return False
        with db.session() as session:
            return any(t.name == DEMO_TOKEN_NAME and t.created_by == DEMO_ACTOR
                       for t in TokenRepository(session).list({DEMO_ORGANISATION}))
    except (AppbanError, SQLAlchemyError):  # an older schema, another program's database: not a demo one
        return False


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///PATH` URL; the demo makes nothing else (InvalidInput for other URLs)."""
    match = re.fullmatch(r"sqlite:///([^?]+)", url)
    if match is None or match.group(1) == ":memory:":
        raise InvalidInput.at("--database", f"the demo builds a SQLite file, not {url.split(':', 1)[0]}",
                              hint="give sqlite:///PATH, e.g. sqlite:///appban-demo.db")
    return Path(match.group(1))


def _prepare(url: str, force: bool) -> None:
    """Remove an earlier demo database (or, with `force`, any file) at the target; refuse anything else."""
    path = sqlite_path(url)
    if not path.exists():
        return
    if not path.is_file():
        raise InvalidInput.at(str(path), "is not a regular file")
    if not force and path.stat().st_size > 0:
        db = Database.open(url)
        try:
            demo = is_demo_database(db)
        finally:
            db.dispose()
        if not demo:
            raise Conflict(f"{path} exists and is not a demo database: nothing was changed (pass --force to "
                           "replace it, or choose another file with --database sqlite:///PATH)")
    _remove(path)


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _read_examples(examples: Path, catalog: Catalog) -> PolicyBatch:
    files = sorted((examples / "organisations").glob("*.yaml")) + sorted((examples / "restrictions").glob("*.yaml"))
    if not files:
        raise InvalidInput.at(str(examples), "holds no organisations/*.yaml or restrictions/*.yaml")
    texts = [(str(path), path.read_text(encoding="utf-8")) for path in files]
    return read_batch(texts, known=[], catalog=catalog)


def build_demo(url: str = DEMO_URL, *, examples: Path | None = None, seed: int = DEFAULT_SEED, size: float = 1.0,
               weeks: int = DEFAULT_WEEKS, force: bool = False, now: dt.datetime | None = None,
               progress: ProgressCallback | None = None, import_every: int = IMPORT_EVERY) -> DemoResult:
    """Create the demo database at `url` (a SQLite file) and return what a person needs to look at it.

    `size` scales the fleet (1.0: the Commission's 32,000 devices and the rest, about 40,000); `now` is the end
    of the history (default: the current time). Raises Conflict if `url` is an existing database not made by
    the demo (unless `force`), InvalidInput for a non-SQLite URL or unreadable examples.
    """
    started = time.monotonic()
    end = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    examples = examples or examples_directory()
    if examples is None:
        raise InvalidInput.at("examples/", "the seed cases (examples/organisations, examples/restrictions) are "
                              "not beside this installation", hint="run from a checkout of appban, or pass "
                              "--examples DIR")
    catalog = default_catalog()
    _prepare(url, force)
    report = progress or (lambda _what, _done, _total: None)
    db = Database.open(url)
    finished = False
    try:
        db.upgrade()
        batch = _read_examples(examples, catalog)
        fleet = generate_fleet([entry.organisation for entry in batch.organisations], end=end, seed=seed,
                               size=size, weeks=weeks)
        decided = (fleet.days[0].at if fleet.days else end) - dt.timedelta(days=1)  # the day before any report
        total = fleet.reports + len(fleet.devices) // 10 + 4_000  # imports, then the holder map and the rest
        done = 0
        report("seed cases", done, total)
        eu_text = _apply_seed_cases(db, batch, decided)
        done += 1_000
        report("assessing TikTok", done, total)
        assessment_id, cited = _store_assessment(db, catalog, eu_text, examples, decided + dt.timedelta(hours=2))
        done += 1_000
        contexts = ContextCache(catalog)  # the policy does not change during the history: compiled once
        for days in _batches(fleet.days, import_every):
            report(f"inventory of {days[-1].at:%Y-%m-%d}", done, total)
            _import_days(db, contexts, fleet, days)
            done += sum(len(day.reports) for day in days)
        report("holders", done, total)
        _assign_holders(db, contexts, fleet)
        done += len(fleet.devices) // 10
        report("final evaluation", done, total)
        silent = [device.id for device in fleet.devices if device.silent_day is not None]
        token_id, token, login, states = _finish(db, contexts, silent, end)
        report("done", total, total)
        finished = True
    finally:
        db.dispose()
        if not finished:  # half a demo (interrupted, or failed) is not left for the next run to refuse
            _remove(sqlite_path(url))
    return DemoResult(url=url, devices=len(fleet.devices), holders=len(fleet.holders), reports=fleet.reports,
                      days=len(fleet.days), exemptions=len(fleet.exemptions), assessment=assessment_id, cited=cited,
                      token_id=token_id, token=token, login=login, states=states,
                      seconds=time.monotonic() - started)


def _apply_seed_cases(db: Database, batch: PolicyBatch, now: dt.datetime) -> str:
    """`appban org apply` + `appban policy apply` of examples/, and Belgium's adoptions; the source of the
    Commission's restriction, for its cited copy."""
    eu_text = ""
    with db.session() as session:
        OrganisationRepository(session).apply([e.organisation for e in batch.organisations], actor=DEMO_ACTOR,
                                              now=now)
        restrictions = RestrictionRepository(session)
        for parsed in batch.restrictions:
            restrictions.apply(parsed, actor=DEMO_ACTOR, now=now, source_path=parsed.source)
            if parsed.restriction.id == EU_RESTRICTION:
                eu_text = Path(parsed.source).read_text(encoding="utf-8")
        adoptions = AdoptionRepository(session)
        stored = {parsed.restriction.id for parsed in batch.restrictions}
        for organisation, adopted, note in _ADOPTIONS:
            if "be-federal-tiktok-2023" in stored:
                adoptions.record("be-federal-tiktok-2023", organisation, adopted=adopted, actor=DEMO_ACTOR,
                                 now=now + dt.timedelta(hours=1), note=note)
        context = load_context(session)
        evaluate_rules(session, context, context.rules, now + dt.timedelta(hours=1))
    return eu_text


def _store_assessment(db: Database, catalog: Catalog, eu_text: str, examples: Path, now: dt.datetime,
                      ) -> tuple[str, bool]:
    """`appban assess --store` of the demo's TikTok build for the Commission, then a new version of the
    Commission's restriction whose evidence cites it (a demo copy: examples/ is not touched)."""
    assessment = assess(io.BytesIO(tiktok_apk()), "tiktok-37.7.3-demo.apk", catalog)  # before the transaction
    with db.session() as session:
        stored = store_assessment(session, assessment, organisation=DEMO_ORGANISATION, actor=DEMO_ACTOR, now=now)
    record = stored.record
    if not eu_text or "\nevidence:\n" not in eu_text:
        return record.id, False
    version = record.version_name or record.version_code or ""
    cited = eu_text.replace("\nevidence:\n", "\nevidence:\n  - kind: assessment\n"
                            f"    title: {record.id} TikTok {version} risk assessment ({record.rating}, "
                            f"{record.score}/100)\n", 1)
    source = str(examples / "restrictions" / "eu-commission-tiktok-2023.yaml") + " (demo copy citing the assessment)"
    with db.session() as session:
        batch = read_batch([(source, cited)], known=OrganisationRepository(session).all(), catalog=catalog)
        for parsed in batch.restrictions:
            RestrictionRepository(session).apply(parsed, actor=DEMO_ACTOR, now=now + dt.timedelta(hours=1),
                                                 source_path=source)
        context = load_context(session)
        evaluate_rules(session, context, [EU_RESTRICTION], now + dt.timedelta(hours=1))
    return record.id, True


def _batches(days: Sequence[Day], every: int) -> list[list[Day]]:
    """The days imported together: the silent devices' early reports, the first day's snapshots, then `every`
    days at a time (a source's daily exports collected every few days)."""
    def key(day: Day) -> int:
        return -1 if day.index < 0 else 0 if day.index == 0 else 1 + (day.index - 1) // every
    return [list(group) for _, group in itertools.groupby(days, key)]


def _import_days(db: Database, contexts: ContextCache, fleet: Fleet, days: Sequence[Day]) -> None:
    """Days of reports imported as one file (`appban import`) at the time of the last, the exemptions granted on
    those days (`appban exemption grant`), and the deadlines passed by then moved on (as `appban report`
    does). Each report keeps its own time: a grace period starts when a device was seen with the app."""
    at = days[-1].at
    indices = {day.index for day in days}
    reports = [report for day in days for report in day.reports]
    with db.session() as session:
        context = contexts.get(session)
        if reports:
            import_stream(session, context, _Reports(reports), io.BytesIO(), f"demo inventory {at:%Y-%m-%d}",
                          ReportDefaults(), at)
        for planned in fleet.exemptions:
            if planned.day not in indices:
                continue
            granted = at + dt.timedelta(minutes=5)
            exemption = Exemption(id=planned.id, restriction=planned.restriction, reason=planned.reason,
                                  approver=planned.approver, ends=planned.ends, device=planned.device,
                                  holder=planned.holder)
            ExemptionRepository(session).grant(exemption, actor=DEMO_ACTOR, now=granted)
            devices = ({exemption.device} if exemption.device else
                       DeviceRepository(session).ids_of_holder(exemption.holder or ""))
            evaluate_pairs(session, context, [(device, exemption.restriction) for device in sorted(devices)],
                           granted)
        refresh_due(session, context, at + dt.timedelta(minutes=10))


def _assign_holders(db: Database, contexts: ContextCache, fleet: Fleet) -> None:
    """`appban holders import` of the fleet's holder map: names and languages for the notices."""
    holders = {holder.email: holder for holder in fleet.holders}
    where = Location("demo holder map")
    assignments = [HolderAssignment(device_id=device.id, email=device.holder, name=holders[device.holder].name,
                                    language=holders[device.holder].language, where=where)
                   for device in fleet.devices]
    with db.session() as session:
        assign_holders(session, contexts.get(session), assignments, source="demo holder map", actor=DEMO_ACTOR,
                       now=fleet.end + dt.timedelta(minutes=20))


def _finish(db: Database, contexts: ContextCache, silent: Sequence[str], end: dt.datetime,
            ) -> tuple[str, str, tuple[str, str] | None, Counter[str]]:
    """The devices gone silent judged again at the end (their inventories are now too old: unknown), the
    deadlines passed moved on, the token and the login. Every other device was judged at its last report or
    deadline, so this is what `evaluate_rules` over every restriction would find, at a fraction of the cost."""
    at = end + dt.timedelta(minutes=30)
    with db.session() as session:
        context = contexts.get(session)
        evaluate_pairs(session, context, [(device, rule) for device in silent for rule in context.rules], at)
        refresh_due(session, context, at)
        info, secret = TokenRepository(session).create(name=DEMO_TOKEN_NAME, organisation=DEMO_ORGANISATION,
                                                       role=Role.ADMIN, expires=None, actor=DEMO_ACTOR, now=at)
        login = _create_demo_login(session, at)
        states = Counter(str(stored.verdict.state)
                         for stored in FindingRepository(session).get_for_restriction(EU_RESTRICTION).values())
    return info.id, secret, login, states


def _create_demo_login(session: Session, now: dt.datetime) -> tuple[str, str] | None:
    """The dashboard user `admin@eu-commission`, an admin of the Commission, with a random password."""
    password = secrets.token_urlsafe(12)
    UserRepository(session).create(username=DEMO_LOGIN, organisation=DEMO_ORGANISATION, role=Role.ADMIN,
                                   password=password, actor=DEMO_ACTOR, now=now)
    return DEMO_LOGIN, password


def state_counts(states: Counter[str]) -> str:
    """`12 grace, 340 non_compliant, ...` in the order of FindingState."""
    return ", ".join(f"{states[str(s)]} {s}" for s in FindingState if states[str(s)])
