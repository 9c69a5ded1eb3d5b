"""Which notices are due, given the findings, restrictions and holders as they are at `now`. Pure.

`due_items` lists what each holder and owner should be told now, one `Item` per (recipient, kind, restriction,
device, deadline). The caller drops the items whose key the store already holds (`compose` does it with the
set it is given), so nothing is sent twice however often this runs; `notices` groups what is left per
recipient (several items make one digest) and renders it in the recipient's language.

Holder notices follow a device's finding against one restriction:
- `grace`: the finding is in its grace period (a new deadline is a new notice: reinstalling starts over);
- `reminder`: the deadline is less than `reminder_before` away, and the grace period began before that;
- `cutoff`: the deadline passed (`non_compliant`);
- `restored`: a device that was told it was cut off no longer is (its finding is gone, or no longer denies).
Findings of restrictions in shadow mode tell nobody anything. Owner notices go to the addresses configured for
an organisation: reviews and expiries of its restrictions within `owner_ahead` (and overdue reviews), its
recommended restrictions that a child organisation has not decided on, and a weekly summary.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from appban.model import (
    ChildPolicy,
    Device,
    FindingState,
    Holder,
    Lifecycle,
    Organisation,
    Restriction,
    UnknownCounts,
)
from appban.notify.interface import DedupKey, Notice, NoticeKind
from appban.notify.render import DEFAULT_LANGUAGE, LANGUAGES, Item, render
from appban.policy import DueKind, due, lifecycle

__all__ = [
    "COUNTRY_LANGUAGES",
    "Facts",
    "OpenFinding",
    "Settings",
    "compose",
    "due_items",
    "language_of",
    "notices",
    "week_start",
]

# The language of an organisation's notices, from its country (or its nearest ancestor's), when its holders
# have none of their own. Belgium has three official languages: set the holders' `language` there.
COUNTRY_LANGUAGES = {"DK": "da", "FR": "fr", "LU": "fr", "MC": "fr", "NL": "nl", "DE": "de", "AT": "de",
                     "LI": "de", "GB": "en", "IE": "en", "US": "en", "MT": "en"}


@dataclass(frozen=True, slots=True)
class Settings:
    reminder_before: dt.timedelta = dt.timedelta(days=3)
    owner_ahead: dt.timedelta = dt.timedelta(days=30)  # reviews and expiries announced this long before
    summaries: bool = True


@dataclass(frozen=True, slots=True)
class OpenFinding:
    """A stored finding that may concern its holder (grace, non_compliant, or any other for restorations)."""

    device: str
    restriction: str
    state: FindingState
    deadline: dt.datetime | None
    since: dt.datetime
    apps: tuple[str, ...] = ()  # display names: `TikTok (com.zhiliaoapp.musically)`
    app_names: tuple[str, ...] = ()  # family names: `TikTok`
    shadow: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything composition reads, as values."""

    now: dt.datetime
    restrictions: Mapping[str, Restriction]  # the latest version of each
    findings: Sequence[OpenFinding]  # grace and non_compliant ones, and those of devices cut off before
    devices: Mapping[str, Device]  # at least the devices of `findings` and `cutoffs`
    holders: Mapping[str, Holder]  # by e-mail address
    organisations: Mapping[str, Organisation]
    link: Callable[[str], str]  # a device's remediation link
    cutoffs: Sequence[DedupKey] = ()  # cut-off items recorded with no restoration yet
    owners: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # organisation -> owner addresses
    decided: Mapping[str, frozenset[str]] = field(default_factory=dict)  # restriction -> organisations decided
    summaries: Mapping[str, Mapping[tuple[str, FindingState], int]] = field(default_factory=dict)  # org -> counts
    settings: Settings = Settings()


def week_start(now: dt.datetime) -> dt.datetime:
    """Monday 00:00 UTC of `now`'s ISO week: the deadline a weekly summary is keyed by."""
    day = now.astimezone(dt.UTC).date()
    monday = day - dt.timedelta(days=day.weekday())
    return dt.datetime(monday.year, monday.month, monday.day, tzinfo=dt.UTC)


def _primary(tag: str | None) -> str | None:
    if not tag:
        return None
    primary = tag.replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def language_of(holder: Holder | None, organisation: str | None, organisations: Mapping[str, Organisation]) -> str:
    """The holder's language, else the organisation's (by its or its nearest ancestor's country), else English."""
    chosen = _primary(holder.language) if holder is not None else None
    if chosen is not None:
        return chosen
    seen: set[str] = set()
    while organisation is not None and organisation not in seen:
        seen.add(organisation)
        org = organisations.get(organisation)
        if org is None:
            break
        if org.country is not None and org.country.upper() in COUNTRY_LANGUAGES:
            return COUNTRY_LANGUAGES[org.country.upper()]
        organisation = org.parent
    return DEFAULT_LANGUAGE


def _denies(state: FindingState | None, restriction: Restriction | None) -> bool:
    """Whether a finding in this state still keeps the device cut off."""
    if state is FindingState.NON_COMPLIANT:
        return True
    return (state is FindingState.UNKNOWN and restriction is not None
            and restriction.unknown_counts_as is UnknownCounts.NON_COMPLIANT)


