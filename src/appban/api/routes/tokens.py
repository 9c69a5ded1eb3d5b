"""`/api/v1/tokens`: admins create, list and revoke the API tokens of their subtree.

A token is created for an organisation of the admin's subtree, with any role (admin is the widest, so none
is above the creator's own); its secret is in the creation response only and cannot be shown again. Tokens
are never deleted: a revoked one stays listed, as the audit log names it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict

from appban.access import Role, TokenInfo
from appban.api.auth import TokenManager
from appban.api.errors import responses
from appban.api.fields import ID_PATTERN, Name, OrganisationId, UtcDatetime
from appban.api.pagination import Page, PageParams, query_of, slice_page
from appban.api.scope import scoped
from appban.errors import InvalidInput, NotFound
from appban.store import TokenRepository
from appban.store.tables import ID_LENGTH

__all__ = ["CreatedToken", "TokenIn", "TokenOut", "router"]

router = APIRouter(tags=["tokens"])

TokenPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_LENGTH, description="A token's id (`tok_...`).")]
TokenState = Literal["active", "expired", "revoked"]
NOTICE = "This is the only time the secret is shown: store it now. appban keeps only its hash."


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    role: Role
    organisation: OrganisationId | None = None  # default: the caller's organisation
    expires: UtcDatetime | None = None


class TokenOut(BaseModel):
    id: str
    name: str
    organisation: str
    role: Role
    created_at: dt.datetime
    created_by: str
    expires: dt.datetime | None
    revoked_at: dt.datetime | None
    state: TokenState


class CreatedToken(TokenOut):
    secret: str
    notice: str


def _state(info: TokenInfo, now: dt.datetime) -> TokenState:
    if info.revoked_at is not None:
        return "revoked"
    return "active" if info.valid(now) else "expired"


def _out(info: TokenInfo, now: dt.datetime) -> TokenOut:
    return TokenOut(id=info.id, name=info.name, organisation=info.organisation, role=info.role,
                    created_at=info.created_at, created_by=info.created_by, expires=info.expires,
                    revoked_at=info.revoked_at, state=_state(info, now))


@router.get("/tokens", response_model=Page[TokenOut], responses=responses(404),
            summary="Tokens of the caller's subtree, revoked and expired ones too")
def list_tokens(
    caller: TokenManager,
    page: PageParams,
    organisation: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH)] = None,
    role: Role | None = None,
    state: TokenState | None = None,
    sort: Literal["id", "-id", "name", "-name", "created_at", "-created_at"] = "id",
) -> Page[TokenOut]:
    query = query_of("tokens", organisation=organisation, role=role, state=state, sort=sort)
    with scoped(caller) as work:
        if organisation is not None:
            work.organisation(organisation)
        tokens = [_out(t, work.now) for t in TokenRepository(work.session).list(set(work.organisations))]
    tokens = [t for t in tokens if (organisation is None or t.organisation == organisation)
              and (role is None or t.role is role) and (state is None or t.state == state)]
    field = sort.lstrip("-")
    tokens.sort(key=lambda t: (str(getattr(t, field)), t.id), reverse=sort.startswith("-"))
    items, cursor, total = slice_page(tokens, page, query)
    return Page[TokenOut](items=items, next=cursor, total=total)


@router.post("/tokens", response_model=CreatedToken, status_code=201,
             summary="Create a token; its secret is shown in this response only")
def create_token(body: TokenIn, response: Response,
                 caller: TokenManager) -> CreatedToken:
    with scoped(caller) as work:
        organisation = body.organisation or work.home
        if not work.sees(organisation):
            raise InvalidInput.at("body.organisation", f"unknown organisation `{organisation}`",
                                  hint="a token belongs to your organisation or one below it")
        info, secret = TokenRepository(work.session).create(name=body.name, organisation=organisation,
                                                            role=body.role, expires=body.expires,
                                                            actor=caller.actor, now=work.now)
    caller.backend.tokens.invalidate()
    response.headers["Location"] = f"/api/v1/tokens/{info.id}"
    response.headers["Cache-Control"] = "no-store"
    return CreatedToken(**_out(info, work.now).model_dump(), secret=secret, notice=NOTICE)


def _visible(info: TokenInfo | None, token_id: str, organisations: frozenset[str]) -> TokenInfo:
    if info is None or info.organisation not in organisations:
        raise NotFound(f"no token `{token_id}`")
    return info


@router.get("/tokens/{token_id}", response_model=TokenOut, responses=responses(404))
def get_token(token_id: TokenPath, caller: TokenManager) -> TokenOut:
    with scoped(caller) as work:
        return _out(_visible(TokenRepository(work.session).get(token_id), token_id, work.organisations), work.now)


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses=responses(404, 409),
               summary="Revoke a token now (in this process at once, in others within a second)")
def revoke_token(token_id: TokenPath, caller: TokenManager) -> TokenOut:
    with scoped(caller) as work:
        repository = TokenRepository(work.session)
        _visible(repository.get(token_id), token_id, work.organisations)
        info = repository.revoke(token_id, actor=caller.actor, now=work.now)
    caller.backend.tokens.invalidate()
    return _out(info, work.now)
