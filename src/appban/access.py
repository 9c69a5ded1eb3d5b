"""Who may do what: the roles of API tokens, and the tokens themselves as values.

A token is `apb_` followed by 43 URL-safe characters (256 random bits): the prefix makes a leaked token
recognisable to secret scanners and people alike. Only its SHA-256 is ever stored; a token is shown once, when
it is created. SHA-256 rather than a slow password hash is right here: the secret has 256 bits of entropy,
so there is nothing to guess, and the gate must check a token in microseconds. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "TOKEN_PREFIX",
    "Permission",
    "Role",
    "TokenInfo",
    "allows",
    "looks_like_token",
    "new_token",
    "same_hash",
    "token_hash",
]

TOKEN_PREFIX = "apb_"  # noqa: S105 (the public prefix, not a secret)
_SECRET_BYTES = 32
_TOKEN_LENGTH = len(TOKEN_PREFIX) + 43  # base64url of 32 bytes, unpadded


class Role(StrEnum):
    """What a token's holder is: each role is a set of permissions (see `allows`)."""

    ADMIN = "admin"  # manages its organisation subtree: restrictions, exemptions, organisations, tokens
    ANALYST = "analyst"  # assessments, and reads everything in its subtree
    AUDITOR = "auditor"  # reads everything in its subtree, the audit log included; changes nothing
    SOURCE = "source"  # pushes inventory for its organisation only
    GATE = "gate"  # asks the gate for decisions, nothing else


class Permission(StrEnum):
    READ = "read"
    MANAGE = "manage"  # restrictions, exemptions, organisations, holders
    REQUEST_EXEMPTION = "request-exemption"  # ask the issuer's admins to excuse a device or holder of the subtree
    MANAGE_TOKENS = "manage-tokens"
    READ_AUDIT = "read-audit"
    ASSESS = "assess"
    PUSH_INVENTORY = "push-inventory"
    GATE = "gate"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset({Permission.READ, Permission.MANAGE, Permission.MANAGE_TOKENS, Permission.READ_AUDIT,
                          Permission.PUSH_INVENTORY, Permission.REQUEST_EXEMPTION}),
    Role.ANALYST: frozenset({Permission.READ, Permission.ASSESS, Permission.REQUEST_EXEMPTION}),
    Role.AUDITOR: frozenset({Permission.READ, Permission.READ_AUDIT}),
    Role.SOURCE: frozenset({Permission.PUSH_INVENTORY}),
    Role.GATE: frozenset({Permission.GATE}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without its secret: what it may do, where, and until when."""

    id: str
    name: str
    organisation: str
    role: Role
    created_at: dt.datetime
    created_by: str
    expires: dt.datetime | None
    revoked_at: dt.datetime | None = None

    def valid(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires is None or now < self.expires)


def new_token() -> str:
    """A fresh random token, to be shown once and stored only as `token_hash`."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def looks_like_token(text: str) -> bool:
    """Cheap shape check before any hashing or lookup."""
    return len(text) == _TOKEN_LENGTH and text.startswith(TOKEN_PREFIX)


def token_hash(token: str) -> str:
    """The stored form of a token: SHA-256 in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a, b)
