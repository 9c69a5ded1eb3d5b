"""The tables, as SQLAlchemy 2 typed mappings. Rows stay inside the store: repositories return model values.

The text of each restriction file is kept verbatim in `restriction_versions.source_text` and is the truth;
the other columns of a version are copies for querying. Enumerations are stored as their words in plain
strings (no database enum types), so adding a word needs no migration. Every timestamp is UTC-aware.

Devices and what is known of them (revision 0002): the current inventory of each device and its apps, every
report received (applied or not), findings (sparse: only pairs that are not compliant) and every change of
a finding's state, exemptions, attestations and per-organisation settings. A device's dependent rows go
with it (ON DELETE CASCADE); the histories (`inventory_reports`, `finding_events`) stay.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
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
    "ApiTokenRow",
    "AssessmentRow",
    "AttestationRow",
    "AuditLogRow",
    "Base",
    "DeviceAppRow",
    "DeviceRow",
    "ExemptionRequestRow",
    "ExemptionRow",
    "FindingEventRow",
    "FindingRow",
    "GateChangeRow",
    "HolderRow",
    "InventoryReportRow",
    "InventoryRow",
    "NoticeRow",
    "OrganisationRow",
    "OrganisationSettingsRow",
    "RestrictionRow",
    "RestrictionVersionRow",
    "UTCDateTime",
    "UserRow",
]

ID_LENGTH = 63  # appban.policy.organisations.ID_PATTERN: at most 63 characters
HASH_LENGTH = 64  # SHA-256 in hex
WORD_LENGTH = 32  # an enumeration's word
DEVICE_ID_LENGTH = 512  # ids as the source MDM knows them (Intune GUIDs, AMAPI resource names, serials)
APP_ID_LENGTH = 512  # package names, bundle ids, package family names
EMAIL_LENGTH = 320  # RFC 5321: 64 for the local part, @, 255 for the domain

# Row ids of the histories, which grow without bound: 64-bit on PostgreSQL; on SQLite only INTEGER PRIMARY KEY
# is the auto-incrementing row id (and it is 64-bit there anyway).
HISTORY_ID = BigInteger().with_variant(Integer(), "sqlite")

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


# --- devices, inventories, findings (revision 0002) -------------------------------------------------------


class HolderRow(Base):
    """A person devices are assigned to; devices name holders by e-mail without a foreign key (a holder may be
    known to the MDM before appban knows anything else about them)."""

    __tablename__ = "holders"

    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH), primary_key=True)
    organisation_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"),
                                                        index=True)
    name: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(WORD_LENGTH))


class DeviceRow(Base):
    """A device as its source MDM knows it. Its last inventory time is `inventories.observed_at`."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(DEVICE_ID_LENGTH), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"), index=True)
    platform: Mapped[str] = mapped_column(String(WORD_LENGTH))
    ownership: Mapped[str] = mapped_column(String(WORD_LENGTH))
    funding: Mapped[str] = mapped_column(String(WORD_LENGTH))
    enrolled: Mapped[bool] = mapped_column(Boolean)
    holder_email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    source_format: Mapped[str | None] = mapped_column(String(WORD_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class InventoryRow(Base):
    """The current inventory of a device: the newest report folded in (appban.compliance.fold_report)."""

    __tablename__ = "inventories"

    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_LENGTH),
                                           ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    observed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    visibility: Mapped[str] = mapped_column(String(WORD_LENGTH))
    source_format: Mapped[str] = mapped_column(String(WORD_LENGTH))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DeviceAppRow(Base):
    """One app in a device's current inventory, present since the first report of its current run.

    The (platform, identifier) index answers "which devices hold this app" for the incremental engine. On
    PostgreSQL the foreign key to `devices` is kept by statement-level triggers instead (revision 0008: one
    check a device per statement rather than one a row, the same guarantees)."""

    __tablename__ = "device_apps"
    __table_args__ = (Index("ix_device_apps_platform_identifier", "platform", "identifier"),)

    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_LENGTH),
                                           ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(WORD_LENGTH), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(APP_ID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(Text)
    matched_by: Mapped[str] = mapped_column(String(WORD_LENGTH))
    present_since: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class InventoryReportRow(Base):
    """Every report received, applied or not: an older report never overwrites a newer one, but is kept."""

    __tablename__ = "inventory_reports"
    __table_args__ = (Index("ix_inventory_reports_device_id_observed_at", "device_id", "observed_at"),)

    id: Mapped[int] = mapped_column(HISTORY_ID, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_LENGTH))
    source_format: Mapped[str] = mapped_column(String(WORD_LENGTH))
    source_file: Mapped[str] = mapped_column(Text)
    observed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(WORD_LENGTH))
    visibility: Mapped[str] = mapped_column(String(WORD_LENGTH))
    app_count: Mapped[int] = mapped_column(Integer)
    applied: Mapped[bool] = mapped_column(Boolean)


