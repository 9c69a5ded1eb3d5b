"""One restriction per YAML file: read it into a `Restriction`, reporting every problem with its place.

Parsing checks the file on its own (structure, types, dates that contradict each other). Whether the
organisations, app families and publishers it names exist is `appban.policy.check`'s job, because that needs
the catalogue and the organisations known to the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from appban.errors import Location
from appban.model import (
    ChildPolicy,
    DeviceSelector,
    Evidence,
    Lifecycle,
    Platform,
    Restriction,
    Scope,
    Strictness,
    Target,
    TargetKind,
    UnknownCounts,
)
from appban.policy.check import PolicySet
from appban.policy.organisations import ID_HINT, ID_PATTERN
from appban.policy.scope import ATTRIBUTE_VALUES, AllOf, AnyOf, DeviceAttribute, Everything, Match, Not
from appban.yamldoc import Fields, Node, Problems, as_text, closest, load_document

__all__ = [
    "RESTRICTION_KEYS",
    "ParsedRestriction",
    "content_hash",
    "parse_restriction",
    "restriction_from_document",
]

RESTRICTION_KEYS = (
    "id", "issuer", "title", "status", "targets", "scope", "strictness", "grace", "cuts", "effective",
    "expires", "review", "rationale", "evidence", "children", "shadow", "unknown_counts_as",
)
SERVICE = re.compile(r"[a-z][a-z0-9-]{0,31}")
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,254}")
CONTROL_TEST = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
URL = re.compile(r"https?://\S+")
_SELECTOR_COMBINATORS = ("any_of", "all_of", "not")
_SELECTOR_KEYS = (*(a.value for a in DeviceAttribute), *_SELECTOR_COMBINATORS)
_MAX_SELECTOR_DEPTH = 8


@dataclass(frozen=True, slots=True)
class ParsedRestriction:
    """A restriction with its source text and the place of each field, for errors found later."""

    restriction: Restriction
    source: str
    text: str
    places: Mapping[str, Location]

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)

    def place(self, field: str) -> Location:
        return self.places.get(field) or self.places.get(field.split(".")[0]) or Location(self.source, 1, 1)


def content_hash(text: str) -> str:
    """The identity of a file's content, so that applying an unchanged file records no new version."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def parse_restriction(text: str, source: str, references: PolicySet | None = None) -> ParsedRestriction:
    """Read one restriction file. Raises InvalidInput listing every problem in the file.

    With `references`, the organisations, families, publishers and control tests it names are checked too.
    """
    return restriction_from_document(load_document(text, source), text, references)


