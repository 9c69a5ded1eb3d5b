"""API tokens (stored as hashes) and the gate's change feed.

Only new tables: nothing of 0001 or 0002 changes, so the upgrade is safe on a database holding data.

Revision ID: 0003
Revises: 0002
Created: written by hand
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(63)
WORD = sa.String(32)
HASH = sa.String(64)
DEVICE_ID = sa.String(512)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_hash", HASH, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("role", WORD, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name="fk_api_tokens_organisation_id_organisations"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_organisation_id", "api_tokens", ["organisation_id"])
    op.create_table(
        "gate_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("device_id", DEVICE_ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gate_changes"),
    )


def downgrade() -> None:
    op.drop_table("gate_changes")
    op.drop_index("ix_api_tokens_organisation_id", table_name="api_tokens")
    op.drop_table("api_tokens")
