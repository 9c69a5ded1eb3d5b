"""Notices to holders and owners (issue 7): the queue, the dedup keys and the dead letters.

Only a new table and its indexes: nothing of 0001 to 0005 changes, so the upgrade is safe on a database
holding data.

Revision ID: 0006
Revises: 0005
Created: written by hand
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(63)
WORD = sa.String(32)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("kind", WORD, nullable=False),
        sa.Column("language", WORD, nullable=False),
        sa.Column("restriction_id", ID, nullable=True),
        sa.Column("device_id", sa.String(512), nullable=True),
        sa.Column("deadline", WHEN, nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("status", WORD, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
        sa.UniqueConstraint("dedup_key", name="uq_notices_dedup_key"),
    )
    op.create_index("ix_notices_status_next_attempt_at", "notices", ["status", "next_attempt_at"])
    op.create_index("ix_notices_kind_device_id_restriction_id", "notices", ["kind", "device_id", "restriction_id"])


def downgrade() -> None:
    op.drop_index("ix_notices_kind_device_id_restriction_id", table_name="notices")
    op.drop_index("ix_notices_status_next_attempt_at", table_name="notices")
    op.drop_table("notices")
