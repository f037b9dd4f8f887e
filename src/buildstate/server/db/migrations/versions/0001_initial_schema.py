"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:25:20.065002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index("ix_idempotency_keys_created", ["created_at"], unique=False)

    op.create_table(
        "image_types",
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_types")),
        sa.UniqueConstraint("name", name=op.f("uq_image_types_name")),
    )
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_secrets")),
    )
    op.create_table(
        "os_versions",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_os_versions")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_os_versions_name_version")),
    )
    op.create_table(
        "platforms",
        sa.Column("cloud_provider", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platforms")),
        sa.UniqueConstraint("name", name=op.f("uq_platforms_name")),
    )
    op.create_table(
        "projects",
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "build_counters",
        sa.Column("platform_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"], ["platforms.id"], name=op.f("fk_build_counters_platform_id_platforms")
        ),
        sa.PrimaryKeyConstraint("platform_id", "status", name=op.f("pk_build_counters")),
    )
    op.create_table(
        "builds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("platform_id", sa.String(length=128), nullable=False),
        sa.Column("os_version_id", sa.String(length=128), nullable=False),
        sa.Column("image_type_id", sa.String(length=128), nullable=False),
        sa.Column("build_number", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_state", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("concourse_url", sa.String(length=2048), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "build_metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_type_id"], ["image_types.id"], name=op.f("fk_builds_image_type_id_image_types")
        ),
        sa.ForeignKeyConstraint(
            ["os_version_id"], ["os_versions.id"], name=op.f("fk_builds_os_version_id_os_versions")
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"], ["platforms.id"], name=op.f("fk_builds_platform_id_platforms")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_builds_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds")),
        sa.UniqueConstraint(
            "project_id", "build_number", name=op.f("uq_builds_project_id_build_number")
        ),
    )
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.create_index("ix_builds_build_number", ["build_number"], unique=False)
        batch_op.create_index("ix_builds_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_builds_image_type_created", ["image_type_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_builds_os_version_created", ["os_version_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_builds_platform_created", ["platform_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_builds_platform_status_finished",
            ["platform_id", "status", "finished_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_builds_project_created", ["project_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_builds_project_status_created", ["project_id", "status", "created_at"], unique=False
        )
        batch_op.create_index("ix_builds_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "state_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("state_code", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_blocking", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_state_codes_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_codes")),
        sa.UniqueConstraint(
            "project_id", "state_code", name=op.f("uq_state_codes_project_id_state_code")
        ),
    )
    with op.batch_alter_table("state_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_state_codes_project_id"), ["project_id"], unique=False)

    op.create_table(
        "build_labels",
        sa.Column("build_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_build_labels_build_id_builds")
        ),
        sa.PrimaryKeyConstraint("build_id", "key", name=op.f("pk_build_labels")),
    )
    with op.batch_alter_table("build_labels", schema=None) as batch_op:
        batch_op.create_index("ix_build_labels_key_value", ["key", "value"], unique=False)

    op.create_table(
        "build_states",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("build_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state_code", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_build_states_build_id_builds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_build_states")),
    )
    with op.batch_alter_table("build_states", schema=None) as batch_op:
        batch_op.create_index("ix_build_states_build", ["build_id", "id"], unique=False)

    op.create_table(
        "build_artifacts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("build_id", sa.String(length=36), nullable=False),
        sa.Column("state_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state_code", sa.Integer(), nullable=False),
        sa.Column("is_checkpoint", sa.Boolean(), nullable=False),
        sa.Column("storage_type", sa.String(length=64), nullable=True),
        sa.Column("storage_path", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=255), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_build_artifacts_build_id_builds")
        ),
        sa.ForeignKeyConstraint(
            ["state_id"], ["build_states.id"], name=op.f("fk_build_artifacts_state_id_build_states")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_build_artifacts")),
    )
    with op.batch_alter_table("build_artifacts", schema=None) as batch_op:
        batch_op.create_index("ix_build_artifacts_build", ["build_id", "id"], unique=False)
        batch_op.create_index("ix_build_artifacts_state", ["state_id"], unique=False)

    op.create_table(
        "build_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("build_id", sa.String(length=36), nullable=False),
        sa.Column("state_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state_code", sa.Integer(), nullable=False),
        sa.Column("failure_type", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column(
            "error_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("is_retryable", sa.Boolean(), nullable=False),
        sa.Column("is_blocking", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_build_failures_build_id_builds")
        ),
        sa.ForeignKeyConstraint(
            ["state_id"], ["build_states.id"], name=op.f("fk_build_failures_state_id_build_states")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_build_failures")),
    )
    with op.batch_alter_table("build_failures", schema=None) as batch_op:
        batch_op.create_index("ix_build_failures_build", ["build_id", "id"], unique=False)
        batch_op.create_index("ix_build_failures_state", ["state_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("build_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_build_failures_state")
        batch_op.drop_index("ix_build_failures_build")

    op.drop_table("build_failures")
    with op.batch_alter_table("build_artifacts", schema=None) as batch_op:
        batch_op.drop_index("ix_build_artifacts_state")
        batch_op.drop_index("ix_build_artifacts_build")

    op.drop_table("build_artifacts")
    with op.batch_alter_table("build_states", schema=None) as batch_op:
        batch_op.drop_index("ix_build_states_build")

    op.drop_table("build_states")
    with op.batch_alter_table("build_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_build_labels_key_value")

    op.drop_table("build_labels")
    with op.batch_alter_table("state_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_state_codes_project_id"))

    op.drop_table("state_codes")
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index("ix_builds_status_created")
        batch_op.drop_index("ix_builds_project_status_created")
        batch_op.drop_index("ix_builds_project_created")
        batch_op.drop_index("ix_builds_platform_status_finished")
        batch_op.drop_index("ix_builds_platform_created")
        batch_op.drop_index("ix_builds_os_version_created")
        batch_op.drop_index("ix_builds_image_type_created")
        batch_op.drop_index("ix_builds_created")
        batch_op.drop_index("ix_builds_build_number")

    op.drop_table("builds")
    op.drop_table("build_counters")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("projects")
    op.drop_table("platforms")
    op.drop_table("os_versions")
    op.drop_table("instance_secrets")
    op.drop_table("image_types")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_keys_created")

    op.drop_table("idempotency_keys")
