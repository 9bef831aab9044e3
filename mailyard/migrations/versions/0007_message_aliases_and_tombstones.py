"""message aliases, content hashes and removed-message tombstones

A different message that reuses a known Message-ID is kept (stored under a generated id,
with the id it was sent with as an alias); a second Message-ID header is an alias too.
`messages.content_hash` tells a re-delivery from such a message. `removed_messages`
holds the tombstones of `mailyard message rm`.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "message_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=995), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("reused", "extra_header", name="aliaskind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["message_pk"],
            ["messages.id"],
            name=op.f("fk_message_aliases_message_pk_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_aliases")),
        sa.UniqueConstraint(
            "message_pk", "message_id", name=op.f("uq_message_aliases_message_msgid")
        ),
    )
    with op.batch_alter_table("message_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_aliases_message_pk"), ["message_pk"])
        batch_op.create_index(batch_op.f("ix_message_aliases_message_id"), ["message_id"])
    op.create_table(
        "removed_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=995), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("removed_by", sa.String(length=254), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["mailing_lists.id"],
            name=op.f("fk_removed_messages_list_id_mailing_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_removed_messages")),
        sa.UniqueConstraint("list_id", "message_id", name=op.f("uq_removed_messages_list_msgid")),
    )


def downgrade() -> None:
    op.drop_table("removed_messages")
    with op.batch_alter_table("message_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_aliases_message_id"))
        batch_op.drop_index(batch_op.f("ix_message_aliases_message_pk"))
    op.drop_table("message_aliases")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
