"""What the exporters to device-management systems share: which restrictions they carry, canonical JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from appban.export.interface import BannedApp, ExportInput, ExportRestriction
from appban.model import Platform

__all__ = ["Selection", "json_bytes", "select"]


@dataclass(frozen=True, slots=True)
class Selection:
    """The restrictions an MDM export enforces, the apps it blocks (one per identifier), and notes."""

    restrictions: tuple[ExportRestriction, ...]
    apps: tuple[BannedApp, ...]
    notes: tuple[str, ...]


def select(data: ExportInput, platforms: Iterable[Platform], target: str) -> Selection:
    """Enforced restrictions and their apps on `platforms`; every restriction or app left out gets a note."""
    wanted = tuple(platforms)
    notes: list[str] = []
    kept: list[ExportRestriction] = []
    by_identifier: dict[str, BannedApp] = {}
    others: set[str] = set()
    for restriction in data.restrictions:
        if restriction.shadow:
            notes.append(f"{restriction.id}: left out, it is in shadow mode (enforces nothing)")
            continue
        if not restriction.enforced:
            notes.append(f"{restriction.id}: left out, it advises and does not require removal")
            continue
        apps = restriction.apps_on(*wanted)
        others |= {str(b.platform) for b in restriction.banned if b.platform not in wanted}
        if not apps:
            notes.append(f"{restriction.id}: left out, it bans no app on {_names(wanted)}")
            continue
        kept.append(restriction)
        for banned in apps:
            by_identifier.setdefault(banned.identifier, banned)
        if restriction.devices != "every device":
            notes.append(f"{restriction.id}: covers only {restriction.devices}; {target} cannot express that, "
                         "so assign the output to those devices only")
    if others:
        notes.append(f"apps of other platforms left out ({', '.join(sorted(others))}): {target} manages "
                     f"{_names(wanted)} only")
    if not kept:
        notes.append("no restriction in force requires removing an app here: the output blocks nothing")
    apps = tuple(sorted(by_identifier.values(), key=lambda b: b.identifier))
    return Selection(tuple(kept), apps, tuple(notes))


def json_bytes(value: object) -> bytes:
    """Canonical JSON: sorted keys, two-space indent, ASCII only, one final newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def _names(platforms: tuple[Platform, ...]) -> str:
    return "/".join(str(p) for p in platforms)
