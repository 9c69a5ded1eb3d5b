"""Devices and what is known of them: holders, devices, current inventories and their apps, every report
received, findings and their history, exemptions, attestations, organisation settings.

Only new tables and their indexes: nothing in the tables of 0001 changes, so SQLite needs no batch rebuild
and the upgrade is safe on a database holding data.

Revision ID: 0002
Revises: 0001
Created: written by hand
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(63)
WORD = sa.String(32)
DEVICE_ID = sa.String(512)
APP_ID = sa.String(512)
EMAIL = sa.String(320)


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _history_id() -> sa.types.TypeEngine[int]:
    """64-bit row ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY auto-increments (64-bit there too)."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _device_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=f"fk_{table}_device_id_devices",
                                   ondelete="CASCADE")


def _restriction_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["restriction_id"], ["restrictions.id"],
                                   name=f"fk_{table}_restriction_id_restrictions")


def _organisation_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                   name=f"fk_{table}_organisation_id_organisations")


def upgrade() -> None:
    op.create_table(
        "holders",
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("organisation_id", ID, nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("language", WORD, nullable=True),
        _organisation_fk("holders"),
        sa.PrimaryKeyConstraint("email", name="pk_holders"),
    )
    op.create_index("ix_holders_organisation_id", "holders", ["organisation_id"])

    op.create_table(
        "devices",
        sa.Column("id", DEVICE_ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("platform", WORD, nullable=False),
        sa.Column("ownership", WORD, nullable=False),
        sa.Column("funding", WORD, nullable=False),
        sa.Column("enrolled", sa.Boolean(), nullable=False),
        sa.Column("holder_email", EMAIL, nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("source_format", WORD, nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        _organisation_fk("devices"),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
    )
    op.create_index("ix_devices_organisation_id", "devices", ["organisation_id"])
    op.create_index("ix_devices_holder_email", "devices", ["holder_email"])

    op.create_table(
        "inventories",
        sa.Column("device_id", DEVICE_ID, nullable=False),
        sa.Column("observed_at", _when(), nullable=False),
        sa.Column("visibility", WORD, nullable=False),
        sa.Column("source_format", WORD, nullable=False),
        sa.Column("received_at", _when(), nullable=False),
        _device_fk("inventories"),
        sa.PrimaryKeyConstraint("device_id", name="pk_inventories"),
    )

    op.create_table(
        "device_apps",
        sa.Column("device_id", DEVICE_ID, nullable=False),
        sa.Column("platform", WORD, nullable=False),
        sa.Column("identifier", APP_ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("matched_by", WORD, nullable=False),
        sa.Column("present_since", _when(), nullable=False),
        _device_fk("device_apps"),
        sa.PrimaryKeyConstraint("device_id", "platform", "identifier", name="pk_device_apps"),
    )
    op.create_index("ix_device_apps_platform_identifier", "device_apps", ["platform", "identifier"])

    op.create_table(
        "inventory_reports",
        sa.Column("id", _history_id(), autoincrement=True, nullable=False),
        sa.Column("device_id", DEVICE_ID, nullable=False),
        sa.Column("source_format", WORD, nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("observed_at", _when(), nullable=False),
        sa.Column("received_at", _when(), nullable=False),
        sa.Column("kind", WORD, nullable=False),
        sa.Column("visibility", WORD, nullable=False),
        sa.Column("app_count", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inventory_reports"),
    )
    op.create_index("ix_inventory_reports_device_id_observed_at", "inventory_reports",
                    ["device_id", "observed_at"])

    op.create_table(
        "findings",
        sa.Column("device_id", DEVICE_ID, nullable=False),
        sa.Column("restriction_id", ID, nullable=False),
        sa.Column("state", WORD, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("deadline", _when(), nullable=True),
        sa.Column("apps", sa.Text(), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("since", _when(), nullable=False),
        sa.Column("restriction_version", sa.Integer(), nullable=False),
        _device_fk("findings"),
        _restriction_fk("findings"),
        sa.PrimaryKeyConstraint("device_id", "restriction_id", name="pk_findings"),
    )
    op.create_index("ix_findings_restriction_id_state", "findings", ["restriction_id", "state"])
    op.create_index("ix_findings_state_deadline", "findings", ["state", "deadline"])

    op.create_table(
        "finding_events",
        sa.Column("id", _history_id(), autoincrement=True, nullable=False),
        sa.Column("device_id", DEVICE_ID, nullable=False),
        sa.Column("restriction_id", ID, nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("state_from", WORD, nullable=True),
        sa.Column("state_to", WORD, nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_finding_events"),
    )
    op.create_index("ix_finding_events_restriction_id_at", "finding_events", ["restriction_id", "at"])
    op.create_index("ix_finding_events_device_id", "finding_events", ["device_id"])
    op.create_index("ix_finding_events_at", "finding_events", ["at"])

    op.create_table(
        "exemptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("restriction_id", ID, nullable=False),
        sa.Column("device_id", DEVICE_ID, nullable=True),
        sa.Column("holder_email", EMAIL, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approver", sa.Text(), nullable=False),
        sa.Column("ends", _when(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("revoked_at", _when(), nullable=True),
        sa.CheckConstraint("(device_id IS NULL) <> (holder_email IS NULL)", name="ck_exemptions_one_subject"),
        _restriction_fk("exemptions"),
        sa.PrimaryKeyConstraint("id", name="pk_exemptions"),
    )
    op.create_index("ix_exemptions_restriction_id", "exemptions", ["restriction_id"])

    op.create_table(
        "attestations",
        sa.Column("device_id", DEVICE_ID, nullable=False),
        sa.Column("restriction_id", ID, nullable=False),
        sa.Column("holder", EMAIL, nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("expires", _when(), nullable=False),
        _device_fk("attestations"),
        _restriction_fk("attestations"),
        sa.PrimaryKeyConstraint("device_id", "restriction_id", name="pk_attestations"),
    )
    op.create_index("ix_attestations_restriction_id", "attestations", ["restriction_id"])

    op.create_table(
        "organisation_settings",
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("staleness_days", sa.Integer(), nullable=False),
        _organisation_fk("organisation_settings"),
        sa.PrimaryKeyConstraint("organisation_id", name="pk_organisation_settings"),
    )


def downgrade() -> None:
    op.drop_table("organisation_settings")
    op.drop_index("ix_attestations_restriction_id", table_name="attestations")
    op.drop_table("attestations")
    op.drop_index("ix_exemptions_restriction_id", table_name="exemptions")
    op.drop_table("exemptions")
    op.drop_index("ix_finding_events_at", table_name="finding_events")
    op.drop_index("ix_finding_events_device_id", table_name="finding_events")
    op.drop_index("ix_finding_events_restriction_id_at", table_name="finding_events")
    op.drop_table("finding_events")
    op.drop_index("ix_findings_state_deadline", table_name="findings")
    op.drop_index("ix_findings_restriction_id_state", table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_inventory_reports_device_id_observed_at", table_name="inventory_reports")
    op.drop_table("inventory_reports")
    op.drop_index("ix_device_apps_platform_identifier", table_name="device_apps")
    op.drop_table("device_apps")
    op.drop_table("inventories")
    op.drop_index("ix_devices_holder_email", table_name="devices")
    op.drop_index("ix_devices_organisation_id", table_name="devices")
    op.drop_table("devices")
    op.drop_index("ix_holders_organisation_id", table_name="holders")
    op.drop_table("holders")