def _holder_items(facts: Facts) -> list[Item]:
    now, items = facts.now, []
    current = {(f.device, f.restriction): f for f in facts.findings}
    for finding in facts.findings:
        restriction = facts.restrictions.get(finding.restriction)
        device = facts.devices.get(finding.device)
        if (restriction is None or device is None or device.holder is None or finding.shadow
                or finding.deadline is None):
            continue
        kinds: list[NoticeKind] = []
        if finding.state is FindingState.GRACE and now < finding.deadline:
            kinds.append(NoticeKind.GRACE)
            remind_from = finding.deadline - facts.settings.reminder_before
            if now >= remind_from and finding.since < remind_from:
                kinds.append(NoticeKind.REMINDER)
        elif finding.state is FindingState.NON_COMPLIANT:
            kinds.append(NoticeKind.CUTOFF)
        for kind in kinds:
            key = DedupKey(device.holder, kind, restriction.id, device.id, finding.deadline)
            items.append(Item(key=key, restriction_id=restriction.id, restriction=restriction.title,
                              rationale=restriction.rationale, apps=finding.apps,
                              app_names=finding.app_names or finding.apps, device_id=device.id,
                              platform=str(device.platform), services=tuple(sorted(restriction.cuts)),
                              link=facts.link(device.id)))
    for cut in facts.cutoffs:
        if cut.restriction is None or cut.device is None:
            continue
        restriction = facts.restrictions.get(cut.restriction)
        now_finding = current.get((cut.device, cut.restriction))
        device = facts.devices.get(cut.device)
        if device is None:
            continue  # the device was removed: nobody to restore
        if now_finding is not None and _denies(now_finding.state, restriction):
            continue  # still cut off (perhaps under a new deadline)
        items.append(Item(key=DedupKey(cut.recipient, NoticeKind.RESTORED, cut.restriction, cut.device, cut.deadline),
                          restriction_id=cut.restriction,
                          restriction=restriction.title if restriction is not None else cut.restriction,
                          device_id=device.id, platform=str(device.platform),
                          services=tuple(sorted(restriction.cuts)) if restriction is not None else (),
                          link=facts.link(device.id)))
    return items


def _name(facts: Facts, organisation: str) -> str:
    org = facts.organisations.get(organisation)
    return org.name if org is not None else organisation


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _owner_items(facts: Facts) -> list[Item]:
    items: list[Item] = []
    today = facts.now.astimezone(dt.UTC).date()
    for entry in due(facts.restrictions.values(), today, facts.settings.owner_ahead):
        restriction = entry.restriction
        kind = NoticeKind.REVIEW if entry.kind is DueKind.REVIEW else NoticeKind.EXPIRY
        for recipient in facts.owners.get(restriction.issuer, ()):
            items.append(Item(key=DedupKey(recipient, kind, restriction.id, None, _at(entry.date)),
                              restriction_id=restriction.id, restriction=restriction.title, date=entry.date,
                              overdue=entry.overdue, issuer=_name(facts, restriction.issuer)))
    children: dict[str, list[str]] = defaultdict(list)
    for org in facts.organisations.values():
        if org.parent is not None:
            children[org.parent].append(org.id)
    for restriction in facts.restrictions.values():
        if (restriction.children is not ChildPolicy.RECOMMENDED
                or lifecycle(restriction, today) is not Lifecycle.ACTIVE):
            continue
        decided = facts.decided.get(restriction.id, frozenset())
        roots = restriction.scope.organisations or frozenset({restriction.issuer})
        for root in sorted(roots):
            for child in sorted(children.get(root, ())):
                if child in decided:
                    continue
                for recipient in facts.owners.get(child, ()):
                    items.append(Item(key=DedupKey(recipient, NoticeKind.ADOPTION, restriction.id, child,
                                                   _at(restriction.effective)),
                                      restriction_id=restriction.id, restriction=restriction.title,
                                      organisation=_name(facts, child), issuer=_name(facts, restriction.issuer)))
    if facts.settings.summaries:
        monday = week_start(facts.now)
        for organisation, recipients in sorted(facts.owners.items()):
            counts = facts.summaries.get(organisation, {})
            lines = tuple(sorted(((facts.restrictions[r].title if r in facts.restrictions else r), str(state), n)
                                 for (r, state), n in counts.items() if n))
            for recipient in recipients:
                items.append(Item(key=DedupKey(recipient, NoticeKind.SUMMARY, None, organisation, monday),
                                  organisation=_name(facts, organisation), date=monday.date(), counts=lines))
    return items


def due_items(facts: Facts) -> list[Item]:
    """Every item due now, before the ones already recorded are dropped; sorted by key."""
    return sorted(_holder_items(facts) + _owner_items(facts), key=lambda item: item.key)


def _recipient_organisation(item: Item, facts: Facts) -> str | None:
    if item.device_id and item.device_id in facts.devices:
        return facts.devices[item.device_id].organisation
    if item.kind in (NoticeKind.ADOPTION, NoticeKind.SUMMARY):
        return item.key.device
    restriction = facts.restrictions.get(item.restriction_id)
    return restriction.issuer if restriction is not None else None


def notices(items: Iterable[Item], facts: Facts) -> list[Notice]:
    """One notice per recipient, in their language; several items make a digest."""
    by_recipient: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_recipient[item.key.recipient].append(item)
    out: list[Notice] = []
    for recipient, group in sorted(by_recipient.items()):
        group.sort(key=lambda item: item.key)
        holder = facts.holders.get(recipient)
        language = language_of(holder, holder.organisation if holder is not None and holder.organisation
                               else _recipient_organisation(group[0], facts), facts.organisations)
        subject, text, html = render(language, holder.name if holder is not None else None, group)
        kinds = {item.kind for item in group}
        kind = kinds.pop() if len(kinds) == 1 else NoticeKind.DIGEST
        out.append(Notice(kind=kind, recipient=recipient, language=language, subject=subject, text=text, html=html,
                          keys=tuple(item.key for item in group)))
    return out


def compose(facts: Facts, recorded: Collection[DedupKey] = ()) -> list[Notice]:
    """The notices due now, leaving out every item whose key is in `recorded` (sent or queued before)."""
    done = set(recorded)
    return notices([item for item in due_items(facts) if item.key not in done], facts)
