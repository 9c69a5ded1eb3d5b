"""Dashboard users in the store: created with a password, verified at sign-in, listed, disabled.

A user belongs to one organisation and has one role of `appban.access.Role` (admin, analyst or auditor: the
`source` and `gate` roles are for machines and have API tokens instead). The password is kept only as its
scrypt hash (`hashlib.scrypt`, memory-hard: n=2**14, r=8, p=1, 16 random bytes of salt, 32 bytes of key, about
16 MiB of memory per check), stored as `scrypt$n$r$p$salt$key` (salt and key in base64url) so that the
parameters can be raised later without invalidating stored hashes. Checks compare in constant time, and an
unknown username costs the same hash as a known one, so timing does not tell which usernames exist.

Creating and disabling are audited (`user:create`, `user:disable`): the entry names the user's id, username,
role and organisation, never the password or its hash.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from appban.access import Role
from appban.audit import AuditEvent
from appban.errors import Conflict, InvalidInput, Location, NotFound, Problem
from appban.store.audit_log import AuditLog
from appban.store.bulk import chunked
from appban.store.tables import OrganisationRow, UserRow

__all__ = ["SCRYPT_N", "SCRYPT_P", "SCRYPT_R", "USER_ROLES", "UserInfo", "UserRepository", "hash_password",
           "verify_password"]

SCRYPT_N = 2**14  # CPU/memory cost: 128 * n * r bytes = 16 MiB
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAX_MEMORY = 64 * 1024 * 1024  # hashlib's default limit (32 MiB) is too close to n=2**14, r=8
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
USER_ROLES = (Role.ADMIN, Role.ANALYST, Role.AUDITOR)
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,62}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=_KEY_BYTES)


def hash_password(password: str) -> str:
    """The stored form of a password: `scrypt$n$r$p$salt$key`, with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` was made from (constant-time comparison of the keys)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """A well-formed hash of no password anyone knows: what an unknown username is checked against."""
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A stored user, without the password hash."""

    id: str
    username: str
    organisation: str
    role: Role
    created_at: dt.datetime
    created_by: str
    disabled_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class UserRepository:
    """Dashboard users in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(self, *, username: str, organisation: str, role: Role, password: str, actor: str,
               now: dt.datetime) -> UserInfo:
        """Store a new user (audited). Raises InvalidInput for a bad username, role or password, NotFound for an
        unknown organisation, Conflict for a username already taken."""
        where = Location(f"user {username!r}")
        problems: list[Problem] = []
        if not USERNAME.fullmatch(username):
            problems.append(Problem(where, "`username` must be 2 to 63 characters: lower-case letters, digits, "
                                    "`.`, `_`, `@` or `-`, starting with a letter or digit"))
        if role not in USER_ROLES:
            problems.append(Problem(where, f"`role` {role.value!r} is for API tokens, not people",
                                    "use admin, analyst or auditor"))
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            problems.append(Problem(where, f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters",
                                    "a passphrase of several words is easy to remember and hard to guess"))
        if problems:
            raise InvalidInput(problems)
        if self._session.get(OrganisationRow, organisation) is None:
            raise NotFound(f"user {username!r}: `organisation`: no organisation `{organisation}`")
        if self._session.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
            raise Conflict(f"the username `{username}` is taken")
        info = UserInfo(id="usr_" + secrets.token_hex(8), username=username, organisation=organisation, role=role,
                        created_at=now, created_by=actor)
        self._session.add(UserRow(id=info.id, username=username, organisation_id=organisation, role=role.value,
                                  password_hash=hash_password(password), created_at=now, created_by=actor,
                                  disabled_at=None))
        self._session.flush()
        AuditLog(self._session).append(AuditEvent.USER_CREATE, info.id, actor=actor, at=now, details=_details(info))
        return info

    def verify(self, username: str, password: str) -> UserInfo | None:
        """The active user with this username and password; None otherwise (same cost either way)."""
        row = self._session.scalar(select(UserRow).where(UserRow.username == username))
        matched = verify_password(password, row.password_hash if row is not None else _dummy_hash())
        if row is None or not matched or row.disabled_at is not None:
            return None
        return _info(row)

    def get(self, user_id: str) -> UserInfo | None:
        row = self._session.get(UserRow, user_id)
        return None if row is None else _info(row)

    def by_username(self, username: str) -> UserInfo | None:
        row = self._session.scalar(select(UserRow).where(UserRow.username == username))
        return None if row is None else _info(row)

    def list(self, organisations: set[str] | None = None) -> list[UserInfo]:
        """Users (disabled ones too), of these organisations only when given; by username."""
        if organisations is None:
            return [_info(row) for row in self._session.scalars(select(UserRow).order_by(UserRow.username))]
        out: list[UserInfo] = []
        for chunk in chunked(sorted(organisations)):
            out += [_info(row) for row in self._session.scalars(
                select(UserRow).where(UserRow.organisation_id.in_(chunk)))]
        return sorted(out, key=lambda info: info.username)

    def disable(self, user_id: str, *, actor: str, now: dt.datetime) -> UserInfo:
        """Disable a user now (audited): they can no longer sign in, and their sessions end at the next request.
        Raises NotFound for an unknown id, Conflict for a user already disabled."""
        row = self._session.get(UserRow, user_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no user `{user_id}`")
        if row.disabled_at is not None:
            raise Conflict(f"user `{row.username}` was already disabled on {row.disabled_at:%Y-%m-%d %H:%M} UTC")
        row.disabled_at = now
        self._session.flush()
        info = _info(row)
        AuditLog(self._session).append(AuditEvent.USER_DISABLE, user_id, actor=actor, at=now, details=_details(info))
        return info


def _info(row: UserRow) -> UserInfo:
    return UserInfo(id=row.id, username=row.username, organisation=row.organisation_id, role=Role(row.role),
                    created_at=row.created_at, created_by=row.created_by, disabled_at=row.disabled_at)


def _details(info: UserInfo) -> dict[str, object]:
    return {"username": info.username, "organisation": info.organisation, "role": info.role.value}
