"""The first schema: organisations, restrictions and their versions, adoptions, the audit log.

Revision ID: 0001
Revises:
Created: written by hand
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(63)
HASH = sa.String(64)
WORD = sa.String(32)


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["organisations.id"],
                                name="fk_organisations_parent_id_organisations"),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
    )
    op.create_index("ix_organisations_parent_id", "organisations", ["parent_id"])

    op.create_table(
        "restrictions",
        sa.Column("id", ID, nullable=False),
        sa.Column("issuer_id", ID, nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["organisations.id"],
                                name="fk_restrictions_issuer_id_organisations"),
        sa.PrimaryKeyConstraint("id", name="pk_restrictions"),
    )
    op.create_index("ix_restrictions_issuer_id", "restrictions", ["issuer_id"])

    op.create_table(
        "restriction_versions",
        sa.Column("restriction_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content_hash", HASH, nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", WORD, nullable=False),
        sa.Column("strictness", WORD, nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.Column("review", sa.Date(), nullable=True),
        sa.Column("children", WORD, nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("applied_at", _when(), nullable=False),
        sa.Column("applied_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["restriction_id"], ["restrictions.id"],
                                name="fk_restriction_versions_restriction_id_restrictions"),
        sa.PrimaryKeyConstraint("restriction_id", "version", name="pk_restriction_versions"),
    )

    op.create_table(
        "adoptions",
        sa.Column("restriction_id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("adopted", sa.Boolean(), nullable=False),
        sa.Column("decided_at", _when(), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["restriction_id"], ["restrictions.id"],
                                name="fk_adoptions_restriction_id_restrictions"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name="fk_adoptions_organisation_id_organisations"),
        sa.PrimaryKeyConstraint("restriction_id", "organisation_id", name="pk_adoptions"),
    )
    op.create_index("ix_adoptions_organisation_id", "adoptions", ["organisation_id"])

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_adoptions_organisation_id", table_name="adoptions")
    op.drop_table("adoptions")
    op.drop_table("restriction_versions")
    op.drop_index("ix_restrictions_issuer_id", table_name="restrictions")
    op.drop_table("restrictions")
    op.drop_index("ix_organisations_parent_id", table_name="organisations")
    op.drop_table("organisations")