def restriction_from_document(document: Node, text: str, references: PolicySet | None = None,
                              ) -> ParsedRestriction:
    """Read a restriction from an already loaded YAML document (see `parse_restriction`)."""
    source = document.where.source
    problems = Problems()
    fields = Fields.of(document, problems, "a restriction")
    if fields is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")
    places: dict[str, Location] = {}
    for key in RESTRICTION_KEYS:
        if fields.has(key):
            node = fields.get(key)
            if node is not None:
                places[key] = node.where

    restriction_id = fields.text("id", required=True, pattern=ID_PATTERN, pattern_hint=ID_HINT)
    issuer = fields.text("issuer", required=True, pattern=ID_PATTERN, pattern_hint=ID_HINT)
    if issuer is not None and references is not None:
        references.check_issuer(issuer, places["issuer"], problems)
    title = fields.text("title", required=True)
    status = fields.choice("status", Lifecycle, default=Lifecycle.ACTIVE)
    if status is Lifecycle.EXPIRED:
        problems.add(places["status"], "`status` cannot be `expired`: expiry follows from `expires`",
                     "set `expires:` to the date instead")
    strictness = fields.choice("strictness", Strictness, required=True)
    targets = _targets(fields, problems, places, references)
    scope = _scope(fields, problems, issuer, references)
    grace = fields.duration("grace")
    cuts = fields.listing("cuts", lambda n: as_text(n, problems, "a service", pattern=SERVICE,
                                                    pattern_hint="a service name like `mail` or `chat`"),
                          what="service")
    effective = fields.date("effective", required=True)
    expires = fields.date("expires")
    review = fields.date("review")
    rationale = fields.text("rationale", default="") or ""
    evidence = fields.listing("evidence", lambda n: _evidence(n, problems), what="document")
    children = fields.choice("children", ChildPolicy, default=ChildPolicy.MANDATORY)
    shadow = fields.flag("shadow", default=False)
    unknown = fields.choice("unknown_counts_as", UnknownCounts, default=UnknownCounts.NON_COMPLIANT)
    fields.finish(RESTRICTION_KEYS)

    if effective is not None and expires is not None and expires <= effective:
        problems.add(places["expires"], f"`expires` ({expires}) is not after `effective` ({effective})",
                     "a restriction must be in force for at least a day")
    if effective is not None and review is not None and review < effective:
        problems.add(places["review"], f"`review` ({review}) is before `effective` ({effective})")
    if expires is not None and review is not None and review > expires:
        problems.add(places["review"], f"`review` ({review}) is after `expires` ({expires})",
                     "review a restriction before it lapses")
    if strictness is Strictness.ADVISE and cuts:
        problems.add(places["cuts"], "an advisory restriction cuts no services",
                     "use `strictness: require`, or remove `cuts`")
    if strictness is Strictness.ADVISE and grace:
        problems.add(places["grace"], "an advisory restriction has no grace period",
                     "use `strictness: require`, or remove `grace`")
    problems.raise_if_any()

    assert restriction_id and issuer and title and strictness and effective and status and children
    assert unknown is not None and scope is not None
    restriction = Restriction(
        id=restriction_id, issuer=issuer, title=title, targets=tuple(targets), scope=scope,
        strictness=strictness, effective=effective, status=status, grace=grace or dt.timedelta(0),
        cuts=frozenset(cuts), expires=expires, review=review, rationale=_prose(rationale),
        evidence=tuple(evidence), children=children, shadow=shadow, unknown_counts_as=unknown,
    )
    return ParsedRestriction(restriction, source, text, places)


def _targets(fields: Fields, problems: Problems, places: dict[str, Location], references: PolicySet | None,
             ) -> list[Target]:
    found = fields.required("targets")
    if found is None:
        return []
    if not found.is_sequence or not found.value:
        problems.add(found.where, "`targets` must be a non-empty list",
                     "for example `- family: tiktok` or `- publisher: bytedance`")
        return []
    targets: list[Target] = []
    for index, node in enumerate(found.items()):
        places[f"targets.{index}"] = node.where
        target = _target(node, problems)
        if target is not None:
            targets.append(target)
            if references is not None:
                references.check_target(target, node.where, problems)
    return targets


def _target(node: Node, problems: Problems) -> Target | None:
    fields = Fields.of(node, problems, "a target")
    if fields is None:
        return None
    kinds = [k for k in TargetKind if fields.has(k.value)]
    keys = ("family", "app", "publisher", "platform", "controlled", "control_test")
    if len(kinds) != 1:
        fields.finish(keys)
        problems.add(node.where, "a target names exactly one of `family`, `app` or `publisher`")
        return None
    kind = kinds[0]
    value = fields.text(kind.value, required=True, pattern=IDENTIFIER if kind is TargetKind.APP else ID_PATTERN,
                        pattern_hint="a package name, bundle id or package family name"
                        if kind is TargetKind.APP else ID_HINT)
    platform = fields.choice("platform", Platform) if kind is TargetKind.APP else None
    controlled = fields.flag("controlled", default=False) if kind is TargetKind.PUBLISHER else False
    control_test = (fields.text("control_test", pattern=CONTROL_TEST, pattern_hint="for example `pafaca-2024`")
                    if kind is TargetKind.PUBLISHER else None)
    fields.finish({TargetKind.APP: ("app", "platform"), TargetKind.FAMILY: ("family",),
                   TargetKind.PUBLISHER: ("publisher", "controlled", "control_test")}[kind])
    if control_test is not None and not controlled:
        problems.add(fields.key_location("control_test"), "`control_test` needs `controlled: true`")
    if value is None:
        return None
    return Target(kind=kind, value=value, platform=platform, controlled=controlled, control_test=control_test)


