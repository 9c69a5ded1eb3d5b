"""Findings in the store: the current state of every (device, restriction) pair that is not compliant, and
the history of every change of state.

Findings are sparse, as in the engine (appban.compliance.engine): a pair without a row is compliant or not
covered. `apply` persists the engine's changes: it writes, rewrites or removes rows and appends one event per
change of state (or of the "shadow" mark), with "compliant or not covered" written `compliant` on either
side. A change that keeps the state but moves the reason or the deadline rewrites the row without an event,
and keeps `since`, the time the pair entered its state. Every device whose stored findings changed gets a
row in `gate_changes`, in the same transaction, so the gate's table follows (appban.gate).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Row, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from appban.compliance.engine import Change, Key
from appban.compliance.evaluate import Verdict
from appban.model import App, Finding, FindingState, Funding, Ownership, Platform
from appban.store.bulk import BATCH, COPY_FROM, NULL, among, chunked, copy_lines, copy_text, copy_time, insert_rows
from appban.store.devices import Profile
from appban.store.tables import Base, DeviceRow, FindingEventRow, FindingRow, GateChangeRow, UTCDateTime

__all__ = ["FindingEvent", "FindingRepository", "StoredFinding"]

_Row: TypeAlias = "Row[*tuple[Any, ...]]"  # a result row of any columns

_COLUMNS = (FindingRow.device_id, FindingRow.restriction_id, FindingRow.state, FindingRow.reason,
            FindingRow.deadline, FindingRow.apps, FindingRow.shadow, FindingRow.since,
            FindingRow.restriction_version)
# States whose deadline is a moment when the pair moves on by itself: a grace period or an exemption ends.
# A non-compliant finding's deadline is the one it already passed.
_PENDING = tuple(state.value for state in FindingState
                 if state not in (FindingState.COMPLIANT, FindingState.NON_COMPLIANT))


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A stored finding: the engine's verdict, since when the pair is in this state, and the version of the
    restriction that produced it."""

    verdict: Verdict
    since: dt.datetime
    restriction_version: int

    def finding(self, device: str, restriction: str) -> Finding:
        """As the glossary's `Finding`."""
        v = self.verdict
        return Finding(device=device, restriction=restriction, state=v.state, since=self.since,
                       deadline=v.deadline, apps=v.apps, reason=v.reason, shadow=v.shadow)


@dataclass(frozen=True, slots=True)
class FindingEvent:
    """One change of a pair's state; `compliant` stands for "compliant or not covered"."""

    device: str
    restriction: str
    at: dt.datetime
    state_from: FindingState | None
    state_to: FindingState
    shadow: bool


