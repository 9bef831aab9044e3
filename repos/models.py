"""Hosted git repositories and the pushes they received.

The repository's content lives in a bare git repository on disk
(`repos.storage.repository_path`); these rows hold what git does not: who owns it, who
may read and write it, and the log of pushes. A push is one row with its ref updates, and
it is also the push hooks' outbox: `hooks_state` stays `pending` until the hooks ran, so
a push recorded while the broker was down still gets its hooks (`repos.tasks`).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTC_DT, Base, utcnow

NAME_MAX = 64  # as project names: both are /~OWNER/NAME
REF_MAX = 1024  # git allows longer refs; nobody pushes them
SHA_MAX = 64  # SHA-256 repositories


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    # ~OWNER: a user's or a group's name (one namespace, accounts.names), lower-cased.
    owner_name: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(NAME_MAX))  # lower-cased, without ".git"
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The group OWNER names, or for a user's repository a group whose maintainers help.
    owner_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), nullable=True, index=True
    )
    description: Mapped[str] = mapped_column(Text, default="")
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    # As for lists (repos.access): public, unlisted or private, and default rights.
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    default_rights: Mapped[str] = mapped_column(String(200), default="read")
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    pushed_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)

    __table_args__ = (UniqueConstraint("owner_name", "name", name="uq_repositories_owner_name"),)

    @property
    def path_name(self) -> str:
        """'~owner/name', as people write it."""
        return f"~{self.owner_name}/{self.name}"


class PushVia(enum.Enum):
    http = "http"
    ssh = "ssh"
    web = "web"  # Mailyard itself on a user's behalf (applying a series)
    local = "local"  # an operator on the host (`mailyard repo import`)


class HooksState(enum.Enum):
    pending = "pending"  # recorded; the hooks have not run yet
    done = "done"
    failed = "failed"  # a hook kept failing; `hooks_error` says what


class Push(Base):
    __tablename__ = "repo_pushes"

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    pusher_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    via: Mapped[PushVia] = mapped_column(Enum(PushVia, native_enum=False, length=16))
    pushed_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    hooks_state: Mapped[HooksState] = mapped_column(
        Enum(HooksState, native_enum=False, length=16), default=HooksState.pending
    )
    hooks_attempts: Mapped[int] = mapped_column(Integer, default=0)
    hooks_error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_repo_pushes_repository", "repository_id", "id"),
        Index("ix_repo_pushes_hooks_state", "hooks_state", "pushed_at"),
    )


class RefUpdate(Base):
    """One ref a push changed: created (old is zeros), moved, or deleted (new is zeros)."""

    __tablename__ = "repo_ref_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    push_id: Mapped[int] = mapped_column(
        ForeignKey("repo_pushes.id", ondelete="CASCADE"), index=True
    )
    ref: Mapped[str] = mapped_column(String(REF_MAX))
    old_sha: Mapped[str] = mapped_column(String(SHA_MAX))
    new_sha: Mapped[str] = mapped_column(String(SHA_MAX))
