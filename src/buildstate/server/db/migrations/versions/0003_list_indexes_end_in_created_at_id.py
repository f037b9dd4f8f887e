"""list indexes end in created_at, id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:47:55.125010
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_builds_build_number"))
        batch_op.create_index(
            "ix_builds_build_number", ["build_number", "created_at", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_builds_image_type_created"))
        batch_op.create_index(
            "ix_builds_image_type_created", ["image_type_id", "created_at", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_builds_os_version_created"))
        batch_op.create_index(
            "ix_builds_os_version_created", ["os_version_id", "created_at", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_builds_platform_created"))
        batch_op.create_index(
            "ix_builds_platform_created", ["platform_id", "created_at", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_builds_project_created"))
        batch_op.create_index(
            "ix_builds_project_created", ["project_id", "created_at", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_builds_project_status_created"))
        batch_op.create_index(
            "ix_builds_project_status_created",
            ["project_id", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_builds_status_created"))
        batch_op.create_index(
            "ix_builds_status_created", ["status", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_builds_platform_status_created",
            ["platform_id", "status", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index("ix_builds_platform_status_created")
        batch_op.drop_index("ix_builds_status_created")
        batch_op.create_index(
            batch_op.f("ix_builds_status_created"), ["status", "created_at"], unique=False
        )
        batch_op.drop_index("ix_builds_project_status_created")
        batch_op.create_index(
            batch_op.f("ix_builds_project_status_created"),
            ["project_id", "status", "created_at"],
            unique=False,
        )
        batch_op.drop_index("ix_builds_project_created")
        batch_op.create_index(
            batch_op.f("ix_builds_project_created"), ["project_id", "created_at"], unique=False
        )
        batch_op.drop_index("ix_builds_platform_created")
        batch_op.create_index(
            batch_op.f("ix_builds_platform_created"), ["platform_id", "created_at"], unique=False
        )
        batch_op.drop_index("ix_builds_os_version_created")
        batch_op.create_index(
            batch_op.f("ix_builds_os_version_created"),
            ["os_version_id", "created_at"],
            unique=False,
        )
        batch_op.drop_index("ix_builds_image_type_created")
        batch_op.create_index(
            batch_op.f("ix_builds_image_type_created"),
            ["image_type_id", "created_at"],
            unique=False,
        )
        batch_op.drop_index("ix_builds_build_number")
        batch_op.create_index(batch_op.f("ix_builds_build_number"), ["build_number"], unique=False)