class FindingRepository:
    """Findings and their history in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get_for_devices(self, ids: Iterable[str]) -> dict[Key, StoredFinding]:
        """Every stored finding of these devices."""
        out: dict[Key, StoredFinding] = {}
        for chunk in chunked(set(ids)):
            out.update(_keyed(self._session.execute(select(*_COLUMNS).where(among(FindingRow.device_id, chunk)))))
        return out

    def get_for_restriction(self, restriction_id: str) -> dict[Key, StoredFinding]:
        """Every stored finding of one restriction."""
        return dict(_keyed(self._session.execute(
            select(*_COLUMNS).where(FindingRow.restriction_id == restriction_id))))

    def get_pairs(self, keys: Iterable[Key]) -> dict[Key, StoredFinding]:
        """The stored findings among these (device, restriction) pairs."""
        return {key: _stored(row) for key, row in self._rows(keys).items()}

    def apply(self, changes: Sequence[Change], *, now: dt.datetime, versions: Mapping[str, int],
              befores_are_stored: bool = False) -> int:
        """Persist the engine's changes and return the number of events written.

        Several changes of one pair collapse into the last one. `versions` gives the restriction version in
        force (restriction id -> version), recorded with each finding written. `befores_are_stored` says the
        changes come from an engine restored from this transaction's findings, so a pair whose first change
        starts from nothing has no row to look up: a new restriction's 50,000 first findings need no reads.
        """
        final: dict[Key, Verdict | None] = {}
        unstored: set[Key] = set()
        for change in changes:
            key = (change.device, change.restriction)
            if key not in final and befores_are_stored and change.before is None:
                unstored.add(key)
            final[key] = change.after
        stored = self._rows(key for key in final if key not in unstored)
        removed: list[Key] = []
        new: list[dict[str, Any]] = []
        rewritten: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for key, after in final.items():
            row = stored.get(key)
            if after is None or after.state is FindingState.COMPLIANT:
                if row is not None:
                    removed.append(key)
                    events.append(_event(key, now, row.state, FindingState.COMPLIANT.value, row.shadow))
                continue
            version = versions.get(key[1], row.restriction_version if row is not None else 0)
            values = {"device_id": key[0], "restriction_id": key[1], "state": after.state.value,
                      "reason": after.reason, "deadline": after.deadline, "apps": _apps_text(after.apps),
                      "shadow": after.shadow, "restriction_version": version}
            if row is None:
                new.append(values | {"since": now})
                events.append(_event(key, now, FindingState.COMPLIANT.value, after.state.value, after.shadow))
                continue
            values["since"] = row.since if row.state == after.state.value else now
            if any(values[field] != getattr(row, field) for field in values):
                rewritten.append(values)
            if row.state != after.state.value or row.shadow != after.shadow:
                events.append(_event(key, now, row.state, after.state.value, after.shadow))
        self._delete(removed)
        touched = {key[0] for key in removed} | {row["device_id"] for row in new} | {
            row["device_id"] for row in rewritten}
        gates = [{"device_id": device, "at": now} for device in sorted(touched)]
        write = _copy_text_rows if self._session.get_bind().dialect.name == "postgresql" else insert_rows
        write(self._session, FindingRow, new)
        for batch in chunked(rewritten, BATCH):
            self._session.execute(update(FindingRow), batch)
        write(self._session, FindingEventRow, events)
        write(self._session, GateChangeRow, gates)
        return len(events)

    def counts(self, restriction_id: str | None = None, organisations: Iterable[str] | None = None, *,
               shadow: bool | None = None) -> dict[tuple[str, FindingState], int]:
        """How many stored findings per (restriction, state): of one restriction, of devices of some
        organisations, and shadow or not, when asked. Compliant pairs are not stored, so never counted."""
        query = (select(FindingRow.restriction_id, FindingRow.state, func.count())
                 .group_by(FindingRow.restriction_id, FindingRow.state))
        if restriction_id is not None:
            query = query.where(FindingRow.restriction_id == restriction_id)
        if shadow is not None:
            query = query.where(FindingRow.shadow.is_(shadow))
        queries = [query]
        if organisations is not None:
            joined = query.join(DeviceRow, DeviceRow.id == FindingRow.device_id)
            queries = [joined.where(DeviceRow.organisation_id.in_(chunk)) for chunk in chunked(set(organisations))]
        totals: Counter[tuple[str, FindingState]] = Counter()
        for each in queries:
            for rule, state, count in self._session.execute(each):
                totals[(rule, FindingState(state))] += count
        return dict(totals)

    def counts_by_profile(self, organisations: Collection[str] | None = None,
                          ) -> dict[tuple[str, FindingState, Profile], int]:
        """How many stored findings (shadow or not) per (restriction, state, device profile), the profile being
        the device's (organisation, platform, ownership, funding, enrolled) as `DeviceRepository.profile_counts`
        groups them: counted in the database, so a scope can be applied to each group in Python."""
        columns = (FindingRow.restriction_id, FindingRow.state, DeviceRow.organisation_id, DeviceRow.platform,
                   DeviceRow.ownership, DeviceRow.funding, DeviceRow.enrolled)
        query = (select(*columns, func.count()).join(DeviceRow, DeviceRow.id == FindingRow.device_id)
                 .group_by(*columns))
        queries = [query] if organisations is None else [
            query.where(DeviceRow.organisation_id.in_(chunk)) for chunk in chunked(sorted(set(organisations)))]
        out: dict[tuple[str, FindingState, Profile], int] = {}
        for each in queries:
            for rule, state, organisation, platform, ownership, funding, enrolled, count in self._session.execute(each):
                key = (rule, FindingState(state),
                       (organisation, Platform(platform), Ownership(ownership), Funding(funding), bool(enrolled)))
                out[key] = out.get(key, 0) + count
        return out

    def trend_changes(self, organisations: Collection[str] | None, states: Collection[FindingState],
                      cutoff: dt.datetime, days: int,
                      ) -> tuple[Counter[FindingState], Counter[tuple[int, str | None, str]]]:
        """The non-shadow history of the devices of these organisations (None: all), as far as `states` go:
        how many pairs were in each of `states` just before `cutoff` (their last non-shadow event before it),
        and how many non-shadow changes (state before, state after) happened on each of the `days` days from
        `cutoff` on, keyed (day, before, after) with day 0 the 24 hours from `cutoff`, kept only when either
        side is one of `states`. The history is walked and counted in the database (a window over each pair's
        events), so only counts are read."""
        wanted = sorted(state.value for state in states)
        ordering = (FindingEventRow.at, FindingEventRow.id)
        pair = (FindingEventRow.device_id, FindingEventRow.restriction_id)
        walked = (select(FindingEventRow.at, FindingEventRow.state_to,
                         func.lag(FindingEventRow.state_to).over(partition_by=pair, order_by=ordering).label("prev"),
                         func.lead(FindingEventRow.at, type_=UTCDateTime()).over(
                             partition_by=pair, order_by=ordering).label("next_at"))
                  .where(FindingEventRow.shadow.is_(False)))
        subqueries = [walked] if organisations is None else [
            walked.join(DeviceRow, DeviceRow.id == FindingEventRow.device_id)
            .where(DeviceRow.organisation_id.in_(chunk)) for chunk in chunked(sorted(set(organisations)))]
        before: Counter[FindingState] = Counter()
        changes: Counter[tuple[int, str | None, str]] = Counter()
        for each in subqueries:
            events = each.subquery()
            settled = (select(events.c.state_to, func.count())
                       .where(events.c.at < cutoff, events.c.state_to.in_(wanted),
                              or_(events.c.next_at.is_(None), events.c.next_at >= cutoff))
                       .group_by(events.c.state_to))
            for state, count in self._session.execute(settled):
                before[FindingState(state)] += count
            if days <= 0:
                continue
            day = case(*((events.c.at < cutoff + dt.timedelta(days=n + 1), n) for n in range(days)), else_=days)
            recent = (select(day, events.c.prev, events.c.state_to, func.count())
                      .where(events.c.at >= cutoff, events.c.at < cutoff + dt.timedelta(days=days),
                             or_(events.c.prev.in_(wanted), events.c.state_to.in_(wanted)))
                      .group_by(day, events.c.prev, events.c.state_to))
            for index, prev, to, count in self._session.execute(recent):
                changes[(int(index), prev, to)] += count
        return before, changes

    def page(self, *, organisations: Collection[str] | None = None, restriction_id: str | None = None,
             state: str | None = None, device_id: str | None = None, shadow: bool | None = None,
             order: str = "device", descending: bool = False, offset: int = 0, limit: int = 50,
             ) -> tuple[list[tuple[str, str, str, StoredFinding]], int]:
        """One page of (device, restriction, the device's organisation, finding) that match, and how many match.

        `organisations` None means all; `order` is `device`, `restriction`, `state`, `since` or `deadline`
        (findings without a deadline last), ties broken by device and restriction.
        """
        conditions: list[ColumnElement[bool]] = []
        if organisations is not None:
            conditions.append(among(DeviceRow.organisation_id, sorted(organisations)))
        for column, value in ((FindingRow.restriction_id, restriction_id), (FindingRow.state, state),
                              (FindingRow.device_id, device_id)):
            if value is not None:
                conditions.append(column == value)
        if shadow is not None:
            conditions.append(FindingRow.shadow.is_(shadow))
        joined = select(func.count()).select_from(FindingRow).join(DeviceRow, DeviceRow.id == FindingRow.device_id)
        total = self._session.scalar(joined.where(*conditions)) or 0
        columns = {"device": FindingRow.device_id, "restriction": FindingRow.restriction_id,
                   "state": FindingRow.state, "since": FindingRow.since, "deadline": FindingRow.deadline}
        if order not in columns:
            raise ValueError(f"cannot order findings by {order!r}")
        by = columns[order]
        keys: list[ColumnElement[Any]] = [(by.desc() if descending else by.asc()).nulls_last()]
        keys += [FindingRow.device_id.desc(), FindingRow.restriction_id.desc()] if descending else [
            FindingRow.device_id.asc(), FindingRow.restriction_id.asc()]
        query = (select(*_COLUMNS, DeviceRow.organisation_id).join(DeviceRow, DeviceRow.id == FindingRow.device_id)
                 .where(*conditions).order_by(*keys).offset(offset).limit(limit))
        return [(row.device_id, row.restriction_id, row.organisation_id, _stored(row))
                for row in self._session.execute(query)], total

    def events(self, restriction_id: str | None = None, since: dt.datetime | None = None, *,
               device: str | None = None, newest_first: bool = False, limit: int | None = None) -> list[FindingEvent]:
        """The history of changes (of one restriction, of one device, from `since` on, when asked), oldest first
        (or newest first, at most `limit`: a device page shows its latest changes)."""
        query = select(FindingEventRow.device_id, FindingEventRow.restriction_id, FindingEventRow.at,
                       FindingEventRow.state_from, FindingEventRow.state_to, FindingEventRow.shadow)
        if restriction_id is not None:
            query = query.where(FindingEventRow.restriction_id == restriction_id)
        if device is not None:
            query = query.where(FindingEventRow.device_id == device)
        if since is not None:
            query = query.where(FindingEventRow.at >= since)
        order = ((FindingEventRow.at.desc(), FindingEventRow.id.desc()) if newest_first
                 else (FindingEventRow.at, FindingEventRow.id))
        return [FindingEvent(device=row.device_id, restriction=row.restriction_id, at=row.at,
                             state_from=None if row.state_from is None else FindingState(row.state_from),
                             state_to=FindingState(row.state_to), shadow=row.shadow)
                for row in self._session.execute(query.order_by(*order).limit(limit))]

    def due(self, now: dt.datetime) -> list[Key]:
        """The pairs whose deadline has come and that move on by themselves then (a grace period or an
        exemption ended), by device and restriction."""
        query = (select(FindingRow.device_id, FindingRow.restriction_id)
                 .where(FindingRow.state.in_(_PENDING), FindingRow.deadline <= now)
                 .order_by(FindingRow.device_id, FindingRow.restriction_id))
        return [(device, rule) for device, rule in self._session.execute(query)]

    def _rows(self, keys: Iterable[Key]) -> dict[Key, _Row]:
        by_rule: dict[str, set[str]] = defaultdict(set)
        for device, rule in keys:
            by_rule[rule].add(device)
        out: dict[Key, _Row] = {}
        for rule, devices in sorted(by_rule.items()):
            for chunk in chunked(sorted(devices)):
                for row in self._session.execute(select(*_COLUMNS).where(FindingRow.restriction_id == rule,
                                                                          among(FindingRow.device_id, chunk))):
                    out[(row.device_id, row.restriction_id)] = row
        return out

    def _delete(self, keys: Iterable[Key]) -> None:
        by_rule: dict[str, list[str]] = defaultdict(list)
        for device, rule in keys:
            by_rule[rule].append(device)
        for rule, devices in sorted(by_rule.items()):
            for chunk in chunked(devices):
                self._session.execute(delete(FindingRow)
                                      .where(FindingRow.restriction_id == rule, among(FindingRow.device_id, chunk))
                                      .execution_options(synchronize_session=False))


_FINDING_NAMES = ("device_id", "restriction_id", "state", "reason", "deadline", "apps", "shadow",
                  "restriction_version", "since")
_EVENT_NAMES = ("device_id", "restriction_id", "at", "state_from", "state_to", "shadow")
_GATE_NAMES = ("device_id", "at")


def _copy_text_rows(session: Session, entity: type[Base], rows: Iterable[Mapping[str, Any]]) -> int:
    """PostgreSQL: rows of `apply` (findings, events or gate changes) by COPY, each line one f-string.

    A new restriction's first findings are tens of thousands of rows, each with an event and a gate change:
    formatting them as text costs a fraction of handing psycopg each value to adapt (`insert_rows`). A handful
    of rows (one device's report) still go by executemany, where COPY's round trips cost more.
    """
    rows = list(rows)
    if len(rows) < COPY_FROM:
        return insert_rows(session, entity, rows)
    times: dict[dt.datetime | None, str] = {None: NULL}

    def when(value: dt.datetime | None) -> str:
        text = times.get(value)
        if text is None:
            assert value is not None
            text = times[value] = copy_time(value)
        return text

    def word(value: str | None) -> str:
        return NULL if value is None else copy_text(value)

    lines: Iterable[str]
    names: tuple[str, ...]
    if entity is FindingRow:
        names = _FINDING_NAMES
        lines = (f"{copy_text(r['device_id'])}\t{copy_text(r['restriction_id'])}\t{copy_text(r['state'])}\t"
                 f"{copy_text(r['reason'])}\t{when(r['deadline'])}\t{copy_text(r['apps'])}\t"
                 f"{'t' if r['shadow'] else 'f'}\t{int(r['restriction_version'])}\t{when(r['since'])}\n"
                 for r in rows)
    elif entity is FindingEventRow:
        names = _EVENT_NAMES
        lines = (f"{copy_text(r['device_id'])}\t{copy_text(r['restriction_id'])}\t{when(r['at'])}\t"
                 f"{word(r['state_from'])}\t{copy_text(r['state_to'])}\t{'t' if r['shadow'] else 'f'}\n"
                 for r in rows)
    else:
        names = _GATE_NAMES
        lines = (f"{copy_text(r['device_id'])}\t{when(r['at'])}\n" for r in rows)
    copy_lines(session, entity, names, lines)
    return len(rows)


def _keyed(rows: Iterable[_Row]) -> Iterable[tuple[Key, StoredFinding]]:
    for row in rows:
        yield (row.device_id, row.restriction_id), _stored(row)


def _stored(row: _Row) -> StoredFinding:
    verdict = Verdict(state=FindingState(row.state), reason=row.reason, deadline=row.deadline,
                      apps=_apps(row.apps), shadow=row.shadow)
    return StoredFinding(verdict=verdict, since=row.since, restriction_version=row.restriction_version)


@functools.lru_cache(maxsize=4096)
def _apps_text(apps: frozenset[App]) -> str:
    """The `apps` column of a finding; a fleet's findings name a handful of distinct sets of apps."""
    return json.dumps(sorted(str(app) for app in apps), ensure_ascii=False, separators=(",", ":"))


def apps_from_text(text: str) -> frozenset[App]:
    """The apps of a stored finding (its `apps` column)."""
    return _apps(text)


@functools.lru_cache(maxsize=4096)
def _apps(text: str) -> frozenset[App]:
    out: set[App] = set()
    for item in json.loads(text):
        platform, _, identifier = str(item).partition(":")
        out.add(App(Platform(platform), identifier))
    return frozenset(out)


def _event(key: Key, at: dt.datetime, state_from: str, state_to: str, shadow: bool) -> dict[str, Any]:
    return {"device_id": key[0], "restriction_id": key[1], "at": at, "state_from": state_from,
            "state_to": state_to, "shadow": shadow}
