"""The gate's decision: allow or deny one device for one service, from a table compiled in advance. Pure.

The gate answers every request a reverse proxy forwards, so the work is split in two. `compile_device` runs
when a device's findings or the restrictions change: it keeps only the findings that can matter at the gate
(a restriction in force that cuts some service), turns each into a clause with its texts written, and builds
every answer the device can get: per service, a short timeline of decisions that change only at grace
deadlines. `decide` then does dictionary look-ups and one comparison of times per deadline still ahead: a
device with nothing against it returns a shared, prebuilt answer.

Rules, in the order `decide` applies them:
- a device not in the table (or outside the asking token's organisations) is "not known to appban":
  denied, unless the table was built to allow unknown devices;
- a restriction affects a service only if the service is in its `cuts`; a request that names no service
  stands for every service (any cut applies);
- `non_compliant` denies; `grace` warns until its deadline and denies from the deadline on, by the clock
  of the request (no re-evaluation needed); `unknown` denies only where the restriction counts unknown
  as non-compliant, saying that the inventory is missing, stale or cannot see the apps;
- `compliant`, `advised` and `exempt` allow; shadow findings never deny, they are only noted.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from appban.model import FindingState, Platform, UnknownCounts

__all__ = [
    "ALLOWED",
    "Decision",
    "DecisionTable",
    "DeviceEntry",
    "DeviceInfo",
    "FindingInfo",
    "GateToken",
    "RestrictionInfo",
    "Result",
    "build_table",
    "compile_device",
    "decide",
    "header_text",
]

UNKNOWN_DEVICE = "device not known to appban"
UNKNOWN_REMEDIATION = "/remediate/"  # the general page: how to get a device known (enrolled)
MAX_HEADER_TEXT = 400  # reasons and warnings travel in response headers: keep them well under proxy limits
_NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)
_NOTHING: frozenset[str] = frozenset()


class Result(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class RestrictionInfo:
    """What the gate needs of a restriction in force: what it cuts and how to explain it."""

    id: str
    version: int
    title: str
    rationale: str
    cuts: frozenset[str]
    unknown_counts_as: UnknownCounts


@dataclass(frozen=True, slots=True)
class FindingInfo:
    """A stored finding as the gate keeps it; `apps` are display names, e.g. `TikTok (com.zhiliaoapp.musically)`."""

    restriction: str
    version: int
    state: FindingState
    reason: str
    deadline: dt.datetime | None
    apps: tuple[str, ...]
    shadow: bool


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as the gate keeps it, with every stored finding (compiled or not: restrictions change)."""

    id: str
    organisation: str
    holder: str | None
    platform: Platform
    findings: tuple[FindingInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for (device, service): what happened, why, and which restriction versions it rests on."""

    result: Result
    reason: str
    warning: str | None = None
    remediation: str | None = None  # a path (`/remediate/<token>`); the server makes it absolute
    restriction: str | None = None  # the restriction that denied
    versions: tuple[tuple[str, int], ...] = ()  # (restriction, version in force) of every finding that applied
    notes: tuple[str, ...] = ()  # shadow findings: what they would have done

    @property
    def allowed(self) -> bool:
        return self.result is Result.ALLOW


ALLOWED = Decision(Result.ALLOW, "no restriction in force cuts this service for this device")


class _Kind(IntEnum):
    """How a clause acts; the order is the order of precedence when several apply."""

    DENY = 0  # non-compliant, or unknown counted as non-compliant
    GRACE = 1  # warns before its deadline, denies from it on
    SHADOW = 2  # noted only


@dataclass(frozen=True, slots=True)
class _Clause:
    kind: _Kind
    services: frozenset[str]
    restriction: str
    version: int
    deadline: dt.datetime | None
    reason: str  # why it denies (DENY, and GRACE once the deadline passed)
    text: str  # GRACE: the warning; SHADOW: the note


# Decisions in force until a moment: `((until, decision), ...)`, the last one until the end of time.
Timeline = tuple[tuple[dt.datetime, Decision], ...]
_NO_ANSWERS: Mapping[str | None, Timeline] = {}


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """One device in the table: its information, the clauses compiled from it, and every answer it can get."""

    device: DeviceInfo
    organisation: str
    services: frozenset[str]  # every service some clause touches: any other service is allowed at once
    clauses: tuple[_Clause, ...]
    remediation: str | None
    allowed: Decision
    answers: Mapping[str | None, Timeline]  # by service in `services`, and None (every service)


@dataclass(frozen=True, slots=True)
class GateToken:
    """A valid `gate` token: which organisations' devices it may ask about (its organisation's subtree)."""

    id: str
    name: str
    organisation: str
    within: frozenset[str]
    expires: dt.datetime | None


@dataclass(frozen=True, slots=True)
class DecisionTable:
    """Everything the gate answers from. `devices` is replaced entry by entry by the one process that follows
    the store; each entry is immutable, so a reader sees a device's old entry or its new one, never a mix."""

    devices: dict[str, DeviceEntry]
    restrictions: Mapping[str, RestrictionInfo]
    tokens: Mapping[str, GateToken]  # by SHA-256 of the token (appban.access.token_hash)
    unknown: Decision


