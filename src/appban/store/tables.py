"""The tables, as SQLAlchemy 2 typed mappings. Rows stay inside the store: repositories return model values.

The text of each restriction file is kept verbatim in `restriction_versions.source_text` and is the truth;
the other columns of a version are copies for querying. Enumerations are stored as their words in plain
strings (no database enum types), so adding a word needs no migration. Every timestamp is UTC-aware.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AdoptionRow",
    "AuditLogRow",
    "Base",
    "OrganisationRow",
    "RestrictionRow",
    "RestrictionVersionRow",
    "UTCDateTime",
]

ID_LENGTH = 63  # appban.policy.organisations.ID_PATTERN: at most 63 characters
HASH_LENGTH = 64  # SHA-256 in hex
WORD_LENGTH = 32  # an enumeration's word

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is UTC-aware going in and coming out, on every backend.

    PostgreSQL keeps the instant (`timestamptz`) and returns it in the session's zone; SQLite keeps text with
    no zone. Both are normalised to UTC on the way in and the way out; a naive time is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store the naive time {value.isoformat()}: use a UTC-aware datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OrganisationRow(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"), index=True)
    kind: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class RestrictionRow(Base):
    """One restriction id; its content lives in its versions, `current_version` is the one in force."""

    __tablename__ = "restrictions"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"), index=True)
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class RestrictionVersionRow(Base):
    """One applied content of a restriction file; versions are never changed or removed."""

    __tablename__ = "restriction_versions"

    restriction_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("restrictions.id"),
                                                primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    source_path: Mapped[str] = mapped_column(Text)
    source_text: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(WORD_LENGTH))
    strictness: Mapped[str] = mapped_column(String(WORD_LENGTH))
    effective: Mapped[dt.date] = mapped_column(Date)
    expires: Mapped[dt.date | None] = mapped_column(Date)
    review: Mapped[dt.date | None] = mapped_column(Date)
    children: Mapped[str] = mapped_column(String(WORD_LENGTH))
    shadow: Mapped[bool] = mapped_column(Boolean)
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    applied_by: Mapped[str] = mapped_column(Text)


class AdoptionRow(Base):
    """A child organisation's decision on a recommended restriction: adopted, or declined."""

    __tablename__ = "adoptions"

    restriction_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("restrictions.id"),
                                                primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"),
                                                 primary_key=True, index=True)
    adopted: Mapped[bool] = mapped_column(Boolean)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text)


class AuditLogRow(Base):
    """One sealed audit entry (appban.audit). `prev_hash` is unique: two entries cannot claim one parent."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("prev_hash"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(WORD_LENGTH * 2))
    subject: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON (appban.audit.canonical_details)
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
