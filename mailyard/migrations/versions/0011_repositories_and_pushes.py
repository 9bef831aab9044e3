"""hosted repositories and their pushes

`repos.models`: the repositories Mailyard hosts, and each push with its ref updates
(the push row is also the push hooks' outbox).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_name", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("owner_group_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("default_branch", sa.String(length=255), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("default_rights", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_group_id"],
            ["groups.id"],
            name=op.f("fk_repositories_owner_group_id_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_repositories_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repositories")),
        sa.UniqueConstraint("owner_name", "name", name="uq_repositories_owner_name"),
    )
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_repositories_owner_group_id"), ["owner_group_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_repositories_owner_user_id"), ["owner_user_id"], unique=False
        )

    op.create_table(
        "repo_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("pusher_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "via",
            sa.Enum("http", "ssh", "web", "local", name="pushvia", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "hooks_state",
            sa.Enum("pending", "done", "failed", name="hooksstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("hooks_attempts", sa.Integer(), nullable=False),
        sa.Column("hooks_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pusher_user_id"],
            ["users.id"],
            name=op.f("fk_repo_pushes_pusher_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_repo_pushes_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repo_pushes")),
    )
    with op.batch_alter_table("repo_pushes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_repo_pushes_hooks_state", ["hooks_state", "pushed_at"], unique=False
        )
        batch_op.create_index("ix_repo_pushes_repository", ["repository_id", "id"], unique=False)

    op.create_table(
        "repo_ref_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("push_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=1024), nullable=False),
        sa.Column("old_sha", sa.String(length=64), nullable=False),
        sa.Column("new_sha", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["push_id"],
            ["repo_pushes.id"],
            name=op.f("fk_repo_ref_updates_push_id_repo_pushes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repo_ref_updates")),
    )
    with op.batch_alter_table("repo_ref_updates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repo_ref_updates_push_id"), ["push_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("repo_ref_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repo_ref_updates_push_id"))

    op.drop_table("repo_ref_updates")
    with op.batch_alter_table("repo_pushes", schema=None) as batch_op:
        batch_op.drop_index("ix_repo_pushes_repository")
        batch_op.drop_index("ix_repo_pushes_hooks_state")

    op.drop_table("repo_pushes")
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repositories_owner_user_id"))
        batch_op.drop_index(batch_op.f("ix_repositories_owner_group_id"))

    op.drop_table("repositories")
