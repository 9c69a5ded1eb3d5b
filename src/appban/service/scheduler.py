"""The scheduler behind `appban worker`: what time alone changes, and the notices it calls for.

Each round, in one transaction under the same PostgreSQL advisory lock as the gate's refresh (only one process
at a time does this part; on SQLite the transaction holds the single write lock):

1. time transitions: findings whose deadline passed (grace periods, exemptions: `refresh_due`), attestations
   that ran out, inventories that went stale since the last round, restrictions that came into force or went
   out of it;
2. the notices due now (appban.notify.compose), minus every item already recorded, enqueued.

Then, in transactions of `batch` messages each (1 by default), queued messages due for an attempt are claimed
(`FOR UPDATE SKIP LOCKED` on PostgreSQL: several workers take different ones), delivered, and marked sent, to be
retried later (exponential backoff) or dead. Every transition and every notice happens once, however many workers
run. The one exception is a crash between a message's delivery and its transaction's commit (the process
killed, the database gone): the message is still queued and the next round delivers it again, with the same
`Message-ID` and `X-Appban-Notice`, so the receiver can recognise it. One message per transaction keeps that to
at most one message per crash and worker (docs/notices.md, "Crashes").
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from appban.catalog import Catalog
from appban.compliance import Key
from appban.compliance.rules import start_of
from appban.model import App, FindingState
from appban.notify import (
    DeliveryError,
    Facts,
    OpenFinding,
    RetryPolicy,
    Settings,
    Transport,
    due_items,
    notices,
)
from appban.service.checkpoints import CheckpointSchedule
from appban.service.context import ContextCache, PolicyContext
from appban.service.evaluation import Outcome, evaluate_pairs, evaluate_rules, refresh_due
from appban.store import (
    AdoptionRepository,
    AttestationRepository,
    Database,
    DeviceRepository,
    FindingRepository,
    GateFeed,
    HolderRepository,
    NoticeRepository,
    OrganisationRepository,
    StoredFinding,
)

__all__ = ["OWNERS_VARIABLE", "Round", "Scheduler", "apply_transitions", "parse_owners"]

logger = logging.getLogger("appban.worker")

OWNERS_VARIABLE = "APPBAN_NOTICE_OWNERS"
LOOKBACK = dt.timedelta(days=31)  # how far back the first round looks for attestations and inventories that lapsed
_PAGE = 1_000


@dataclass(slots=True)
class Round:
    """What one round did."""

    transitions: int = 0  # findings moved on by time
    locked_out: bool = False  # another process held the lock: it does the transitions and composition
    enqueued: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    checkpoint: bool = False  # a signed checkpoint of the audit log was published


def parse_owners(text: str) -> dict[str, tuple[str, ...]]:
    """`org=addr,addr;org2=addr` -> {org: (addr, ...)}: where owner notices of each organisation go."""
    owners: dict[str, tuple[str, ...]] = {}
    for entry in text.split(";"):
        if not entry.strip():
            continue
        org, sep, addresses = entry.partition("=")
        emails = tuple(a.strip() for a in addresses.split(",") if a.strip())
        if not sep or not org.strip() or not emails or any("@" not in a for a in emails):
            raise ValueError(f"{OWNERS_VARIABLE}: {entry.strip()!r} is not `organisation=address[,address...]`")
        owners[org.strip()] = emails
    return owners


def apply_transitions(session: Session, context: PolicyContext, now: dt.datetime, since: dt.datetime) -> Outcome:
    """Store what time alone changed between `since` and `now` (idempotent: running it twice changes nothing)."""
    outcome = refresh_due(session, context, now)  # grace periods and exemptions that ended
    outcome.merge(evaluate_pairs(session, context, AttestationRepository(session).expiring(since, now), now))
    devices = DeviceRepository(session)
    stale = devices.ids_unseen(now, context.staleness) - devices.ids_unseen(since, context.staleness)
    if stale:  # compliant devices are not stored findings: those that went silent become unknown now
        outcome.merge(evaluate_pairs(session, context, [(d, r) for d in sorted(stale) for r in context.rules], now))
    with_findings = {rule for rule, _ in FindingRepository(session).counts()}
    moved: set[str] = set()
    for rule_id, rule in context.rules.items():
        began = since < start_of(rule.restriction.effective) <= now
        if (rule.in_force(now) and began) or (not rule.in_force(now) and rule_id in with_findings):
            moved.add(rule_id)
    if moved:
        outcome.merge(evaluate_rules(session, context, moved, now))
    return outcome


class Scheduler:
    """Runs rounds: transitions, composition, delivery. One per worker process; thread-safe for `stop`."""

    def __init__(self, database: Database, *, transport: Transport | None, link: Callable[[str], str],
                 owners: Mapping[str, tuple[str, ...]] | None = None, settings: Settings | None = None,
                 retry: RetryPolicy | None = None, contexts: ContextCache | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC), batch: int = 1,
                 checkpoints: CheckpointSchedule | None = None) -> None:
        self._database = database
        self._transport = transport
        self._link = link
        self._owners = dict(owners or {})
        self._settings = settings or Settings()
        self._retry = retry or RetryPolicy()
        self._contexts = contexts or ContextCache()
        self._clock = clock
        if batch < 1:
            raise ValueError("a delivery transaction needs at least one message")
        self._batch = batch  # messages per delivery transaction: what a crash may deliver twice
        self._since: dt.datetime | None = None
        self._stop = threading.Event()
        self._checkpoints = checkpoints  # signed audit log checkpoints published on a schedule

    def run_once(self, now: dt.datetime | None = None) -> Round:
        """One round as of `now` (the clock when not given)."""
        now = now or self._clock()
        since = self._since or now - LOOKBACK
        result = Round()
        with self._database.session() as session:
            if GateFeed(session).claim_refresh():
                context = self._contexts.get(session)
                result.transitions = apply_transitions(session, context, now, since).changes
                result.enqueued = self._compose(session, context, now)
            else:
                result.locked_out = True
        self._since = now
        self._deliver(now, result)
        if self._checkpoints is not None:
            result.checkpoint = self._checkpoints.publish_if_due(self._database, now) is not None
        if result.transitions or result.enqueued or result.sent or result.retried or result.dead:
            logger.info("worker: %d finding(s) moved on, %d notice(s) queued, %d sent, %d to retry, %d dead",
                        result.transitions, result.enqueued, result.sent, result.retried, result.dead)
        return result

    def run(self, interval: float) -> None:
        """Rounds every `interval` seconds until `stop`; a failed round is logged and the next one tries again."""
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as error:  # the database may be away: try again next round
                logger.warning("worker: round failed: %s: %s", type(error).__name__, error)
            self._stop.wait(interval)

    def stop(self) -> None:
        self._stop.set()

    # --- composition ---------------------------------------------------------------------------------------

    def _compose(self, session: Session, context: PolicyContext, now: dt.datetime) -> int:
        repository = NoticeRepository(session)
        findings = FindingRepository(session)
        stored: dict[Key, StoredFinding] = {}
        for state in (FindingState.GRACE, FindingState.NON_COMPLIANT):
            offset = 0
            while True:
                page, _ = findings.page(state=state.value, shadow=False, offset=offset, limit=_PAGE)
                stored.update({(device, rule): item for device, rule, _, item in page})
                if len(page) < _PAGE:
                    break
                offset += _PAGE
        cutoffs = repository.open_cutoffs()
        pairs = [(key.device, key.restriction) for key in cutoffs if key.device and key.restriction]
        stored.update(findings.get_pairs(pairs))
        device_ids = {device for device, _ in stored} | {device for device, _ in pairs}
        devices = DeviceRepository(session).get_many(device_ids)
        holders = HolderRepository(session).get_many({d.holder for d in devices.values() if d.holder is not None})
        organisations = {org.id: org for org in OrganisationRepository(session).all()}
        decided: dict[str, set[str]] = defaultdict(set)
        for adoption in AdoptionRepository(session).all():
            decided[adoption.restriction].add(adoption.organisation)
        summaries = {org: findings.counts(organisations=context.tree.subtree(org), shadow=False)
                     for org in self._owners if org in organisations}
        facts = Facts(
            now=now, restrictions={rule_id: rule.restriction for rule_id, rule in context.rules.items()},
            findings=[_open(context.catalog, device, rule, item) for (device, rule), item in sorted(stored.items())],
            devices=devices, holders=holders, organisations=organisations, link=self._link, cutoffs=cutoffs,
            owners=self._owners, decided={r: frozenset(orgs) for r, orgs in decided.items()},
            summaries={org: {(rule, state): n for (rule, state), n in counts.items()}
                       for org, counts in summaries.items()},
            settings=self._settings)
        items = due_items(facts)
        done = repository.recorded(item.key for item in items)
        return repository.enqueue(notices([item for item in items if item.key not in done], facts), now)

    # --- delivery ------------------------------------------------------------------------------------------

    def _deliver(self, now: dt.datetime, result: Round) -> None:
        if self._transport is None:
            return
        while True:
            with self._database.session() as session:
                repository = NoticeRepository(session)
                claimed = repository.claim(now, self._batch)
                for record in claimed:
                    try:
                        self._transport.send(record.notice)
                    except DeliveryError as error:
                        retry_at = None if error.permanent else self._retry.next_attempt(record.attempts + 1, now)
                        repository.mark_failed(record.id, str(error), retry_at)
                        if retry_at is None:
                            result.dead += 1
                            logger.error("worker: notice %d to %s is dead after %d attempt(s): %s", record.id,
                                         record.notice.recipient, record.attempts + 1, error)
                        else:
                            result.retried += 1
                    else:
                        repository.mark_sent(record.id, now)
                        result.sent += 1
            if len(claimed) < self._batch:
                return


def _open(catalog: Catalog, device: str, restriction: str, item: StoredFinding) -> OpenFinding:
    verdict = item.verdict
    apps = sorted(verdict.apps, key=lambda app: (app.platform, app.identifier))
    return OpenFinding(device=device, restriction=restriction, state=verdict.state, deadline=verdict.deadline,
                       since=item.since, apps=tuple(_display(catalog, app) for app in apps),
                       app_names=tuple(dict.fromkeys(_family(catalog, app) for app in apps)), shadow=verdict.shadow)


def _display(catalog: Catalog, app: App) -> str:
    family = catalog.family_of(app)
    return f"{family.name} ({app.identifier})" if family is not None else app.identifier


def _family(catalog: Catalog, app: App) -> str:
    family = catalog.family_of(app)
    return family.name if family is not None else app.identifier