def header_text(text: str) -> str:
    """Printable ASCII on one line: reasons travel in HTTP headers, where proxies differ on anything else."""
    if not (text.isascii() and text.isprintable()):  # rare: accents, line breaks, control characters
        flat = unicodedata.normalize("NFKD", text)
        text = "".join(c if " " <= c <= "~" else (" " if c in "\t\r\n" else "") for c in flat
                       if not unicodedata.combining(c))
    cleaned = " ".join(text.split())
    return cleaned if len(cleaned) <= MAX_HEADER_TEXT else cleaned[:MAX_HEADER_TEXT - 3] + "..."


def compile_device(device: DeviceInfo, restrictions: Mapping[str, RestrictionInfo],
                   remediation: str | None) -> DeviceEntry:
    """The table entry of one device under the restrictions in force. `remediation` is the holder's page."""
    if not device.findings:
        return DeviceEntry(device, device.organisation, _NOTHING, (), remediation, ALLOWED, _NO_ANSWERS)
    clauses: list[_Clause] = []
    for finding in device.findings:
        restriction = restrictions.get(finding.restriction)
        if restriction is None or not restriction.cuts:
            continue  # not in force, or it cuts nothing: nothing to do at the gate
        clause = _clause(finding, restriction)
        if clause is not None:
            clauses.append(clause)
    clauses.sort(key=lambda c: (c.kind, c.deadline or _NEVER, c.restriction))
    if not clauses:
        return DeviceEntry(device, device.organisation, _NOTHING, (), remediation, ALLOWED, _NO_ANSWERS)
    services = frozenset().union(*(c.services for c in clauses))
    allowed = Decision(Result.ALLOW, ALLOWED.reason, remediation=remediation)
    answers: dict[str | None, Timeline] = {}
    shared: dict[tuple[int, ...], Timeline] = {}  # services that the same clauses cut get the same timeline
    for service in (*sorted(services), None):
        applicable = tuple(i for i, c in enumerate(clauses) if service is None or service in c.services)
        timeline = shared.get(applicable)
        if timeline is None:
            timeline = shared[applicable] = _timeline([clauses[i] for i in applicable], remediation, allowed)
        answers[service] = timeline
    return DeviceEntry(device, device.organisation, services, tuple(clauses), remediation, allowed, answers)


def build_table(entries: Iterable[DeviceEntry], restrictions: Mapping[str, RestrictionInfo],
                tokens: Mapping[str, GateToken], *, allow_unknown: bool) -> DecisionTable:
    unknown = Decision(Result.ALLOW if allow_unknown else Result.DENY, UNKNOWN_DEVICE,
                       remediation=UNKNOWN_REMEDIATION)
    return DecisionTable(devices={entry.device.id: entry for entry in entries}, restrictions=restrictions,
                         tokens=tokens, unknown=unknown)


