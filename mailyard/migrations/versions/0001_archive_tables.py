"""archive tables and the full-text search index

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql  # noqa: F401
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailing_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reject_html", sa.Boolean(), nullable=False),
        sa.Column("require_list_address", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailing_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_mailing_lists_name")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=995), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("envelope_from", sa.String(length=998), nullable=False),
        sa.Column("envelope_to", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("received", "archived", name="messagestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_name", sa.Text(), nullable=False),
        sa.Column("from_addr", sa.String(length=998), nullable=False),
        sa.Column("to_text", sa.Text(), nullable=False),
        sa.Column("cc_text", sa.Text(), nullable=False),
        sa.Column("date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("in_reply_to", sa.JSON(), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("parse_problems", sa.JSON(), nullable=False),
        sa.Column("dkim_result", sa.String(length=8), nullable=False),
        sa.Column("dkim_domain", sa.String(length=255), nullable=False),
        sa.Column("dkim_aligned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_message_id"), ["message_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_messages_received_at"), ["received_at"], unique=False)
        batch_op.create_index("ix_messages_date", ["date"], unique=False)
        batch_op.create_index(
            "ix_messages_status_received", ["status", "received_at"], unique=False
        )

    op.create_table(
        "threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("root_node_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("subject_key", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["mailing_lists.id"],
            name=op.f("fk_threads_list_id_mailing_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
    )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_threads_list_activity", ["list_id", "last_activity"], unique=False
        )
        batch_op.create_index(
            "ix_threads_list_subject_key", ["list_id", "subject_key"], unique=False
        )
        batch_op.create_index("ix_threads_activity", ["last_activity", "id"], unique=False)

    op.create_table(
        "thread_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=995), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("sort_date", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["mailing_lists.id"],
            name=op.f("fk_thread_nodes_list_id_mailing_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_pk"],
            ["messages.id"],
            name=op.f("fk_thread_nodes_message_pk_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["thread_nodes.id"],
            name=op.f("fk_thread_nodes_parent_id_thread_nodes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_nodes_thread_id_threads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_nodes")),
        sa.UniqueConstraint("list_id", "message_id", name="uq_thread_nodes_list_msgid"),
    )
    with op.batch_alter_table("thread_nodes", schema=None) as batch_op:
        batch_op.create_index("ix_thread_nodes_list_date", ["list_id", "sort_date"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_thread_nodes_message_pk"), ["message_pk"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_thread_nodes_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_thread_nodes_thread_id"), ["thread_id"], unique=False)

    create_search_index()


def create_search_index() -> None:
    """SQLite: a contentless FTS5 table keyed by message id. PostgreSQL: one tsvector
    per searchable field (for public-inbox's s: f: t: c: b: prefixes) plus one of all."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE message_fts USING fts5("
            "subject, from_text, to_text, cc_text, body, "
            "content='', tokenize='porter unicode61 remove_diacritics 2')"
        )
        return
    op.create_table(
        "message_search",
        sa.Column(
            "message_pk",
            sa.Integer(),
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        *[
            sa.Column(name, sa.dialects.postgresql.TSVECTOR(), nullable=False)
            for name in ("subject", "from_text", "to_text", "cc_text", "body", "all_text")
        ],
    )
    for name in ("subject", "from_text", "to_text", "cc_text", "body", "all_text"):
        op.create_index(
            f"ix_message_search_{name}", "message_search", [name], postgresql_using="gin"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE message_fts")
    else:
        op.drop_table("message_search")
    with op.batch_alter_table("thread_nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_nodes_thread_id"))
        batch_op.drop_index(batch_op.f("ix_thread_nodes_parent_id"))
        batch_op.drop_index(batch_op.f("ix_thread_nodes_message_pk"))
        batch_op.drop_index("ix_thread_nodes_list_date")

    op.drop_table("thread_nodes")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_list_subject_key")
        batch_op.drop_index("ix_threads_list_activity")

    op.drop_table("threads")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_status_received")
        batch_op.drop_index(batch_op.f("ix_messages_received_at"))
        batch_op.drop_index(batch_op.f("ix_messages_message_id"))

    op.drop_table("messages")
    op.drop_table("mailing_lists")
