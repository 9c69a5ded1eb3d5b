"""The organisation hierarchy: the organisations file, and the tree that scope matching walks.

Organisations are listed flat with a `parent` reference (not nested), because that is how a hierarchy grows
over several files and systems, and it is the form in which a cycle can be written and must be caught.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appban.errors import Location
from appban.model import Organisation
from appban.yamldoc import Fields, Node, Problems, closest, load_document

__all__ = [
    "ID_PATTERN",
    "OrganisationEntry",
    "OrganisationTree",
    "check_organisations",
    "organisations_from_document",
    "parse_organisations",
]

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
ID_HINT = "use lower-case letters, digits and hyphens, like `be-federal`"
COUNTRY = re.compile(r"[A-Z]{2}")
_ORG_KEYS = ("id", "name", "parent", "kind", "country")


@dataclass(frozen=True, slots=True)
class OrganisationEntry:
    """An organisation as read from a file, with where its id and parent stand (for later errors)."""

    organisation: Organisation
    where: Location
    parent_where: Location | None


class OrganisationTree:
    """An acyclic hierarchy of organisations. Build it with `OrganisationTree.of` once checked."""

    def __init__(self, organisations: Iterable[Organisation]) -> None:
        self.organisations: Mapping[str, Organisation] = {o.id: o for o in organisations}
        children: dict[str, list[str]] = {}
        for org in self.organisations.values():
            if org.parent is not None:
                children.setdefault(org.parent, []).append(org.id)
        self._children = {k: tuple(sorted(v)) for k, v in children.items()}

    def __contains__(self, org_id: object) -> bool:
        return org_id in self.organisations

    def children(self, org_id: str) -> tuple[str, ...]:
        return self._children.get(org_id, ())

    def subtree(self, org_id: str) -> set[str]:
        """The organisation and every descendant (empty if unknown)."""
        if org_id not in self.organisations:
            return set()
        out: set[str] = set()
        stack = [org_id]
        while stack:
            current = stack.pop()
            if current in out:
                continue
            out.add(current)
            stack.extend(self.children(current))
        return out

    def ancestors(self, org_id: str) -> tuple[str, ...]:
        """From the organisation itself up to its root."""
        path: list[str] = []
        current: str | None = org_id
        while current is not None and current in self.organisations and current not in path:
            path.append(current)
            current = self.organisations[current].parent
        return tuple(path)

    def is_within(self, org_id: str, root: str) -> bool:
        return root in self.ancestors(org_id)

    def roots(self) -> tuple[str, ...]:
        return tuple(sorted(o.id for o in self.organisations.values() if o.parent is None))


def parse_organisations(text: str, source: str) -> tuple[OrganisationEntry, ...]:
    """Read an organisations file; raises InvalidInput with every problem (structure only, see check)."""
    return organisations_from_document(load_document(text, source))


def organisations_from_document(document: Node) -> tuple[OrganisationEntry, ...]:
    """Read organisations from an already loaded YAML document (see `parse_organisations`)."""
    problems = Problems()
    top = Fields.of(document, problems, "the organisations file")
    entries: list[OrganisationEntry] = []
    if top is not None:
        listing = top.required("organisations")
        top.finish(["organisations"])
        if listing is not None and not listing.is_sequence:
            problems.add(listing.where, "`organisations` must be a list")
        elif listing is not None:
            for node in listing.items():
                fields = Fields.of(node, problems, "an organisation")
                if fields is None:
                    continue
                org_id = fields.text("id", required=True, pattern=ID_PATTERN, pattern_hint=ID_HINT)
                name = fields.text("name", required=True)
                parent = fields.text("parent", pattern=ID_PATTERN, pattern_hint=ID_HINT)
                kind = fields.text("kind")
                country = fields.text("country", pattern=COUNTRY, pattern_hint="an ISO 3166 code like BE")
                fields.finish(_ORG_KEYS)
                if org_id is None or name is None:
                    continue
                parent_node = fields.get("parent")
                entries.append(OrganisationEntry(
                    Organisation(id=org_id, name=name, parent=parent, kind=kind, country=country),
                    where=fields.key_location("id"),
                    parent_where=parent_node.where if parent_node is not None else None,
                ))
    problems.raise_if_any()
    return tuple(entries)


def check_organisations(entries: Iterable[OrganisationEntry], known: Iterable[Organisation] = ()) -> Problems:
    """Duplicates, unknown parents and cycles, over the new entries together with what is already known."""
    problems = Problems()
    merged: dict[str, Organisation] = {o.id: o for o in known}
    seen: dict[str, Location] = {}
    entry_list = list(entries)
    for entry in entry_list:
        org = entry.organisation
        if org.id in seen:
            problems.add(entry.where, f"organisation `{org.id}` is listed twice (first at {seen[org.id]})")
            continue
        seen[org.id] = entry.where
        merged[org.id] = org
    for entry in entry_list:
        org = entry.organisation
        if org.parent is not None and org.parent not in merged:
            suggestion = closest(org.parent, sorted(merged))
            problems.add(entry.parent_where or entry.where, f"unknown parent organisation `{org.parent}`",
                         f"did you mean `{suggestion}`?" if suggestion else "list the parent first")
    reported: set[str] = set()
    for entry in entry_list:
        cycle = _cycle_from(entry.organisation.id, merged)
        if cycle and not reported & set(cycle):
            reported |= set(cycle)
            problems.add(entry.parent_where or entry.where,
                         "the organisation tree has a cycle: " + " -> ".join([*cycle, cycle[0]]),
                         "an organisation cannot be its own ancestor")
    return problems


def _cycle_from(start: str, organisations: Mapping[str, Organisation]) -> list[str]:
    path: list[str] = []
    current: str | None = start
    while current is not None and current in organisations:
        if current in path:
            return path[path.index(current):]
        path.append(current)
        current = organisations[current].parent
    return []
