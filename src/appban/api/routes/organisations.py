"""`/api/v1/organisations`: the caller's subtree of the hierarchy; admins add and change organisations in it.

An admin creates organisations below its own and changes those below it (never its own organisation, which
belongs to the level above). Ids are one namespace for the whole installation, so creating an id that is
taken anywhere is a 409 that says only that. Every change is audited by the store; moving an organisation
re-evaluates findings, since restrictions bind by subtree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict

from appban.api.auth import Manager, Reader
from appban.api.errors import ApiError, responses
from appban.api.fields import ID_PATTERN, Country, Name, OrganisationId
from appban.api.pagination import Page, PageParams, query_of, slice_page
from appban.api.scope import scoped
from appban.errors import Conflict, InvalidInput
from appban.model import Organisation
from appban.service import evaluate_rules
from appban.store import OrganisationRepository
from appban.store.tables import ID_LENGTH

__all__ = ["OrganisationChange", "OrganisationIn", "OrganisationOut", "router"]

router = APIRouter(prefix="/organisations", tags=["organisations"])

OrganisationPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH, description="An organisation's id.")]


class OrganisationOut(BaseModel):
    id: str
    name: str
    parent: str | None
    kind: str | None
    country: str | None


class OrganisationChange(BaseModel):
    """An organisation's fields other than its id (PUT replaces them all)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    parent: OrganisationId
    kind: Name | None = None
    country: Country | None = None


class OrganisationIn(OrganisationChange):
    id: OrganisationId


def _out(org: Organisation) -> OrganisationOut:
    return OrganisationOut(id=org.id, name=org.name, parent=org.parent, kind=org.kind, country=org.country)


@router.get("", response_model=Page[OrganisationOut], summary="The caller's organisation and those below it")
def list_organisations(
    caller: Reader,
    page: PageParams,
    parent: str | None = Query(None, pattern=ID_PATTERN, max_length=ID_LENGTH, description="Children of this one."),
    kind: str | None = Query(None, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"),
    sort: Literal["id", "-id", "name", "-name"] = "id",
) -> Page[OrganisationOut]:
    with scoped(caller) as work:
        orgs = [work.tree.organisations[org_id] for org_id in work.organisations]
    orgs = [o for o in orgs if (parent is None or o.parent == parent) and (kind is None or o.kind == kind)]
    field = sort.lstrip("-")
    orgs.sort(key=lambda o: (o.name.casefold() if field == "name" else o.id, o.id), reverse=sort.startswith("-"))
    items, cursor, total = slice_page(orgs, page, query_of("organisations", parent=parent, kind=kind, sort=sort))
    return Page[OrganisationOut](items=[_out(o) for o in items], next=cursor, total=total)


@router.get("/{organisation_id}", response_model=OrganisationOut, responses=responses(404))
def get_organisation(organisation_id: OrganisationPath,
                     caller: Reader) -> OrganisationOut:
    with scoped(caller) as work:
        return _out(work.organisation(organisation_id))


@router.post("", response_model=OrganisationOut, status_code=201, responses=responses(409),
             summary="Create an organisation below one of the caller's")
def create_organisation(body: OrganisationIn, response: Response,
                        caller: Manager) -> OrganisationOut:
    with scoped(caller) as work:
        if not work.sees(body.parent):
            raise InvalidInput.at("body.parent", f"unknown organisation `{body.parent}`",
                                  hint="the parent must be your organisation or one below it")
        repository = OrganisationRepository(work.session)
        if repository.get(body.id) is not None:
            raise Conflict(f"the organisation id `{body.id}` is already in use (choose another)")
        org = Organisation(id=body.id, name=body.name, parent=body.parent, kind=body.kind, country=body.country)
        repository.apply([org], actor=caller.actor, now=work.now)
    response.headers["Location"] = f"/api/v1/organisations/{org.id}"
    return _out(org)


@router.put("/{organisation_id}", response_model=OrganisationOut, responses=responses(404))
def update_organisation(organisation_id: OrganisationPath, body: OrganisationChange,
                        caller: Manager) -> OrganisationOut:
    with scoped(caller) as work:
        current = work.organisation(organisation_id)
        if organisation_id == work.home:
            raise ApiError(403, "an organisation's own admins cannot change it; the level above can",
                           hint="ask an admin of the parent organisation")
        if not work.sees(body.parent):
            raise InvalidInput.at("body.parent", f"unknown organisation `{body.parent}`",
                                  hint="the parent must be your organisation or one below it")
        if work.tree.is_within(body.parent, organisation_id):
            raise InvalidInput.at("body.parent", f"`{body.parent}` is `{organisation_id}` or below it",
                                  hint="an organisation cannot be its own ancestor")
        org = Organisation(id=organisation_id, name=body.name, parent=body.parent, kind=body.kind,
                           country=body.country)
        OrganisationRepository(work.session).apply([org], actor=caller.actor, now=work.now)
        if org.parent != current.parent:  # restrictions bind by subtree: who is bound may have changed
            work.reload()
            evaluate_rules(work.session, work.context, list(work.context.rules), work.now)
    return _out(org)
