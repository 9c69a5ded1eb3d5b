"""An assessment as JSON (deterministic), Markdown and self-contained HTML (every value escaped)."""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Callable
from enum import Enum

from appban.risk.result import Assessment

__all__ = ["to_html", "to_json", "to_jsonable", "to_markdown"]

MAX_LISTED = 50  # items shown per list in the readable reports; JSON holds them all


def to_jsonable(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def to_json(assessment: Assessment) -> str:
    """Sorted keys, two-space indent, one trailing newline: the same assessment gives the same bytes."""
    return json.dumps(to_jsonable(assessment), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _lines(a: Assessment, esc: Callable[[str], str]) -> list[tuple[str, str | list[str]]]:
    """Sections as (heading, text or list of items); the renderers only differ in markup."""
    sections: list[tuple[str, str | list[str]]] = [
        ("Recommendation", a.summary),
        ("Result", [f"rating: {a.rating.value}", f"score: {a.score} of 100", f"action: {a.action.value}"]),
        ("Factors", [f"{f.title}: {f.contribution} of {f.weight}" + "".join(f"\n  - {e}" for e in f.evidence)
                     for f in a.factors]),
        ("File", [f"name: {a.file.name}", f"size: {a.file.size} bytes", f"sha256: {a.file.sha256}",
                  f"platform: {a.platform}", f"app: {a.app_id}", f"version: {a.version or 'unknown'}"]),
    ]
    p = a.publisher
    if p.family is not None:
        items = [f"family: {p.family_name} ({p.family})", f"publisher: {p.publisher_name}",
                 f"ultimate controller: {p.controller_name}"]
        items += [f"{s.parent_name} controls {s.child}" + (f" ({s.share} %)" if s.share else "") + f" [{s.source}]"
                  for s in p.chain]
        items += [f"jurisdiction {c} ({basis}) of {entity}" for c, entity, basis in p.jurisdictions]
        items += [f"law ({law.country}): {law.title}, {law.citation}: {law.provision} [{law.source}]"
                  for law in p.laws]
        items += [f"claim by {c.by} (not verified): {c.statement} [{c.source}]" for c in p.claims]
        sections.append(("Publisher", items))
    else:
        sections.append(("Publisher", "not in the catalogue"))
    need = a.work_need
    sections.append(("Work-related need", "not recorded" if need.needed is None else
                     ("yes" + (f", for {need.who}" if need.who else "") + (f": {need.reason}" if need.reason else ""))
                     if need.needed else "none"))
    if a.android is not None:
        b = a.android
        sections += [
            ("Build", [f"package: {b.package}", f"versionCode: {b.version_code}", f"versionName: {b.version_name}",
                       f"min SDK: {b.min_sdk}", f"target SDK: {b.target_sdk}", f"debuggable: {b.debuggable}",
                       f"allowBackup: {b.allow_backup}", f"cleartext traffic: {b.cleartext_traffic}",
                       f"network security config: {b.network_security_config or 'none'}",
                       f"signature schemes: {', '.join(b.signature_schemes) or 'none'}",
                       *(f"signing: {n}" for n in b.signing_notes),
                       *(f"manifest: {n}" for n in b.manifest_notes),
                       *([f"bytes before the first zip entry: {b.prepended_bytes}"
                          + (" (a DEX file: the Janus attack, CVE-2017-13156)" if b.prepended_dex else "")]
                         if b.prepended_bytes else []),
                       *(f"split: {s}" for s in b.splits)]),
            ("Permissions", [f"{x.name}: {x.protection} ({x.group.value})" for x in b.permissions]),
            ("Special access", [f"{s.label}: {s.evidence}" for s in b.special_access]),
            ("Exported components", [f"{c.kind} {c.name}: {c.exported_because}"
                                     + (f", needs {c.permission}" if c.permission else "") for c in b.exported]),
            ("Signing certificates", [f"subject {c.subject}; issuer {c.issuer}; valid {c.not_before} to "
                                      f"{c.not_after}; sha256 {c.sha256}; schemes {', '.join(c.schemes) or 'none'}"
                                      + ("; DEBUG CERTIFICATE" if c.debug else "")
                                      for c in b.certificates]),
            ("Trackers", [f"{t.name}: {t.rule}; evidence {', '.join(t.classes or t.hosts)}"
                          + (f" (and {t.class_count - len(t.classes)} more)" if t.class_count > len(t.classes)
                             else "") for t in b.trackers]),
            ("Native libraries", list(b.native_libraries)),
            ("Hosts in the code", list(b.hosts)),
        ]
    if a.ios is not None:
        i = a.ios
        sections += [
            ("Build", [f"bundle id: {i.bundle_id}", f"version: {i.version}", f"build: {i.build}",
                       f"minimum iOS: {i.minimum_os}", f"team: {i.team_id} {i.team_name or ''}".rstrip(),
                       f"App Transport Security off: {i.ats.allows_arbitrary_loads}",
                       *(f"insecure HTTP allowed to: {d}" for d in i.ats.exception_domains)]),
            ("Usage descriptions", [f"{u.label} ({u.key}): \"{u.text}\"" for u in i.usage_descriptions]),
            ("Entitlements", [f"{k}: {v}" for k, v in i.entitlements]),
            ("URL schemes", list(i.url_schemes)),
            ("Frameworks", list(i.frameworks)),
            ("SDKs", [f"{t.name}: {t.rule}" for t in i.sdks]),
        ]
    return [(esc(h), esc(v) if isinstance(v, str) else [esc(x) for x in v[:MAX_LISTED]]
             + ([esc(f"... and {len(v) - MAX_LISTED} more (see the JSON report)")] if len(v) > MAX_LISTED else []))
            for h, v in sections]


def to_markdown(a: Assessment) -> str:
    out = [f"# Risk assessment: {_md(a.publisher.family_name or a.app_id)} {_md(a.version or '')}".rstrip(), ""]
    for heading, body in _lines(a, _md):
        out += [f"## {heading}", ""]
        if isinstance(body, str):
            out += [body, ""]
        else:
            out += [f"- {item}" for item in body] or ["- none"]
            out.append("")
    return "\n".join(out)


def to_html(a: Assessment) -> str:
    esc = html.escape
    title = esc(f"Risk assessment: {a.publisher.family_name or a.app_id} {a.version or ''}".rstrip())
    body: list[str] = []
    for heading, content in _lines(a, esc):
        body.append(f"<h2>{heading}</h2>")
        if isinstance(content, str):
            body.append(f"<p>{content}</p>")
        else:
            items = "".join(f"<li>{item.replace(chr(10), '<br>')}</li>" for item in content) or "<li>none</li>"
            body.append(f"<ul>{items}</ul>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "h2{border-bottom:1px solid #ccc}li{margin:.2em 0;word-break:break-word}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{style}</style></head><body><h1>{title}</h1>{''.join(body)}</body></html>\n")


def _md(text: str) -> str:
    # Values come from the app under assessment: keep them from turning into Markdown links, images or HTML.
    return "".join("\\" + c if c in "\\`*_[]<>#|!" else c for c in text)
