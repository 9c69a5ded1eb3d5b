"""The holder's remediation page as HTML: what to remove, why, by when, how, and (where the source cannot see
personal apps) a statement of removal. Pure: a view in, a string out; every value is escaped; no external
assets, so the page works where the corporate network is cut and leaks nothing to third parties.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from appban.model import FindingState, Platform

__all__ = ["INSTRUCTIONS", "Item", "PageView", "render_message", "render_page", "render_unknown_device"]

INSTRUCTIONS: dict[Platform, tuple[str, ...]] = {
    Platform.ANDROID: (
        "Open Settings, then Apps (on some phones: Apps & notifications, then See all apps).",
        "Tap the app, then Uninstall, and confirm.",
        "If the phone has a work profile, the app may be on the personal side: look in the Personal tab of the "
        "app drawer, and remove it there too.",
    ),
    Platform.IOS: (
        "Touch and hold the app on the Home Screen, tap Remove App, then Delete App.",
        "Or open Settings, General, iPhone Storage, tap the app, then Delete App.",
        "Do not choose Offload App: it keeps the app's data, and the app still counts as installed.",
    ),
    Platform.IPADOS: (
        "Touch and hold the app on the Home Screen, tap Remove App, then Delete App.",
        "Or open Settings, General, iPad Storage, tap the app, then Delete App.",
        "Do not choose Offload App: it keeps the app's data, and the app still counts as installed.",
    ),
    Platform.WINDOWS: (
        "Open Start, Settings, Apps, Installed apps (on Windows 10: Apps & features).",
        "Find the app, select the three dots next to it (on Windows 10: select the app), then Uninstall.",
    ),
    Platform.MACOS: (
        "Open Finder, then Applications.",
        "Drag the app to the Bin (Trash), then empty the Bin.",
    ),
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:42rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.5}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.card{border:1px solid #ccc;border-radius:.5rem;padding:1rem 1.25rem;margin:1rem 0}
.deny{border-color:#b00020;background:#fff5f6}.warn{border-color:#b26a00;background:#fffaf0}
.note{color:#555;font-size:.9rem}.notice{background:#eef6ff;border:1px solid #7aa7e0;padding:.75rem 1rem;
border-radius:.5rem}button{font-size:1rem;padding:.5rem 1rem;margin-top:.5rem}
"""


@dataclass(frozen=True, slots=True)
class Item:
    """One restriction the device does not (or may not) meet."""

    restriction: str
    title: str
    rationale: str
    state: FindingState
    reason: str
    apps: tuple[str, ...]
    deadline: dt.datetime | None
    cuts: frozenset[str]
    shadow: bool
    nonce: str | None = None  # set when the holder may attest removal (the source cannot see personal apps)


@dataclass(frozen=True, slots=True)
class PageView:
    """Everything one render of a device's page shows."""

    device: str
    platform: Platform
    holder: str | None
    items: tuple[Item, ...]
    as_of: dt.datetime
    live: bool  # read from the store just now; False: the gate's table, the database being unreachable
    action: str  # the page's own path: the target of "check again" and of the attestation form
    notice: str | None = None
    attestation_days: int = 30


def render_page(view: PageView) -> str:
    """The page for one device."""
    parts = [f"<h1>Your device {_e(view.device)}</h1>"]
    if view.holder:
        parts.append(f'<p class="note">Assigned to {_e(view.holder)}.</p>')
    if view.notice:
        parts.append(f'<p class="notice" role="status">{_e(view.notice)}</p>')
    if not view.live:
        parts.append(f'<p class="notice">appban cannot reach its database right now: this is the state as of '
                     f"{view.as_of:%Y-%m-%d %H:%M:%S} UTC, which the gate also uses.</p>")
    enforced = [item for item in view.items if not item.shadow]
    if not enforced:
        parts.append("<p>Nothing to do: this device meets every restriction appban enforces. If a service still "
                     "refuses you, press <em>Check again</em> in a few seconds.</p>")
    for item in enforced:
        parts.append(_item(item, view))
    shadow = [item for item in view.items if item.shadow]
    if shadow:
        parts.append("<h2>Coming restrictions (not enforced yet)</h2>")
        parts += [_item(item, view) for item in shadow]
    if any(item.apps for item in view.items):
        steps = "".join(f"<li>{_e(step)}</li>" for step in INSTRUCTIONS[view.platform])
        parts.append(f"<h2>How to remove an app on {_e(_platform_name(view.platform))}</h2><ol>{steps}</ol>")
    parts.append(f'<form method="get" action="{_e(view.action)}"><button type="submit">Check again</button></form>')
    parts.append(f'<p class="note">Checked {view.as_of:%Y-%m-%d %H:%M:%S} UTC. After you remove an app, your '
                 "device management reports it within its usual interval (often a few hours; opening the company "
                 "portal app and syncing speeds it up); access comes back within seconds of that report.</p>")
    return _document("What to do on your device", "".join(parts))


