"""Reading the catalogue's data files (publishers.yaml, families.yaml) into a `Catalog`.

The files are edited by people as news breaks, so every mistake is reported at once, each as
`FILE:LINE:COLUMN: what is wrong (hint)`, with the closest valid word suggested. Checks that span the files
(a family's publisher, a link's companies, an identity claimed twice, stakes adding up to more than 100 %) are
made here too, because a catalogue that fails them would give wrong answers about control.

The YAML itself is read by `appban.yamldoc`, the reader policy files use too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from typing import TypeVar

from appban.catalog.catalog import Catalog
from appban.errors import InvalidInput, Location
from appban.model import App, AppFamily, Jurisdiction, JurisdictionBasis, OwnershipLink, Platform, Publisher
from appban.yamldoc import Fields, Node, Problems, as_choice, closest, load_document

__all__ = ["default_catalog", "parse_catalog"]

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
COUNTRY_PATTERN = re.compile(r"[A-Z]{2}")
_ANDROID = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+")
_BUNDLE = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_PACKAGE_FAMILY = re.compile(r"[A-Za-z0-9.-]{3,50}_[a-z0-9]{13}")
_IDENTIFIER_RULES: dict[Platform, tuple[re.Pattern[str], str]] = {
    Platform.ANDROID: (_ANDROID, "an Android package name looks like `com.example.app`"),
    Platform.IOS: (_BUNDLE, "a bundle id looks like `com.example.app`"),
    Platform.IPADOS: (_BUNDLE, "a bundle id looks like `com.example.app`"),
    Platform.MACOS: (_BUNDLE, "a bundle id looks like `com.example.app`"),
    Platform.WINDOWS: (_PACKAGE_FAMILY, "a package family name is the package name, `_` and the 13-character "
                                        "publisher id, like `Example.App_8wekyb3d8bbwe`"),
}
_HUNDRED = Decimal(100)
_SOURCE_HINT = "say where this is publicly reported"
_ID_HINT = "use lower-case letters, digits and hyphens, like `tiktok-lite`"
_PUBLISHERS_KEYS = ("publishers", "links")
_PUBLISHER_KEYS = ("id", "name", "source", "jurisdictions")
_JURISDICTION_KEYS = ("country", "basis", "source")
_LINK_KEYS = ("parent", "child", "share", "direction", "source", "note")
_FAMILIES_KEYS = ("families",)
_FAMILY_KEYS = ("id", "name", "publisher", "source", "apps")
_IDENTITY_KEYS = ("variant", "platforms", "identifier", "source")


def parse_catalog(publishers_text: str, families_text: str, *, publishers_source: str = "publishers.yaml",
                  families_source: str = "families.yaml") -> Catalog:
    """Build the catalogue from the two files' text; raises InvalidInput listing every problem in both."""
    problems = Problems()
    publishers, links, declared = _read_publishers(_load(publishers_text, publishers_source, problems), problems)
    families, sources = _read_families(_load(families_text, families_source, problems), problems, declared)
    problems.raise_if_any()
    return Catalog(families=families, publishers=publishers, links=tuple(links), identity_sources=sources)


@functools.cache
def default_catalog() -> Catalog:
    """The catalogue shipped in appban/catalog/data, read once per process."""
    data = resources.files("appban.catalog").joinpath("data")
    return parse_catalog(
        data.joinpath("publishers.yaml").read_text(encoding="utf-8"),
        data.joinpath("families.yaml").read_text(encoding="utf-8"),
        publishers_source="appban/catalog/data/publishers.yaml",
        families_source="appban/catalog/data/families.yaml",
    )


def _load(text: str, source: str, problems: Problems) -> Node | None:
    """The file's document, or None with its problems collected, so that the other file is still read."""
    try:
        return load_document(text, source)
    except InvalidInput as error:
        problems.items.extend(error.problems)
        return None


# --- publishers.yaml -------------------------------------------------------------------------------------