def decide(table: DecisionTable, device_id: str, service: str | None, now: dt.datetime, *,
           within: frozenset[str] | None = None) -> Decision:
    """The decision for a device and a service (None: every service) at `now`.

    `within`, when given, is the set of organisations the asking token may see: devices elsewhere are
    treated as unknown, so a token learns nothing about other organisations' devices.
    """
    entry = table.devices.get(device_id)
    if entry is None or (within is not None and entry.organisation not in within):
        return table.unknown
    if not entry.clauses or (service is not None and service not in entry.services):
        return entry.allowed
    for until, decision in entry.answers[service]:
        if now < until:
            return decision
    return entry.allowed  # not reached: the last decision holds until the end of time


def _timeline(applicable: list[_Clause], remediation: str | None, allowed: Decision) -> Timeline:
    """Every decision from the clauses that apply to a service, in time order: answers change only when a grace
    deadline passes."""
    moments = sorted({c.deadline for c in applicable if c.kind is _Kind.GRACE and c.deadline is not None})
    out: list[tuple[dt.datetime, Decision]] = []
    for start, until in zip([_EPOCH, *moments], [*moments, _NEVER], strict=True):
        decision = _judge(applicable, start, remediation, allowed)
        if out and out[-1][1] == decision:
            out[-1] = (until, decision)
        else:
            out.append((until, decision))
    return tuple(out)


def _judge(clauses: list[_Clause], now: dt.datetime, remediation: str | None, allowed: Decision) -> Decision:
    """The decision from the clauses that apply, at a moment (used when compiling)."""
    denied: _Clause | None = None
    warning: _Clause | None = None
    versions: list[tuple[str, int]] = []
    notes: list[str] = []
    for clause in clauses:  # sorted: denials first, then grace by deadline, then shadow
        versions.append((clause.restriction, clause.version))
        if clause.kind is _Kind.SHADOW:
            notes.append(clause.text)
        elif denied is not None:
            continue
        elif clause.kind is _Kind.DENY or (clause.deadline is not None and now >= clause.deadline):
            denied = clause
        elif warning is None:
            warning = clause
    if denied is not None:
        return Decision(Result.DENY, denied.reason, None, remediation, denied.restriction, tuple(versions),
                        tuple(notes))
    if warning is None and not notes:
        return allowed
    return Decision(Result.ALLOW, ALLOWED.reason, warning.text if warning is not None else None, remediation,
                    None, tuple(versions), tuple(notes))


def _clause(finding: FindingInfo, restriction: RestrictionInfo) -> _Clause | None:
    title = restriction.title
    apps = ", ".join(finding.apps) or "the restricted apps"
    services = ", ".join(sorted(restriction.cuts))
    deadline = finding.deadline
    if finding.state is FindingState.NON_COMPLIANT:
        when = f" since {_minute(deadline)[:10]}" if deadline is not None else ""
        reason = f"{apps} must be removed from this device{when} ({title})"
        kind = _Kind.DENY
        deadline = None
        text = ""
    elif finding.state is FindingState.GRACE:
        if deadline is None:  # a grace period always has a deadline; without one, warn only
            deadline = _NEVER
        minute = _minute(deadline)
        reason = f"the time to remove {apps} ended {minute} UTC ({title})"
        text = f"remove {apps} by {minute} UTC or lose access to {services} ({title})"
        kind = _Kind.GRACE
    elif finding.state is FindingState.UNKNOWN and restriction.unknown_counts_as is UnknownCounts.NON_COMPLIANT:
        reason = (f"appban cannot confirm this device is free of apps banned by {title}: inventory missing, "
                  f"stale or not visible ({finding.reason})")
        kind = _Kind.DENY
        deadline = None
        text = ""
    else:
        return None  # compliant, advised, exempt, or unknown counted as compliant
    if finding.shadow:
        would = "deny" if kind is _Kind.DENY else "warn, then deny"
        return _Clause(_Kind.SHADOW, restriction.cuts, restriction.id, restriction.version, None, "",
                       header_text(f"shadow restriction {restriction.id} would {would}: {reason}"))
    return _Clause(kind, restriction.cuts, restriction.id, restriction.version, deadline, header_text(reason),
                   header_text(text))


def _minute(moment: dt.datetime) -> str:
    """`2023-03-15 09:30` in UTC (isoformat is several times cheaper than strftime, and this runs per device)."""
    return moment.astimezone(dt.UTC).isoformat(" ", "minutes")[:16]
