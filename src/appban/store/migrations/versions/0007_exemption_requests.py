"""Exemption requests (issue 6): someone asks the issuer's admins to excuse a device or a holder; an admin
approves (an exemption is granted) or rejects it with a reason.

Only a new table and its indexes: nothing of 0001 to 0006 changes, so the upgrade is safe on a database
holding data.

Revision ID: 0007
Revises: 0006
Created: written by hand
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(63)
WORD = sa.String(32)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "exemption_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("restriction_id", ID, nullable=False),
        sa.Column("device_id", sa.String(512), nullable=True),
        sa.Column("holder_email", sa.String(320), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ends", WHEN, nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("status", WORD, nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("exemption_id", ID, nullable=True),
        sa.CheckConstraint("(device_id IS NULL) <> (holder_email IS NULL)",
                           name="ck_exemption_requests_one_subject"),
        sa.ForeignKeyConstraint(["restriction_id"], ["restrictions.id"],
                                name="fk_exemption_requests_restriction_id_restrictions"),
        sa.PrimaryKeyConstraint("id", name="pk_exemption_requests"),
    )
    op.create_index("ix_exemption_requests_restriction_id", "exemption_requests", ["restriction_id"])
    op.create_index("ix_exemption_requests_status", "exemption_requests", ["status"])


def downgrade() -> None:
    op.drop_index("ix_exemption_requests_status", table_name="exemption_requests")
    op.drop_index("ix_exemption_requests_restriction_id", table_name="exemption_requests")
    op.drop_table("exemption_requests")
