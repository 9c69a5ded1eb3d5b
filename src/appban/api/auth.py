"""Who is calling: the bearer token checked against the store, and the role's permissions.

A missing, unknown, expired or revoked token is a 401 with `WWW-Authenticate: Bearer`; a role without the
permission a route needs is a 403, decided before any object is looked up, so it tells nothing about which
objects exist. Which objects a caller may see is the job of `appban.api.scope`; the token table is
`appban.api.token_cache`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from appban.access import Permission, TokenInfo, allows
from appban.api.backend import Backend
from appban.api.errors import ApiError

__all__ = ["BEARER", "AuditReader", "Caller", "Manager", "Pusher", "Reader", "TokenManager", "authenticate", "require"]

BEARER = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer apb_...`")
_CHALLENGE = 'Bearer realm="appban"'


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request's token, and the backend it was checked against."""

    token: TokenInfo
    backend: Backend

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"token:{self.token.id} ({self.token.name})"

    def may(self, permission: Permission) -> bool:
        return allows(self.token.role, permission)


def authenticate(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> Caller:
    """The dependency every route but /healthz, /metrics and /openapi.json has: a valid token or 401."""
    if credentials is None:
        raise ApiError(401, "this needs an API token", hint="send `Authorization: Bearer apb_...`",
                       headers={"WWW-Authenticate": _CHALLENGE})
    backend: Backend = request.app.state.appban
    info = backend.tokens.lookup(credentials.credentials)
    if info is None:
        raise ApiError(401, "the token is not valid: unknown, expired or revoked",
                       hint="ask an administrator for a new token (`appban token create`)",
                       headers={"WWW-Authenticate": _CHALLENGE + ', error="invalid_token"'})
    request.state.token_id = info.id  # for the request log line
    wait = backend.rate.take(info.id)
    if wait is not None:
        raise ApiError(429, f"too many requests for this token: at most {backend.rate.rate:g} a second "
                       f"(bursts of {backend.rate.burst})", hint=f"wait {math.ceil(wait)} s (`Retry-After`), "
                       "then send fewer requests; ask for a token of its own for each source or script",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return Caller(info, backend)


def require(permission: Permission) -> Callable[[Caller], Caller]:
    """A dependency: the caller, if its role has `permission`; 403 otherwise."""

    def check(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if not caller.may(permission):
            raise ApiError(403, f"a `{caller.token.role}` token may not do this (it needs `{permission}`)",
                           hint="use a token with a role that has this permission")
        return caller

    check.__name__ = f"require_{permission.value.replace('-', '_')}"
    return check


# What routes declare: the caller, with the permission the route needs.
Reader = Annotated[Caller, Depends(require(Permission.READ))]
Manager = Annotated[Caller, Depends(require(Permission.MANAGE))]
TokenManager = Annotated[Caller, Depends(require(Permission.MANAGE_TOKENS))]
AuditReader = Annotated[Caller, Depends(require(Permission.READ_AUDIT))]
Pusher = Annotated[Caller, Depends(require(Permission.PUSH_INVENTORY))]
