"""outbox kinds

Rows of the outbox say which deliverer sends them (`mail.delivery.OutboxKind`): 'mail'
for rows that carry their bytes, 'list-post' for a list post's copies, which before had
only their message_pk to tell them apart.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="mail", nullable=False)
        )
    op.execute("UPDATE outbox SET kind = 'list-post' WHERE message_pk IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("kind")
