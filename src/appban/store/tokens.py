"""API tokens in the store: created (the secret returned once), looked up by hash, listed, revoked.

Creating and revoking are audited (`token:create`, `token:revoke`); the audit entry names the token's id, name,
role and organisation, never its secret or hash.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from appban.access import Role, TokenInfo, looks_like_token, new_token, token_hash
from appban.audit import AuditEvent
from appban.errors import Conflict, InvalidInput, Location, NotFound, Problem
from appban.store.audit_log import AuditLog
from appban.store.bulk import chunked
from appban.store.tables import ApiTokenRow, OrganisationRow

__all__ = ["TokenRepository"]

MAX_NAME = 200


class TokenRepository:
    """API tokens in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(self, *, name: str, organisation: str, role: Role, expires: dt.datetime | None, actor: str,
               now: dt.datetime) -> tuple[TokenInfo, str]:
        """Store a new token; returns it with its secret, which is not kept and cannot be shown again.

        Raises InvalidInput for an empty or long name or an expiry not in the future, NotFound for an
        unknown organisation.
        """
        where = Location(f"token {name!r}")
        problems: list[Problem] = []
        if not name.strip() or len(name) > MAX_NAME:
            problems.append(Problem(where, f"`name` must have 1 to {MAX_NAME} characters",
                                    "name a token after what uses it, e.g. `mail-proxy` or `intune-export`"))
        if expires is not None and (expires.tzinfo is None or expires <= now):
            problems.append(Problem(where, "`expires` must be a UTC time in the future"))
        if problems:
            raise InvalidInput(problems)
        if self._session.get(OrganisationRow, organisation) is None:
            raise NotFound(f"token {name!r}: `organisation`: no organisation `{organisation}`")
        secret = new_token()
        info = TokenInfo(id="tok_" + secrets.token_hex(8), name=name.strip(), organisation=organisation,
                         role=role, created_at=now, created_by=actor, expires=expires)
        self._session.add(ApiTokenRow(id=info.id, token_hash=token_hash(secret), name=info.name,
                                      organisation_id=organisation, role=role.value, created_at=now,
                                      created_by=actor, expires_at=expires, revoked_at=None))
        self._session.flush()
        AuditLog(self._session).append(AuditEvent.TOKEN_CREATE, info.id, actor=actor, at=now, details=_details(info))
        return info, secret

    def verify(self, secret: str, now: dt.datetime) -> TokenInfo | None:
        """The token this secret belongs to, if it is valid now (known, not revoked, not expired)."""
        if not looks_like_token(secret):
            return None
        row = self._session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash(secret)))
        if row is None:
            return None
        info = _info(row)
        return info if info.valid(now) else None

    def valid_by_hash(self, now: dt.datetime) -> dict[str, TokenInfo]:
        """Every token valid now, by hash: what a process that checks tokens per request keeps in memory."""
        rows = self._session.scalars(select(ApiTokenRow).where(ApiTokenRow.revoked_at.is_(None)))
        return {row.token_hash: info for row in rows if (info := _info(row)).valid(now)}

    def get(self, token_id: str) -> TokenInfo | None:
        row = self._session.get(ApiTokenRow, token_id)
        return None if row is None else _info(row)

    def list(self, organisations: set[str] | None = None) -> list[TokenInfo]:
        """Tokens (revoked and expired ones too), of these organisations only when given; by id."""
        if organisations is None:
            return [_info(row) for row in self._session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))]
        out: list[TokenInfo] = []
        for chunk in chunked(sorted(organisations)):
            out += [_info(row) for row in self._session.scalars(
                select(ApiTokenRow).where(ApiTokenRow.organisation_id.in_(chunk)))]
        return sorted(out, key=lambda info: info.id)

    def revoke(self, token_id: str, *, actor: str, now: dt.datetime) -> TokenInfo:
        """Revoke a token now (audited). Raises NotFound for an unknown id, Conflict for one already revoked."""
        row = self._session.get(ApiTokenRow, token_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no token `{token_id}`")
        if row.revoked_at is not None:
            raise Conflict(f"token `{token_id}` was already revoked on {row.revoked_at:%Y-%m-%d %H:%M} UTC")
        row.revoked_at = now
        self._session.flush()
        info = _info(row)
        AuditLog(self._session).append(AuditEvent.TOKEN_REVOKE, token_id, actor=actor, at=now, details=_details(info))
        return info


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(id=row.id, name=row.name, organisation=row.organisation_id, role=Role(row.role),
                     created_at=row.created_at, created_by=row.created_by, expires=row.expires_at,
                     revoked_at=row.revoked_at)


def _details(info: TokenInfo) -> dict[str, object]:
    return {"name": info.name, "organisation": info.organisation, "role": info.role.value,
            "expires": info.expires.astimezone(dt.UTC).isoformat() if info.expires else None}
