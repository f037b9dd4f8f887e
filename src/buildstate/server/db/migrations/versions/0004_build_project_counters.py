"""builds per (project, status)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 06:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "build_project_counters",
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_build_project_counters_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("project_id", "status", name=op.f("pk_build_project_counters")),
    )
    op.execute(
        "INSERT INTO build_project_counters (project_id, status, count) "
        "SELECT project_id, status, COUNT(*) FROM builds GROUP BY project_id, status"
    )


def downgrade() -> None:
    op.drop_table("build_project_counters")