class FindingRow(Base):
    """The state of one device against one restriction, held only when it is not `compliant` (sparse).

    `apps` is a JSON list of `platform:identifier`, sorted; `since` is when the pair entered its state."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_restriction_id_state", "restriction_id", "state"),
                      Index("ix_findings_state_deadline", "state", "deadline"))  # FindingRepository.due

    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_LENGTH),
                                           ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    restriction_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("restrictions.id"),
                                                primary_key=True)
    state: Mapped[str] = mapped_column(String(WORD_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    apps: Mapped[str] = mapped_column(Text)
    shadow: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    restriction_version: Mapped[int] = mapped_column(Integer)


class FindingEventRow(Base):
    """One change of a finding's state (or of its shadow mark). "Compliant or not covered" is written
    `compliant`, so the history reads naturally; it outlives the device and the finding."""

    __tablename__ = "finding_events"
    __table_args__ = (Index("ix_finding_events_restriction_id_at", "restriction_id", "at"),)

    id: Mapped[int] = mapped_column(HISTORY_ID, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_LENGTH), index=True)
    restriction_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    state_from: Mapped[str | None] = mapped_column(String(WORD_LENGTH))
    state_to: Mapped[str] = mapped_column(String(WORD_LENGTH))
    shadow: Mapped[bool] = mapped_column(Boolean)


class ExemptionRow(Base):
    """A device, or every device of a holder, excused from one restriction until `ends` (or revocation)."""

    __tablename__ = "exemptions"
    __table_args__ = (CheckConstraint("(device_id IS NULL) <> (holder_email IS NULL)", name="one_subject"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    restriction_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("restrictions.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(DEVICE_ID_LENGTH))
    holder_email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    approver: Mapped[str] = mapped_column(Text)
    ends: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ExemptionRequestRow(Base):
    """Someone asks the restriction's issuer to excuse a device or a holder (revision 0007): `pending` until an
    admin approves it (`exemption_id` names the exemption granted) or rejects it (`decision_note` says why)."""

    __tablename__ = "exemption_requests"
    __table_args__ = (CheckConstraint("(device_id IS NULL) <> (holder_email IS NULL)", name="one_subject"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    restriction_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("restrictions.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(DEVICE_ID_LENGTH))
    holder_email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    ends: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # the end the requester wants
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(WORD_LENGTH), index=True)  # pending, approved, rejected
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(Text)
    decision_note: Mapped[str | None] = mapped_column(Text)
    exemption_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))


class AttestationRow(Base):
    """A holder's latest statement that a restriction's apps are gone from a device, until `expires`."""

    __tablename__ = "attestations"

    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_LENGTH),
                                           ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    restriction_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("restrictions.id"),
                                                primary_key=True, index=True)
    holder: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class OrganisationSettingsRow(Base):
    """Settings of one organisation; an organisation without a row inherits from its ancestors."""

    __tablename__ = "organisation_settings"

    organisation_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"),
                                                 primary_key=True)
    staleness_days: Mapped[int] = mapped_column(Integer)


# --- API tokens and the gate's change feed (revision 0003) ------------------------------------------------


class ApiTokenRow(Base):
    """An API token: only the SHA-256 of its secret is kept (appban.access), never the secret itself."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(WORD_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class GateChangeRow(Base):
    """A device whose decision may have changed: the gate reads rows after the last id it has seen, so its
    in-memory table follows the store without a query per request. Rows are written in the same transaction
    as the change, so the gate never sees a change that was rolled back."""

    __tablename__ = "gate_changes"

    id: Mapped[int] = mapped_column(HISTORY_ID, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_LENGTH))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


# --- assessments of app builds (revision 0004) ------------------------------------------------------------


class AssessmentRow(Base):
    """One stored risk assessment of one app build (appban.risk): the report as its canonical JSON, which is the
    truth, and copies of its headline values for listing. `build_sha256` recognises the same file assessed
    again; `family` is null for an app in no catalogued family. Assessments are never changed or removed."""

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_family_created_at", "family", "created_at"),
                      Index("ix_assessments_platform_app_identifier_created_at", "platform", "app_identifier",
                            "created_at"))

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"), index=True)
    family: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    platform: Mapped[str] = mapped_column(String(WORD_LENGTH))
    app_identifier: Mapped[str] = mapped_column(String(APP_ID_LENGTH))
    version_name: Mapped[str | None] = mapped_column(Text)
    version_code: Mapped[str | None] = mapped_column(Text)
    build_sha256: Mapped[str] = mapped_column(String(HASH_LENGTH), index=True)
    file_name: Mapped[str] = mapped_column(Text)
    rating: Mapped[str] = mapped_column(String(WORD_LENGTH))
    score: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(WORD_LENGTH))
    work_need: Mapped[str | None] = mapped_column(Text)  # who needs it for work; null when nobody was recorded
    report: Mapped[str] = mapped_column(Text)  # appban.risk.to_json: sorted keys, the same build gives the same text
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(Text)


# --- dashboard users (revision 0005) ------------------------------------------------------------------------


class UserRow(Base):
    """A person who signs in to the dashboard: one organisation, one role (admin, analyst or auditor). Only the
    scrypt hash of the password is kept (appban.store.users), with its salt and parameters."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    username: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    organisation_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(WORD_LENGTH))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(Text)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


# --- notices to holders and owners (revision 0006) ------------------------------------------------------------


class NoticeRow(Base):
    """One item told to one recipient (appban.notify), keyed by its dedup key: the unique key is what makes sure
    nothing is told twice. A message covering several items (a digest) is stored on the row of its first item,
    which is delivered; the others point at it (`message_id`) with status `covered`. Status: `queued`, `sent`,
    `dead` (a dead letter: delivery gave up, `last_error` says why) or `covered`."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_notices_kind_device_id_restriction_id", "kind", "device_id", "restriction_id"))

    id: Mapped[int] = mapped_column(HISTORY_ID, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(Text, unique=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger)  # the row that carries the message, for covered items
    recipient: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    kind: Mapped[str] = mapped_column(String(WORD_LENGTH))
    language: Mapped[str] = mapped_column(String(WORD_LENGTH))
    restriction_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    device_id: Mapped[str | None] = mapped_column(String(DEVICE_ID_LENGTH))
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(WORD_LENGTH))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
