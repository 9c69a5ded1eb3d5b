"""Policy files of either kind, told apart by their content: an organisations file or one restriction.

`appban policy check examples/**/*.yaml` is handed both kinds at once; the organisations file is the one
whose top level is `organisations:`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from appban.catalog import Catalog
from appban.errors import InvalidInput, Location, Problem
from appban.model import Organisation
from appban.policy.check import PolicySet
from appban.policy.organisations import (
    OrganisationEntry,
    OrganisationTree,
    check_organisations,
    organisations_from_document,
)
from appban.policy.restriction import ParsedRestriction, restriction_from_document
from appban.yamldoc import Node, load_document

__all__ = ["PolicyBatch", "is_organisations_file", "parse_policy_text", "read_batch"]


def parse_policy_text(text: str, source: str, references: PolicySet | None = None,
                      ) -> tuple[OrganisationEntry, ...] | ParsedRestriction:
    """One policy file: its organisations, or its restriction. Raises InvalidInput with every problem."""
    document = load_document(text, source)
    if is_organisations_file(document):
        return organisations_from_document(document)
    return restriction_from_document(document, text, references)


def is_organisations_file(document: Node) -> bool:
    return isinstance(document.value, dict) and "organisations" in document.value


@dataclass(frozen=True, slots=True)
class PolicyBatch:
    """Files read and checked together: what `policy check` reports on and `policy apply` stores."""

    organisations: tuple[OrganisationEntry, ...]
    restrictions: tuple[ParsedRestriction, ...]
    tree: OrganisationTree


def read_batch(files: Iterable[tuple[str, str]], *, known: Iterable[Organisation], catalog: Catalog,
               ) -> PolicyBatch:
    """Parse and cross-check (source, text) pairs; raises one InvalidInput holding every problem of every file.

    Organisations files are read first, so that a new organisation and its first restriction can be applied
    together; restrictions are then checked against the stored organisations and the batch's.
    """
    problems: list[Problem] = []
    entries: list[OrganisationEntry] = []
    documents: list[tuple[Node, str]] = []
    for source, text in files:
        try:
            document = load_document(text, source)
        except InvalidInput as error:
            problems.extend(error.problems)
            continue
        if is_organisations_file(document):
            try:
                entries.extend(organisations_from_document(document))
            except InvalidInput as error:
                problems.extend(error.problems)
        else:
            documents.append((document, text))
    known_list = list(known)
    org_problems = check_organisations(entries, known_list).items
    problems.extend(org_problems)
    merged = {o.id: o for o in known_list}
    if not org_problems:
        merged.update({e.organisation.id: e.organisation for e in entries})
    tree = OrganisationTree(merged.values())
    references = PolicySet(tree=tree, catalog=catalog)
    restrictions: list[ParsedRestriction] = []
    for document, text in documents:
        try:
            restrictions.append(restriction_from_document(document, text, references))
        except InvalidInput as error:
            problems.extend(error.problems)
    first_seen: dict[str, Location] = {}
    for parsed in restrictions:
        restriction_id = parsed.restriction.id
        if restriction_id in first_seen:
            problems.append(Problem(parsed.place("id"), f"restriction id `{restriction_id}` is used twice "
                                    f"(also at {first_seen[restriction_id]})", "each restriction needs its own id"))
        first_seen.setdefault(restriction_id, parsed.place("id"))
    if problems:
        raise InvalidInput(problems)
    return PolicyBatch(tuple(entries), tuple(restrictions), tree)
