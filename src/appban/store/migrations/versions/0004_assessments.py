"""Risk assessments of app builds (issue 5): one row per stored assessment, its report as canonical JSON.

Only a new table and its indexes: nothing of 0001 to 0003 changes, so the upgrade is safe on a database
holding data.

Revision ID: 0004
Revises: 0003
Created: written by hand
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(63)
WORD = sa.String(32)
HASH = sa.String(64)
APP_ID = sa.String(512)


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("family", ID, nullable=True),
        sa.Column("platform", WORD, nullable=False),
        sa.Column("app_identifier", APP_ID, nullable=False),
        sa.Column("version_name", sa.Text(), nullable=True),
        sa.Column("version_code", sa.Text(), nullable=True),
        sa.Column("build_sha256", HASH, nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("rating", WORD, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("action", WORD, nullable=False),
        sa.Column("work_need", sa.Text(), nullable=True),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name="fk_assessments_organisation_id_organisations"),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
    )
    op.create_index("ix_assessments_organisation_id", "assessments", ["organisation_id"])
    op.create_index("ix_assessments_build_sha256", "assessments", ["build_sha256"])
    op.create_index("ix_assessments_family_created_at", "assessments", ["family", "created_at"])
    op.create_index("ix_assessments_platform_app_identifier_created_at", "assessments",
                    ["platform", "app_identifier", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_assessments_platform_app_identifier_created_at", table_name="assessments")
    op.drop_index("ix_assessments_family_created_at", table_name="assessments")
    op.drop_index("ix_assessments_build_sha256", table_name="assessments")
    op.drop_index("ix_assessments_organisation_id", table_name="assessments")
    op.drop_table("assessments")
