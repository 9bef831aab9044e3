"""The patch tracker's tables: what each message is, patchsets and their patches, the
trailers replies give, and the status history.

Everything except a patchset's status history is derived from the archive's raw
messages and rebuilt by `mailyard reindex`; status changes made by people are events
that reindex replays onto the rebuilt patchsets (matched by their first message).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import repos.models  # noqa: F401  the repositories the link and match tables name
from archive.models import MSGID_MAX, Message
from core.db import UTC_DT, Base, utcnow
from patchsets.classify import MailKind


class PatchsetStatus(enum.Enum):
    proposed = "proposed"
    needs_revision = "needs_revision"
    superseded = "superseded"
    approved = "approved"
    rejected = "rejected"
    applied = "applied"


class ClassifiedMessage(Base):
    """What one message is (a message is classified once, whatever lists carry it)."""

    __tablename__ = "classified_messages"

    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[MailKind] = mapped_column(Enum(MailKind, native_enum=False, length=16))
    name: Mapped[str] = mapped_column(Text, default="")  # subject without prefixes
    tags: Mapped[list] = mapped_column(JSON, default=list)  # other prefix words
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: not stated
    version_minor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rfc: Mapped[bool] = mapped_column(Boolean, default=False)
    resend: Mapped[bool] = mapped_column(Boolean, default=False)
    pull_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    pull_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    base_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    change_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    depends_on: Mapped[list] = mapped_column(JSON, default=list)
    supersedes: Mapped[list] = mapped_column(JSON, default=list)
    files: Mapped[list] = mapped_column(JSON, default=list)  # paths the diff touches
    # `git patch-id --stable` of the diff: the same patch in another version or commit.
    patch_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    files_changed: Mapped[int] = mapped_column(Integer, default=0)
    lines_added: Mapped[int] = mapped_column(Integer, default=0)
    lines_removed: Mapped[int] = mapped_column(Integer, default=0)

    message: Mapped[Message] = relationship()


class Patchset(Base):
    """One sent version of a series: its cover letter (if any) and its patches; or one
    pull request."""

    __tablename__ = "patchsets"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text, default="")
    custom_name: Mapped[bool] = mapped_column(Boolean, default=False)  # set by a person
    version: Mapped[int] = mapped_column(Integer, default=1)
    version_stated: Mapped[bool] = mapped_column(Boolean, default=False)  # 'v3' was written
    total: Mapped[int] = mapped_column(Integer, default=1)  # patches announced (n of 1/n)
    patch_count: Mapped[int] = mapped_column(Integer, default=0)  # patches received
    received_all: Mapped[bool] = mapped_column(Boolean, default=False)
    rfc: Mapped[bool] = mapped_column(Boolean, default=False)
    resend: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    submitter_name: Mapped[str] = mapped_column(Text, default="")
    submitter_addr: Mapped[str] = mapped_column(String(998), default="")
    cover_message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # The thread the series was sent in: its first member's root Message-ID, and whether
    # that member named any parent at all (a series sent without threading).
    thread_root: Mapped[str] = mapped_column(String(MSGID_MAX), default="")
    threaded: Mapped[bool] = mapped_column(Boolean, default=True)
    # The first message that made this patchset: a stable handle across reindex.
    first_message_id: Mapped[str] = mapped_column(String(MSGID_MAX), unique=True)
    date: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    last_activity: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("patchsets.id", ondelete="SET NULL"), nullable=True, index=True
    )
    superseded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("patchsets.id", ondelete="SET NULL"), nullable=True
    )
    # The patchset this one answered in its thread (v2 sent in reply to v1), if any.
    thread_anchor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    change_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    base_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    depends_on: Mapped[list] = mapped_column(JSON, default=list)
    # A pull request is a patchset of no patches: its mail stands where a cover letter
    # would, and these say what to pull.
    pull_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    pull_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[PatchsetStatus] = mapped_column(
        Enum(PatchsetStatus, native_enum=False, length=16), default=PatchsetStatus.proposed
    )
    status_by: Mapped[str] = mapped_column(String(998), default="")
    status_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)

    patches: Mapped[list[PatchsetPatch]] = relationship(
        back_populates="patchset",
        order_by="PatchsetPatch.position",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        Index("ix_patchsets_list_date", "list_id", "date"),
        Index("ix_patchsets_list_status_date", "list_id", "status", "date"),
        Index("ix_patchsets_submitter", "list_id", "submitter_addr", "version", "date"),
    )


class PatchsetPatch(Base):
    """A patch mail in a patchset, at `position` (its n in n/total)."""

    __tablename__ = "patchset_patches"

    id: Mapped[int] = mapped_column(primary_key=True)
    patchset_id: Mapped[int] = mapped_column(ForeignKey("patchsets.id", ondelete="CASCADE"))
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(MSGID_MAX))  # copy, for lookups by id
    position: Mapped[int] = mapped_column(Integer)
    # A partial re-roll ([PATCH v5.1 3/7]) replaces one patch; the old one stays listed.
    replaced: Mapped[bool] = mapped_column(Boolean, default=False)

    patchset: Mapped[Patchset] = relationship(back_populates="patches")
    message: Mapped[Message] = relationship()

    __table_args__ = (
        UniqueConstraint("patchset_id", "message_pk", name="uq_patchset_patches_message"),
        Index("ix_patchset_patches_msgid", "message_id"),
        Index("ix_patchset_patches_message", "message_pk"),
    )


class GivenTrailer(Base):
    """A trailer written (unquoted) in a reply: `Reviewed-by: Name <addr>`. Which patch it
    applies to is read from the thread when needed, so a reply that arrives before its
    patch still counts."""

    __tablename__ = "given_trailers"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)


class PatchsetEvent(Base):
    """A status change, by a person (web or authenticated mail) or by Mailyard itself."""

    __tablename__ = "patchset_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    patchset_first_message_id: Mapped[str] = mapped_column(String(MSGID_MAX), index=True)
    at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    actor: Mapped[str] = mapped_column(String(998))  # an address, or 'mailyard'
    via: Mapped[str] = mapped_column(String(16))  # 'web', 'email', 'cli', 'auto'
    old_status: Mapped[str] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    note: Mapped[str] = mapped_column(Text, default="")


class StatusRequest(Base):
    """A status change asked for by mail, and what came of it; kept across reindex so a
    request is applied, or answered, once."""

    __tablename__ = "status_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(MSGID_MAX), unique=True)
    patchset_first_message_id: Mapped[str | None] = mapped_column(String(MSGID_MAX), nullable=True)
    requested: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)


class ListRepository(Base):
    """A hosted repository a list's patches are for (`mailyard list set LIST --repo`).
    A list may also reach repositories through a project that links both
    (`patchsets.repositories.linked_repositories`)."""

    __tablename__ = "list_repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    # Where patches go whose subject names no linked repository; one per list.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (UniqueConstraint("list_id", "repository_id", name="uq_list_repositories"),)


class MatchMethod(enum.Enum):
    """How a commit was found to be a patch (the order they are tried on a push)."""

    applied = "applied"  # Mailyard applied the series itself (web or CLI)
    message_id = "message_id"  # a `Link:` or `Message-Id:` trailer names the patch mail
    patch_id = "patch_id"  # the same `git patch-id --stable`
    similar = "similar"  # same author, subject and files, in an open patchset


class PatchCommit(Base):
    """A commit in a hosted repository that is the patch mail `message_pk` (every copy and
    version of the patch gets its own row). Keyed on the message, not the patchset, so it
    survives `reindex`."""

    __tablename__ = "patch_commits"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    commit_sha: Mapped[str] = mapped_column(String(64))
    method: Mapped[MatchMethod] = mapped_column(Enum(MatchMethod, native_enum=False, length=16))
    push_id: Mapped[int | None] = mapped_column(
        ForeignKey("repo_pushes.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (
        UniqueConstraint("message_pk", "repository_id", "commit_sha", name="uq_patch_commits"),
        Index("ix_patch_commits_repository_commit", "repository_id", "commit_sha"),
    )


class ApplyOutcome(enum.Enum):
    pending = "pending"  # asked for; the worker has not tried yet
    clean = "clean"  # a dry run: the series applies cleanly
    conflict = "conflict"  # `git am -3` stopped at `failed_position`; nothing changed
    failed = "failed"  # could not even try (no base, no patches...): `report` says why
    busy = "busy"  # the branch moved while applying: try again
    applied = "applied"  # the branch now holds the series: `old_sha..new_sha`


class ApplyAttempt(Base):
    """One try at applying a patchset to a repository: a dry run (`dry_run`, made in the
    background when a patchset arrives, or by `--check`) or a real apply. The newest
    attempt of a patchset is what its page shows. Keyed on the patchset's first message so
    it survives `reindex`."""

    __tablename__ = "apply_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    patchset_first_message_id: Mapped[str] = mapped_column(String(MSGID_MAX))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    branch: Mapped[str] = mapped_column(String(255), default="")  # the branch updated
    base_sha: Mapped[str] = mapped_column(String(64), default="")  # what `git am` ran on
    outcome: Mapped[ApplyOutcome] = mapped_column(
        Enum(ApplyOutcome, native_enum=False, length=16), default=ApplyOutcome.pending
    )
    failed_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # What people are shown: {"message": git am's words, "files": [{"path", "hunks"}], ...}
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    old_sha: Mapped[str] = mapped_column(String(64), default="")
    new_sha: Mapped[str] = mapped_column(String(64), default="")
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (Index("ix_apply_attempts_patchset", "patchset_first_message_id", "id"),)


class SentSeries(Base):
    """A series a user sent from a repository's web pages (`git format-patch` of a range);
    a later version answers the previous one (`previous_id`), as `b4 send` does."""

    __tablename__ = "sent_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    branch: Mapped[str] = mapped_column(String(255), default="")
    base_sha: Mapped[str] = mapped_column(String(64), default="")
    tip_sha: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    prefix: Mapped[str] = mapped_column(String(255), default="PATCH")
    subject: Mapped[str] = mapped_column(Text, default="")  # the cover letter's, or the patch's
    to_addrs: Mapped[list] = mapped_column(JSON, default=list)
    cc_addrs: Mapped[list] = mapped_column(JSON, default=list)
    # The Message-IDs sent, the cover letter (or the only patch) first.
    message_ids: Mapped[list] = mapped_column(JSON, default=list)
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("sent_series.id", ondelete="SET NULL"), nullable=True
    )
    sent_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (Index("ix_sent_series_repository_user", "repository_id", "user_id", "id"),)