def _read_publishers(root: Node | None, problems: Problems
                     ) -> tuple[dict[str, Publisher], list[OwnershipLink], set[str] | None]:
    """The valid publishers and links, and every id declared (None if the file could not be read at all),
    so that a publisher with a mistake of its own is not reported again as unknown wherever it is named."""
    top = Fields.of(root, problems, "the publishers file") if root is not None else None
    if top is None:
        return {}, [], None
    publishers: dict[str, Publisher] = {}
    first_seen: dict[str, Location] = {}
    for entry in _entries(top, "publishers", "publisher", "a publisher", required=True):
        publisher_id = _identifier(entry, "id")
        name = _text(entry, "name")
        source = _text(entry, "source", hint=_SOURCE_HINT)
        jurisdictions = _list(entry, "jurisdictions", "jurisdiction", lambda n: _read_jurisdiction(n, problems))
        entry.finish(_PUBLISHER_KEYS)
        if publisher_id is None:
            continue
        if publisher_id in first_seen:
            problems.add(entry.value_location("id"), f"publisher id `{publisher_id}` is used twice "
                         f"(also at {first_seen[publisher_id]})", "give each publisher its own id")
            continue
        first_seen[publisher_id] = entry.value_location("id")
        if name is not None and source is not None:
            publishers[publisher_id] = Publisher(publisher_id, name, tuple(jurisdictions), source)
    links = _read_links(top, first_seen)
    top.finish(_PUBLISHERS_KEYS)
    return publishers, links, set(first_seen)


def _read_jurisdiction(node: Node, problems: Problems) -> Jurisdiction | None:
    entry = Fields.of(node, problems, "a jurisdiction")
    if entry is None:
        return None
    country = _text(entry, "country", pattern=COUNTRY_PATTERN,
                    pattern_hint="an ISO 3166-1 alpha-2 code in capitals, like `CN` or `KY`")
    basis = _choice(entry, "basis", JurisdictionBasis)
    source = _text(entry, "source", hint=_SOURCE_HINT)
    entry.finish(_JURISDICTION_KEYS)
    if country is None or basis is None or source is None:
        return None
    return Jurisdiction(country, basis, source)


def _read_links(top: Fields, known: Collection[str]) -> list[OwnershipLink]:
    problems = top.problems
    links: list[OwnershipLink] = []
    pairs: dict[tuple[str, str], Location] = {}
    held: dict[str, Decimal] = {}
    for entry in _entries(top, "links", "ownership link", "an ownership link"):
        parent = _reference(entry, "parent", known, "publisher")
        child = _reference(entry, "child", known, "publisher")
        share = entry.decimal("share", minimum=Decimal(0), maximum=_HUNDRED, what="a percentage",
                              hint="write 19.9 for 19.9 %, or null when the stake is not public",
                              range_hint="a stake is a percentage from 0 to 100")
        direction = entry.flag("direction", default=False)
        source = _text(entry, "source", hint=_SOURCE_HINT)
        note = entry.text("note", strict=True)
        entry.finish(_LINK_KEYS)
        if not _given(entry, "share") and not direction:
            problems.add(entry.node.where, "an ownership link needs a `share` or `direction: true`",
                         "record the stake, or that the parent directs the child")
        if parent is None or child is None or source is None:
            continue
        if parent == child:
            problems.add(entry.value_location("child"), f"`{parent}` cannot own itself",
                         "check `parent` and `child`")
            continue
        if (parent, child) in pairs:
            problems.add(entry.node.where, f"the link from `{parent}` to `{child}` is listed twice "
                         f"(also at {pairs[(parent, child)]})", "merge them into one link")
            continue
        pairs[(parent, child)] = entry.node.where
        if share is not None:
            before = held.get(child, Decimal(0))
            held[child] = before + share
            if before <= _HUNDRED < held[child]:
                problems.add(entry.value_location("share"),
                             f"the stakes recorded in `{child}` add up to {held[child]} %, more than 100 %",
                             "check the shares of every link to this company")
        text = f"{source} Note: {note}" if note else source
        links.append(OwnershipLink(parent, child, share, direction, text))
    return links


# --- families.yaml ---------------------------------------------------------------------------------------


