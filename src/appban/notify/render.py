"""Notices rendered from the templates: one layout in plain text and one in HTML, and one catalogue of phrases
per language (`templates/lang/<language>.json`). Pure: reads only the package's own files.

Phrases are small Jinja templates themselves, rendered with the item's values; everything is rendered with
StrictUndefined, so a phrase naming a value that does not exist fails loudly instead of sending a hole. The
HTML layout escapes everything it inserts (autoescape).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from appban.notify.interface import DedupKey, NoticeKind

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Item", "render"]

LANGUAGES = ("da", "de", "en", "fr", "nl")
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to tell one recipient, before it is put in words; its key makes it unique."""

    key: DedupKey
    restriction_id: str = ""
    restriction: str = ""  # the restriction's title
    rationale: str = ""
    apps: tuple[str, ...] = ()  # as holders read them: `TikTok (com.zhiliaoapp.musically)`
    app_names: tuple[str, ...] = ()  # family names only, for the removal steps
    device_id: str = ""
    platform: str = ""
    services: tuple[str, ...] = ()
    link: str | None = None
    date: dt.date | None = None  # review or expiry date (owner notices)
    overdue: bool = False
    organisation: str = ""  # its name
    issuer: str = ""  # its name
    counts: tuple[tuple[str, str, int], ...] = ()  # weekly summary: (restriction title, state, devices)

    @property
    def kind(self) -> NoticeKind:
        return self.key.kind


@cache
def _environment() -> Environment:
    """The layouts: `*.html.j2` escaped, `*.txt.j2` not."""
    return Environment(loader=PackageLoader("appban.notify", "templates"), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html", "html.j2"], default_for_string=False, default=False),
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


@cache
def _phrases() -> Environment:
    return Environment(undefined=StrictUndefined, autoescape=False)  # noqa: S701 (plain text; the HTML layout escapes)


@cache
def catalogue(language: str) -> Mapping[str, Any]:
    """The phrases of one language."""
    if language not in LANGUAGES:
        raise ValueError(f"no notices in language {language!r}")
    text = resources.files("appban.notify").joinpath("templates", "lang", f"{language}.json").read_text("utf-8")
    loaded: Mapping[str, Any] = json.loads(text)
    return loaded


def _phrase(template: str, values: Mapping[str, object]) -> str:
    return _phrases().from_string(template).render(values).strip()


def _join(words: Sequence[str], conjunction: str) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def _when(t: Mapping[str, Any], moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return _phrase(t["datetime"], {"day": moment.day, "month": t["months"][moment.month - 1], "year": moment.year,
                                   "time": moment.strftime("%H:%M")})


def _day(t: Mapping[str, Any], day: dt.date) -> str:
    return _phrase(t["date"], {"day": day.day, "month": t["months"][day.month - 1], "year": day.year})


def _values(t: Mapping[str, Any], item: Item) -> dict[str, object]:
    deadline = item.key.deadline
    return {
        "apps": _join(item.apps, t["and"]),
        "device": t["devices"].get(item.platform, item.platform),
        "device_id": item.device_id,
        "deadline": _when(t, deadline) if deadline is not None else "",
        "restriction": item.restriction,
        "restriction_id": item.restriction_id,
        "services": _join(item.services, t["and"]),
        "date": _day(t, item.date) if item.date is not None else "",
        "overdue": item.overdue,
        "organisation": item.organisation,
        "issuer": item.issuer,
        "week": (item.date or (deadline.date() if deadline else dt.date(1970, 1, 1))).isocalendar().week,
        "lines": bool(item.counts),
    }


def _section(t: Mapping[str, Any], item: Item) -> dict[str, object]:
    values = _values(t, item)
    kind = str(item.kind)
    steps: list[str] = []
    if item.kind in (NoticeKind.GRACE, NoticeKind.REMINDER, NoticeKind.CUTOFF):
        app = _join(item.app_names or item.apps, t["and"])
        steps = [_phrase(step, {"app": app}) for step in t["steps"].get(item.platform, ())]
    lines = [f"{title} ({t['states'].get(state, state)}): {count}" for title, state, count in item.counts]
    return {"heading": _phrase(t["heading"][kind], values), "body": _phrase(t["body"][kind], values),
            "why": item.rationale.strip() if item.kind in (NoticeKind.GRACE, NoticeKind.REMINDER,
                                                           NoticeKind.CUTOFF) else "",
            "steps": steps, "lines": lines,
            "link": item.link if item.kind is not NoticeKind.SUMMARY else None}


def render(language: str, name: str | None, items: Sequence[Item]) -> tuple[str, str, str]:
    """(subject, text, html) of one message covering `items` (several make a digest)."""
    if not items:
        raise ValueError("a notice needs at least one item")
    t = catalogue(language)
    if len(items) == 1:
        subject = _phrase(t["subject"][str(items[0].kind)], _values(t, items[0]))
    else:
        subject = _phrase(t["subject"]["digest"], {"count": len(items)})
    subject = " ".join(subject.split())  # one header line
    context = {"greeting": _phrase(t["greeting"], {"name": name or ""}), "items": [_section(t, i) for i in items],
               "t": t, "language": language, "subject": subject}
    text = _environment().get_template("message.txt.j2").render(context)
    html = _environment().get_template("message.html.j2").render(context)
    return subject, text, html