def _scope(fields: Fields, problems: Problems, issuer: str | None, references: PolicySet | None) -> Scope | None:
    found = fields.get("scope")
    default_orgs = frozenset({issuer}) if issuer else frozenset()
    if found is None or found.value is None:
        return Scope(organisations=default_orgs, devices=Everything())
    scope_fields = Fields.of(found, problems, "`scope`")
    if scope_fields is None:
        return None
    def organisation(node: Node) -> str | None:
        org = as_text(node, problems, "an organisation id", pattern=ID_PATTERN, pattern_hint=ID_HINT)
        if org is not None and references is not None:
            references.check_scope_organisation(org, issuer, node.where, problems)
        return org

    orgs = scope_fields.listing("organisations", organisation, what="organisation")
    devices_node = scope_fields.get("devices")
    scope_fields.finish(("organisations", "devices"))
    devices: DeviceSelector | None = Everything()
    if devices_node is not None and devices_node.value is not None:
        devices = _selector(devices_node, problems, depth=0)
    if devices is None:
        return None
    return Scope(organisations=frozenset(orgs) or default_orgs, devices=devices)


def _selector(node: Node, problems: Problems, depth: int) -> DeviceSelector | None:
    if depth > _MAX_SELECTOR_DEPTH:
        problems.add(node.where, f"device selectors nest deeper than {_MAX_SELECTOR_DEPTH} levels")
        return None
    fields = Fields.of(node, problems, "a device selector")
    if fields is None:
        return None
    parts: list[DeviceSelector] = []
    ok = True
    for attribute in DeviceAttribute:
        found = fields.get(attribute.value)
        if found is None:
            continue
        match = _match(attribute, found, problems)
        ok &= match is not None
        if match is not None:
            parts.append(match)
    for combinator in ("any_of", "all_of"):
        found = fields.get(combinator)
        if found is None:
            continue
        if not found.is_sequence or not found.value:
            problems.add(found.where, f"`{combinator}` must be a non-empty list of selectors")
            ok = False
            continue
        inner = [_selector(item, problems, depth + 1) for item in found.items()]
        if any(s is None for s in inner):
            ok = False
            continue
        chosen = tuple(s for s in inner if s is not None)
        parts.append(AnyOf(chosen) if combinator == "any_of" else AllOf(chosen))
    negated = fields.get("not")
    if negated is not None:
        inner_selector = _selector(negated, problems, depth + 1)
        ok &= inner_selector is not None
        if inner_selector is not None:
            parts.append(Not(inner_selector))
    fields.finish(_SELECTOR_KEYS)
    if not ok:
        return None
    if not parts:
        problems.add(node.where, "an empty device selector", f"use one of: {', '.join(_SELECTOR_KEYS)}")
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _match(attribute: DeviceAttribute, node: Node, problems: Problems) -> Match | None:
    items = list(node.items()) if node.is_sequence else [node]
    allowed = ATTRIBUTE_VALUES[attribute]
    values: set[str] = set()
    ok = bool(items)
    if not items:
        problems.add(node.where, f"`{attribute}` lists no values", f"one or more of: {', '.join(allowed)}")
    for item in items:
        raw = item.value
        text = ("true" if raw else "false") if isinstance(raw, bool) else raw if isinstance(raw, str) else None
        if text is None or text not in allowed:
            suggestion = closest(str(raw), allowed) if isinstance(raw, str) else None
            hint = f"did you mean `{suggestion}`?" if suggestion else f"one of: {', '.join(allowed)}"
            problems.add(item.where, f"`{attribute}` cannot be {raw!r}", hint)
            ok = False
            continue
        values.add(text)
    return Match(attribute, frozenset(values)) if ok else None


def _evidence(node: Node, problems: Problems) -> Evidence | None:
    if isinstance(node.value, str):
        text = node.value.strip()
        return Evidence(title=text, url=text if URL.fullmatch(text) else None)
    fields = Fields.of(node, problems, "an evidence entry")
    if fields is None:
        return None
    title = fields.text("title", required=True)
    url = fields.text("url", pattern=URL, pattern_hint="an http(s) address")
    kind = fields.text("kind", default="document") or "document"
    fields.finish(("title", "url", "kind"))
    if kind not in ("document", "assessment"):
        where = fields.key_location("kind")
        problems.add(where, f"evidence `kind` cannot be {kind!r}", "one of: document, assessment")
    return Evidence(title=title, url=url, kind=kind) if title else None


def _prose(text: str) -> str:
    """Folded YAML prose, with trailing white space trimmed so that hashes and diffs are stable."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines())

