"""`/api/v1/restrictions/{id}/adoptions`: child organisations adopt, or decline, a recommended restriction.

Belgium's National Security Council called on regional, provincial and local authorities to follow its ban:
a recommended restriction binds a child organisation once it adopts it. An admin decides for organisations
of its own subtree that lie below the restriction's issuer; each decision is audited and re-evaluates the
restriction's findings at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict

from appban.api.auth import Manager, Reader
from appban.api.errors import responses
from appban.api.fields import ID_PATTERN, Note
from appban.api.pagination import Page, PageParams, query_of, slice_page
from appban.api.scope import scoped
from appban.errors import InvalidInput
from appban.model import ChildPolicy
from appban.service import evaluate_rules
from appban.store import Adoption, AdoptionRepository
from appban.store.tables import ID_LENGTH

__all__ = ["AdoptionIn", "AdoptionOut", "router"]

router = APIRouter(prefix="/restrictions/{restriction_id}/adoptions", tags=["restrictions"])

RestrictionPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH, description="A restriction's id.")]
OrganisationPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH, description="The deciding "
                                                                                               "organisation.")]


class AdoptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adopted: bool
    note: Note = ""


class AdoptionOut(BaseModel):
    restriction: str
    organisation: str
    adopted: bool
    decided_at: dt.datetime
    decided_by: str
    note: str


def _out(adoption: Adoption) -> AdoptionOut:
    return AdoptionOut(restriction=adoption.restriction, organisation=adoption.organisation, adopted=adoption.adopted,
                       decided_at=adoption.decided_at, decided_by=adoption.decided_by, note=adoption.note)


@router.get("", response_model=Page[AdoptionOut], responses=responses(404),
            summary="Decisions of the caller's organisations on a restriction")
def list_adoptions(restriction_id: RestrictionPath, caller: Reader,
                   page: PageParams) -> Page[AdoptionOut]:
    with scoped(caller) as work:
        work.restriction(restriction_id)
        decisions = [a for a in AdoptionRepository(work.session).all()
                     if a.restriction == restriction_id and work.sees(a.organisation)]
    items, cursor, total = slice_page(decisions, page, query_of("adoptions", restriction=restriction_id))
    return Page[AdoptionOut](items=[_out(a) for a in items], next=cursor, total=total)


@router.put("/{organisation_id}", response_model=AdoptionOut, responses=responses(404),
            summary="Record an organisation's adoption of (or refusal to adopt) a recommended restriction")
def decide_adoption(restriction_id: RestrictionPath, organisation_id: OrganisationPath, body: AdoptionIn,
                    caller: Manager) -> AdoptionOut:
    with scoped(caller) as work:
        restriction = work.restriction(restriction_id)
        work.organisation(organisation_id)
        if restriction.children is not ChildPolicy.RECOMMENDED:
            raise InvalidInput.at("path.restriction_id", f"`{restriction_id}` is mandatory for child organisations; "
                                  "there is nothing to adopt")
        if organisation_id == restriction.issuer or not work.tree.is_within(organisation_id, restriction.issuer):
            raise InvalidInput.at("path.organisation_id", f"`{organisation_id}` is not below the issuer "
                                  f"`{restriction.issuer}`", hint="only organisations below the issuer adopt its "
                                  "recommendations")
        adoption = AdoptionRepository(work.session).record(restriction_id, organisation_id, adopted=body.adopted,
                                                           actor=caller.actor, now=work.now, note=body.note)
        work.reload()
        evaluate_rules(work.session, work.context, [restriction_id], work.now)
        return _out(adoption)
