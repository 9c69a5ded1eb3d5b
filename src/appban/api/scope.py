"""What a caller may see: its token's organisation subtree, and nothing else, not even by its absence.

Every route does its work in `scoped(caller)`: one transaction, with the policy context and the caller's
subtree resolved once. An object outside the subtree is answered exactly as an id that does not exist (the
same 404, the same message), so a Belgian municipality's admin cannot learn that the Commission's devices
exist. The rules, per kind of object:

- organisations, devices, findings, tokens: those of the subtree (a finding by its device's organisation);
- restrictions: those issued inside the subtree (the caller manages them), and those issued above it whose
  scope covers part of it (the caller is bound by them, or may adopt them: read only);
- exemptions, and requests for exemptions: those of restrictions issued inside the subtree, and those of
  visible restrictions that name a device of the subtree or a holder with a device there;
- the audit log: entries about the objects above (`audit_subjects`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from appban.api.auth import Caller
from appban.audit import AuditEvent
from appban.errors import NotFound
from appban.model import Exemption, Organisation, Restriction
from appban.policy import OrganisationTree
from appban.service import PolicyContext
from appban.store import (
    AssessmentRepository,
    AuditLog,
    DeviceRepository,
    ExemptionRepository,
    ExemptionRequest,
    TokenRepository,
    UserRepository,
)

__all__ = ["Work", "scoped"]


@dataclass(slots=True)
class Work:
    """One request's transaction, seen through the caller's organisation subtree."""

    session: Session
    context: PolicyContext
    caller: Caller
    now: dt.datetime
    organisations: frozenset[str]  # the caller's subtree (empty if its organisation is gone)

    @property
    def home(self) -> str:
        """The caller's own organisation, the root of what it sees."""
        return self.caller.token.organisation

    @property
    def tree(self) -> OrganisationTree:
        return self.context.tree

    @property
    def everything(self) -> bool:
        """The subtree is every organisation (a single-root installation's root): no filter needed."""
        return len(self.organisations) == len(self.tree.organisations)

    @property
    def filter(self) -> frozenset[str] | None:
        """The organisations to filter a query by, None when that is all of them."""
        return None if self.everything else self.organisations

    def filter_below(self, org_id: str | None) -> frozenset[str] | None:
        """The organisations to filter a list by: the caller's (`filter`), or the subtree of `org_id` when a
        list asks for one (NotFound, as for an unknown id, when it is not the caller's)."""
        if org_id is None:
            return self.filter
        self.organisation(org_id)
        return frozenset(self.tree.subtree(org_id))

    def reload(self) -> None:
        """Re-read the policy context after a change in this transaction (a new restriction or organisation)."""
        self.context = self.caller.backend.contexts.get(self.session)
        self.organisations = frozenset(self.context.tree.subtree(self.home))

    def sees(self, org_id: str | None) -> bool:
        return org_id is not None and org_id in self.organisations

    def organisation(self, org_id: str) -> Organisation:
        """An organisation of the subtree; NotFound as for an unknown id otherwise."""
        if org_id not in self.organisations:
            raise NotFound(f"no organisation `{org_id}`")
        return self.tree.organisations[org_id]

    def subtree_tree(self) -> OrganisationTree:
        """The tree as the caller sees it: what restriction files it sends are checked against."""
        return OrganisationTree(org for org_id, org in self.tree.organisations.items() if org_id in self.organisations)

    # --- restrictions ---------------------------------------------------------------------------------------

    def manages(self, restriction: Restriction) -> bool:
        """Issued inside the subtree: the caller's admins may change it."""
        return restriction.issuer in self.organisations

    def sees_restriction(self, restriction: Restriction) -> bool:
        if self.manages(restriction):
            return True
        home = self.home
        if home not in self.tree or not self.tree.is_within(home, restriction.issuer):
            return False
        above = set(self.tree.ancestors(home))
        return any(org in above or org in self.organisations for org in restriction.scope.organisations)

    def restriction(self, restriction_id: str) -> Restriction:
        """A restriction the caller sees (its version in force); NotFound as for an unknown id otherwise."""
        rule = self.context.rules.get(restriction_id)
        if rule is None or not self.sees_restriction(rule.restriction):
            raise NotFound(f"no restriction `{restriction_id}`")
        return rule.restriction

    def visible_restrictions(self) -> list[Restriction]:
        """Every restriction the caller sees, by id."""
        return [rule.restriction for _, rule in sorted(self.context.rules.items())
                if self.sees_restriction(rule.restriction)]

    # --- exemptions -----------------------------------------------------------------------------------------

    def visible_exemptions(self, exemptions: Iterable[Exemption]) -> list[Exemption]:
        """Those of `exemptions` the caller sees, in the order given."""
        listed = list(exemptions)
        owned: list[bool] = []
        to_place_devices: set[str] = set()
        to_place_holders: set[str] = set()
        for exemption in listed:
            rule = self.context.rules.get(exemption.restriction)
            if rule is None or not self.sees_restriction(rule.restriction):
                owned.append(False)
                continue
            owned.append(True)
            if not self.manages(rule.restriction):
                if exemption.device is not None:
                    to_place_devices.add(exemption.device)
                if exemption.holder is not None:
                    to_place_holders.add(exemption.holder)
        devices = DeviceRepository(self.session)
        holder_devices = {holder: devices.ids_of_holder(holder) for holder in sorted(to_place_holders)}
        placed = devices.get_many(to_place_devices | {d for ids in holder_devices.values() for d in ids})
        ours = {device_id for device_id, device in placed.items() if device.organisation in self.organisations}
        out: list[Exemption] = []
        for exemption, visible in zip(listed, owned, strict=True):
            if not visible:
                continue
            rule = self.context.rules[exemption.restriction]
            if (self.manages(rule.restriction) or exemption.device in ours
                    or (exemption.holder is not None and holder_devices.get(exemption.holder, set()) & ours)):
                out.append(exemption)
        return out

    def exemption(self, exemption_id: str) -> Exemption:
        """An exemption the caller sees; NotFound as for an unknown id otherwise."""
        found = ExemptionRepository(self.session).get(exemption_id)
        if found is None or not self.visible_exemptions([found]):
            raise NotFound(f"no exemption `{exemption_id}`")
        return found

    def visible_requests(self, requests: Iterable[ExemptionRequest]) -> list[ExemptionRequest]:
        """Those of `requests` the caller sees (by the exemptions' rule), in the order given."""
        listed = list(requests)
        seen = {e.id for e in self.visible_exemptions(r.as_exemption() for r in listed)}
        return [r for r in listed if r.id in seen]

    def exemption_request(self, request_id: str) -> ExemptionRequest:
        """A request for an exemption the caller sees; NotFound as for an unknown id otherwise."""
        found = ExemptionRepository(self.session).get_request(request_id)
        if found is None or not self.visible_requests([found]):
            raise NotFound(f"no exemption request `{request_id}`")
        return found

    # --- the audit log --------------------------------------------------------------------------------------

    def audit_subjects(self) -> Mapping[str, frozenset[str]] | None:
        """Which audit entries concern the subtree, as event -> subject ids (None: every entry).

        Organisations of the subtree; restrictions issued in it (created, changed, revoked, adopted or
        declined); exemptions and requests for them the caller sees; tokens, assessments and dashboard users of
        the subtree. Adoptions by the subtree of restrictions issued above it, and attestations about its
        devices: `audit_filters`.
        """
        if self.everything:
            return None
        restrictions = frozenset(r for r, rule in self.context.rules.items() if self.manages(rule.restriction))
        exemption_store = ExemptionRepository(self.session)
        exemptions = frozenset(e.id for e in self.visible_exemptions(
            record.exemption for record in exemption_store.records()))
        exemptions |= {r.id for r in self.visible_requests(exemption_store.requests())}
        tokens = frozenset(t.id for t in TokenRepository(self.session).list(set(self.organisations)))
        assessments = AssessmentRepository(self.session).ids_of(self.organisations)
        users = frozenset(user.id for user in UserRepository(self.session).list(set(self.organisations)))
        subjects: dict[str, frozenset[str]] = {}
        for event in AuditEvent:
            kind = event.value.split(":", 1)[0]
            ids = {"organisation": self.organisations, "restriction": restrictions, "exemption": exemptions,
                   "token": tokens, "assessment": assessments, "user": users}.get(kind)
            if ids:
                subjects[event.value] = ids
        return subjects

    def audit_filters(self, log: AuditLog) -> dict[str, Any]:
        """The filters of `AuditLog.page` that keep the entries about the subtree (the API's audit route and the
        dashboard's audit page both read the log through this): `audit_subjects`, plus the subtree's adoptions
        and declines of restrictions issued above it, plus entries about its devices."""
        subjects = self.audit_subjects()
        if subjects is None:
            return {}
        above = sorted(r for r, rule in self.context.rules.items()
                       if self.sees_restriction(rule.restriction) and not self.manages(rule.restriction))
        seqs: set[int] = set()
        if above:
            decisions = (AuditEvent.RESTRICTION_ADOPT.value, AuditEvent.RESTRICTION_DECLINE.value)
            for entry in log.page(subjects=dict.fromkeys(decisions, above), limit=None):
                if entry.details.get("organisation") in self.organisations:
                    seqs.add(entry.seq)
        return {"subjects": subjects, "device_organisations": self.organisations, "seqs": seqs}


@contextmanager
def scoped(caller: Caller) -> Iterator[Work]:
    """One transaction seen through the caller's subtree; committed when the block ends, rolled back on error."""
    backend = caller.backend
    with backend.database.session() as session:
        context = backend.contexts.get(session)
        organisations = frozenset(context.tree.subtree(caller.token.organisation))
        yield Work(session=session, context=context, caller=caller, now=backend.clock(), organisations=organisations)