def _read_families(root: Node | None, problems: Problems, publishers: Collection[str] | None
                   ) -> tuple[dict[str, AppFamily], dict[App, str]]:
    top = Fields.of(root, problems, "the families file") if root is not None else None
    if top is None:
        return {}, {}
    families: dict[str, AppFamily] = {}
    family_ids: dict[str, Location] = {}
    claimed: dict[App, tuple[str, Location]] = {}
    sources: dict[App, str] = {}
    for entry in _entries(top, "families", "app family", "an app family", required=True):
        family_id = _identifier(entry, "id")
        name = _text(entry, "name")
        if publishers is None:  # the publishers file did not load: do not report every name as unknown
            publisher = _identifier(entry, "publisher")
        else:
            publisher = _reference(entry, "publisher", publishers, "publisher")
        source = _text(entry, "source", hint=_SOURCE_HINT)
        identities = _list(entry, "apps", "app identity", lambda n: _read_identity(n, problems), required=True)
        entry.finish(_FAMILY_KEYS)
        variants: list[tuple[str, App]] = []
        for variant, app, app_source, where in (one for many in identities for one in many):
            if app in claimed:
                owner, first = claimed[app]
                problems.add(where, f"{app} is already listed for family `{owner}` at {first}",
                             "an identity belongs to exactly one family")
                continue
            claimed[app] = (family_id or "?", where)
            sources[app] = app_source
            variants.append((variant, app))
        if family_id is None:
            continue
        if family_id in family_ids:
            problems.add(entry.value_location("id"), f"family id `{family_id}` is used twice "
                         f"(also at {family_ids[family_id]})", "give each family its own id")
            continue
        family_ids[family_id] = entry.value_location("id")
        if name is not None and publisher is not None and source is not None:
            families[family_id] = AppFamily(family_id, name, publisher, frozenset(app for _, app in variants),
                                            tuple(variants), source)
    top.finish(_FAMILIES_KEYS)
    return families, sources


def _read_identity(node: Node, problems: Problems) -> list[tuple[str, App, str, Location]] | None:
    """One entry of `apps`: the same identifier on one or more platforms."""
    entry = Fields.of(node, problems, "an app identity")
    if entry is None:
        return None
    variant = _text(entry, "variant")
    platforms = _list(entry, "platforms", "platform",
                      lambda n: as_choice(n, Platform, problems, "a platform", noun="platform"), required=True)
    identifier = _text(entry, "identifier")
    source = _text(entry, "source", hint=_SOURCE_HINT)
    entry.finish(_IDENTITY_KEYS)
    if identifier is None:
        return None
    for platform in platforms:
        pattern, hint = _IDENTIFIER_RULES[platform]
        if not pattern.fullmatch(identifier):
            problems.add(entry.value_location("identifier"),
                         f"`{identifier}` is not a valid {platform} identifier", hint)
            return None
    if variant is None or source is None:
        return None
    return [(variant, App(platform, identifier), source, node.where) for platform in platforms]


# --- the catalogue's wording, on top of appban.yamldoc ----------------------------------------------------
# The catalogue says "`name` is missing" with a hint of its own, wants text written as text and not empty, and
# wants every list to be written as a list.


def _given(entry: Fields, key: str) -> bool:
    found = entry.get(key)
    return found is not None and found.value is not None


def _present(entry: Fields, key: str, hint: str | None = None) -> bool:
    """Whether `key` has a value; reports it as missing if not."""
    if _given(entry, key):
        return True
    entry.problems.add(entry.node.where, f"`{key}` is missing", hint or f"add `{key}:`")
    return False


def _text(entry: Fields, key: str, *, hint: str | None = None, pattern: re.Pattern[str] | None = None,
          pattern_hint: str | None = None) -> str | None:
    if not _present(entry, key, hint):
        return None
    return entry.text(key, pattern=pattern, pattern_hint=pattern_hint, strict=True)


def _identifier(entry: Fields, key: str) -> str | None:
    return _text(entry, key, pattern=ID_PATTERN, pattern_hint=_ID_HINT)


def _reference(entry: Fields, key: str, known: Collection[str], what: str) -> str | None:
    value = _identifier(entry, key)
    if value is None or value in known:
        return value
    suggestion = closest(value, sorted(known))
    hint = f"did you mean `{suggestion}`?" if suggestion else f"add the {what} to publishers.yaml first"
    entry.problems.add(entry.value_location(key), f"unknown {what} `{value}`", hint)
    return None


def _choice(entry: Fields, key: str, enum: type[E]) -> E | None:
    if not _present(entry, key, f"one of: {', '.join(member.value for member in enum)}"):
        return None
    return entry.choice(key, enum, noun=key)


def _list(entry: Fields, key: str, what: str, read: Callable[[Node], T | None], *,
          required: bool = False) -> list[T]:
    """The items of the list `key`, read by `read`. Only a required list must be given and not be empty."""
    if required and not _present(entry, key, f"list at least one {what} under `{key}:`"):
        return []
    return entry.listing(key, read, what=what, single=False, allow_empty=not required)


def _entries(entry: Fields, key: str, what: str, noun: str, *, required: bool = False) -> list[Fields]:
    """The list `key` of mappings, each called `noun` in messages."""
    return _list(entry, key, what, lambda node: Fields.of(node, entry.problems, noun), required=required)