def render_unknown_device() -> str:
    """The general page: linked when the gate does not know the device at all."""
    body = ("<h1>This device is not known to appban</h1>"
            "<p>The corporate services you tried to reach only accept devices that the organisation's device "
            "management knows. Enrol this device (your IT service desk explains how), or use a device that is "
            "enrolled. Once the device management reports it, access follows within seconds.</p>")
    return _document("Device not known", body)


def render_message(title: str, text: str) -> str:
    """A short page for errors and outcomes (unknown link, expired form)."""
    return _document(title, f"<h1>{_e(title)}</h1><p>{_e(text)}</p>")


def _item(item: Item, view: PageView) -> str:
    apps = ", ".join(item.apps) or "the apps this restriction bans"
    services = ", ".join(sorted(item.cuts))
    state = item.state
    css = "card"
    if state is FindingState.NON_COMPLIANT:
        css += " deny"
        what = f"Remove {_e(apps)} from this device."
        when = (f"The deadline was {item.deadline:%Y-%m-%d %H:%M} UTC" if item.deadline else "The deadline passed")
        when += f": until it is removed, this device cannot reach {_e(services)}." if services else "."
    elif state is FindingState.GRACE:
        css += " warn"
        what = f"Remove {_e(apps)} from this device."
        deadline = f"{item.deadline:%Y-%m-%d %H:%M} UTC" if item.deadline else "the deadline"
        when = f"Do it by {deadline}" + (f", or this device loses access to {_e(services)}." if services else ".")
    elif state is FindingState.UNKNOWN:
        css += " deny" if services else ""
        what = "appban cannot tell whether this device is free of the apps this restriction bans."
        when = f"Why: {_e(item.reason)}."
    elif state is FindingState.ADVISED:
        what = f"You are advised to remove {_e(apps)} from this device."
        when = "This is advice: no service is cut."
    elif state is FindingState.EXEMPT:
        what = "This device is exempt from this restriction."
        when = f"{_e(item.reason)}."
    else:
        what, when = "Nothing to do.", ""
    parts = [f'<section class="{css}"><h2>{_e(item.title)}</h2><p><strong>{what}</strong></p><p>{when}</p>']
    if item.rationale:
        parts.append(f"<p><strong>Why this restriction exists:</strong> {_e(item.rationale)}</p>")
    if item.shadow:
        parts.append('<p class="note">This restriction is not enforced yet: nothing is cut today.</p>')
    if item.nonce is not None:
        parts.append(_attestation_form(item, view))
    parts.append(f'<p class="note">Restriction {_e(item.restriction)}</p></section>')
    return "".join(parts)


def _attestation_form(item: Item, view: PageView) -> str:
    return (f'<form method="post" action="{_e(view.action)}">'
            "<p>Your device management cannot see the personal apps on this device. If none of the banned apps "
            f"is installed, you may say so; your statement is recorded with your name and counts for "
            f"{view.attestation_days} days.</p>"
            f'<input type="hidden" name="restriction" value="{_e(item.restriction)}">'
            f'<input type="hidden" name="nonce" value="{_e(item.nonce or "")}">'
            '<label><input type="checkbox" name="confirm" value="yes" required> I confirm that none of the apps '
            "banned by this restriction is installed on this device, on its personal side included.</label><br>"
            '<button type="submit">Record my statement</button></form>')


def _platform_name(platform: Platform) -> str:
    return {Platform.ANDROID: "Android", Platform.IOS: "iPhone (iOS)", Platform.IPADOS: "iPad (iPadOS)",
            Platform.WINDOWS: "Windows", Platform.MACOS: "Mac (macOS)"}[platform]


def _document(title: str, body: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="referrer" content="no-referrer"><title>{_e(title)} - appban</title>'
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def _e(text: str | Iterable[str]) -> str:
    return escape(text if isinstance(text, str) else ", ".join(text), quote=True)
