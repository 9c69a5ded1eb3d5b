"""Tracker and SDK detection by class-name signature, against the Exodus Privacy tracker list (ETIP, ODbL).

The list's `code_signature` is a `|`-separated set of class-name prefixes ("com.facebook.ads.|com.facebook.
appevents."). Exodus applies them as unanchored regular expressions in which "." matches any character; here
each is a literal prefix that must start at a package boundary (the start of the class name or just after a
"."). That keeps "com.swirl" from matching "xcom.swirl" or "com_swirl", and still finds a tracker shaded into
another package ("org.app.shaded.com.adjust.sdk.Adjust"). `network_signature` regexes are matched against the
hosts found in the code, as supporting evidence of a tracker its classes already show. The matcher is written
for appban; no code of exodus-core or MobSF is used.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

__all__ = ["TrackerEvidence", "TrackerSignature", "TrackerSignatures", "default_signatures"]

MAX_EVIDENCE = 5  # class names shown per signature: enough to check, short enough to read


@dataclass(frozen=True, slots=True)
class TrackerSignature:
    id: int
    name: str
    code_prefixes: tuple[str, ...]
    network_pattern: str
    website: str
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrackerEvidence:
    """One detected tracker: which rule (the signature prefixes that matched) and the evidence."""

    tracker_id: int
    name: str
    categories: tuple[str, ...]
    website: str
    rule: str  # e.g. "exodus:125 code_signature com.facebook.ads."
    matched_prefixes: tuple[str, ...]
    classes: tuple[str, ...]  # at most MAX_EVIDENCE, sorted
    class_count: int
    hosts: tuple[str, ...]  # hosts that matched the network signature


class TrackerSignatures:
    """A signature set compiled for matching many class names quickly."""

    def __init__(self, signatures: Iterable[TrackerSignature], source: str) -> None:
        self.signatures: tuple[TrackerSignature, ...] = tuple(sorted(signatures, key=lambda s: s.id))
        self.source = source
        self._by_prefix: dict[str, list[TrackerSignature]] = {}
        for signature in self.signatures:
            for prefix in signature.code_prefixes:
                self._by_prefix.setdefault(prefix, []).append(signature)
        self._lengths = sorted({len(p) for p in self._by_prefix})
        # One regex of every prefix, as a trie so that Python's backtracking engine does not try hundreds of
        # alternatives at each position: it filters the (rare) class names worth an exact look.
        self._filter = re.compile(r"(?:^|(?<=\.))(?:" + _trie_regex(self._by_prefix) + ")") if self._by_prefix \
            else None
        self._network = [(s, re.compile(s.network_pattern)) for s in self.signatures if s.network_pattern]

    def match(self, classes: Sequence[str], hosts: Sequence[str] = ()) -> tuple[TrackerEvidence, ...]:
        hits: dict[int, dict[str, list[str]]] = {}
        if self._filter is not None:
            for name in classes:
                if not self._filter.search(name):
                    continue
                for start in _boundaries(name):
                    for length in self._lengths:
                        prefix = name[start:start + length]
                        for signature in self._by_prefix.get(prefix, ()):
                            hits.setdefault(signature.id, {}).setdefault(prefix, []).append(name)
        host_hits: dict[int, list[str]] = {}
        for signature, pattern in self._network:
            # Hosts only back up a code match: many trackers of one company share a domain (\.facebook\.com),
            # so a host alone cannot say which SDK is there. Exodus's static reports work the same way.
            if signature.id not in hits:
                continue
            matched = sorted({h for h in hosts if pattern.search(h)})
            if matched:
                host_hits[signature.id] = matched
        by_id = {s.id: s for s in self.signatures}
        found: list[TrackerEvidence] = []
        for tracker_id in sorted(set(hits) | set(host_hits)):
            signature = by_id[tracker_id]
            prefixes = hits.get(tracker_id, {})
            names = sorted({n for group in prefixes.values() for n in group})
            matched_prefixes = tuple(sorted(prefixes))
            rule_parts = []
            if matched_prefixes:
                rule_parts.append("code_signature " + "|".join(matched_prefixes))
            if tracker_id in host_hits:
                rule_parts.append(f"network_signature {signature.network_pattern}")
            found.append(TrackerEvidence(
                tracker_id=tracker_id, name=signature.name, categories=signature.categories,
                website=signature.website, rule=f"{self.source}:{tracker_id} " + "; ".join(rule_parts),
                matched_prefixes=matched_prefixes, classes=tuple(names[:MAX_EVIDENCE]), class_count=len(names),
                hosts=tuple(host_hits.get(tracker_id, ())[:MAX_EVIDENCE])))
        return tuple(found)


def _boundaries(name: str) -> list[int]:
    return [0] + [i + 1 for i, c in enumerate(name) if c == "."]


_Trie = dict[str, "_Trie"]


def _trie_regex(words: Iterable[str]) -> str:
    trie: _Trie = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word
    return _node_regex(trie)


def _node_regex(node: _Trie) -> str:
    ends = "" in node
    branches = [re.escape(char) + _node_regex(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


@functools.lru_cache(maxsize=1)
def default_signatures() -> TrackerSignatures:
    """The shipped Exodus Privacy list (see appban/risk/data/README.md for origin, licence and attribution)."""
    text = (resources.files("appban.risk") / "data" / "exodus_trackers.json").read_text(encoding="utf-8")
    return TrackerSignatures(_parse(json.loads(text)), "exodus")


def _parse(document: Mapping[str, object]) -> list[TrackerSignature]:
    items = document["trackers"]
    assert isinstance(items, list)
    return [TrackerSignature(
        id=int(item["id"]), name=str(item["name"]),
        code_prefixes=tuple(p for p in str(item["code_signature"]).split("|") if p),
        network_pattern=str(item.get("network_signature") or ""),
        website=str(item.get("website") or ""),
        categories=tuple(str(c) for c in item.get("categories") or ()),
    ) for item in items]
