"""What appban knows of one device's apps, folded from the reports of its sources.

A device's inventory keeps, for every app seen on it, since when the app has been continuously present:
the grace period of a restriction starts when *that device* was first seen breaking it (a phone that installs
TikTok in June gets its own grace period), which is the earliest `since` of its banned apps. Folding a report
is a pure function, so the incremental engine and the full re-evaluation read the same inventory.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from appban.inventory.interface import DeviceReport, ReportKind, Visibility
from appban.model import App

__all__ = ["DeviceInventory", "fold_report"]

_APP_OF = operator.attrgetter("app")


@dataclass(frozen=True, slots=True)
class DeviceInventory:
    """The apps on a device as of `observed_at`, each with the time it was first seen in the current run."""

    device: str
    observed_at: dt.datetime
    visibility: Visibility
    apps: Mapping[App, dt.datetime] = field(default_factory=lambda: MappingProxyType({}))

    def holds(self, banned: frozenset[App]) -> dict[App, dt.datetime]:
        """The banned apps present, with when each was first seen."""
        if len(banned) < len(self.apps):
            return {app: self.apps[app] for app in banned if app in self.apps}
        return {app: since for app, since in self.apps.items() if app in banned}


def fold_report(previous: DeviceInventory | None, report: DeviceReport) -> DeviceInventory | None:
    """The inventory after a report, or None when the report is not newer than what is known.

    Reports are dated: an older (or equally old) report never overwrites a newer one, so two sources reporting
    the same device out of order end with the newest state.
    """
    if previous is not None and report.observed_at <= previous.observed_at:
        return None
    before: Mapping[App, dt.datetime] = previous.apps if previous is not None else {}
    current: dict[App, dt.datetime]
    if report.kind is ReportKind.SNAPSHOT and not before:  # a first report (an import's common case), in C
        current = dict.fromkeys(map(_APP_OF, report.apps), report.observed_at)
    elif report.kind is ReportKind.SNAPSHOT:
        current = {entry.app: before.get(entry.app, report.observed_at) for entry in report.apps}
    else:
        removed = set(report.removed)
        current = {app: since for app, since in before.items() if app not in removed}
        for entry in report.apps:
            current.setdefault(entry.app, report.observed_at)
    return DeviceInventory(device=report.device_id, observed_at=report.observed_at, visibility=report.visibility,
                           apps=MappingProxyType(current))
