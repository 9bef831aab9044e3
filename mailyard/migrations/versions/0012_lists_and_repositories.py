"""lists and repositories: links, patches matched to commits, apply attempts, sent series

`patchsets.models`: which hosted repositories a list's patches are for, the commits
found to be patches, each try at applying a patchset, and the series users sent from a
repository's pages; `trackers.models`: the commits that named a ticket.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apply_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patchset_first_message_id", sa.String(length=995), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("base_sha", sa.String(length=64), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "pending",
                "clean",
                "conflict",
                "failed",
                "busy",
                "applied",
                name="applyoutcome",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("failed_position", sa.Integer(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("old_sha", sa.String(length=64), nullable=False),
        sa.Column("new_sha", sa.String(length=64), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_apply_attempts_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_apply_attempts_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apply_attempts")),
    )
    with op.batch_alter_table("apply_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_apply_attempts_patchset", ["patchset_first_message_id", "id"], unique=False
        )

    op.create_table(
        "list_repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["mailing_lists.id"],
            name=op.f("fk_list_repositories_list_id_mailing_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_list_repositories_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_repositories")),
        sa.UniqueConstraint("list_id", "repository_id", name="uq_list_repositories"),
    )
    with op.batch_alter_table("list_repositories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_list_repositories_repository_id"), ["repository_id"], unique=False
        )

    op.create_table(
        "sent_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("base_sha", sa.String(length=64), nullable=False),
        sa.Column("tip_sha", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("to_addrs", sa.JSON(), nullable=False),
        sa.Column("cc_addrs", sa.JSON(), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["sent_series.id"],
            name=op.f("fk_sent_series_previous_id_sent_series"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_sent_series_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sent_series_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_series")),
    )
    with op.batch_alter_table("sent_series", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sent_series_repository_user", ["repository_id", "user_id", "id"], unique=False
        )

    op.create_table(
        "patch_commits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "applied",
                "message_id",
                "patch_id",
                "similar",
                name="matchmethod",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("push_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_pk"],
            ["messages.id"],
            name=op.f("fk_patch_commits_message_pk_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["push_id"],
            ["repo_pushes.id"],
            name=op.f("fk_patch_commits_push_id_repo_pushes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_patch_commits_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patch_commits")),
        sa.UniqueConstraint("message_pk", "repository_id", "commit_sha", name="uq_patch_commits"),
    )
    with op.batch_alter_table("patch_commits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_patch_commits_repository_commit", ["repository_id", "commit_sha"], unique=False
        )

    op.create_table(
        "ticket_commits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ticket_events.id"],
            name=op.f("fk_ticket_commits_event_id_ticket_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_ticket_commits_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_commits_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_commits")),
        sa.UniqueConstraint("ticket_id", "commit_sha", name="uq_ticket_commits"),
    )


def downgrade() -> None:
    op.drop_table("ticket_commits")
    with op.batch_alter_table("patch_commits", schema=None) as batch_op:
        batch_op.drop_index("ix_patch_commits_repository_commit")

    op.drop_table("patch_commits")
    with op.batch_alter_table("sent_series", schema=None) as batch_op:
        batch_op.drop_index("ix_sent_series_repository_user")

    op.drop_table("sent_series")
    with op.batch_alter_table("list_repositories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_repositories_repository_id"))

    op.drop_table("list_repositories")
    with op.batch_alter_table("apply_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_apply_attempts_patchset")

    op.drop_table("apply_attempts")
