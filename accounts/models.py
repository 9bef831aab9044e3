"""People and what they may do: users, their confirmed addresses, API tokens, SSH and
OpenPGP keys, groups, projects, and the access entries lists and trackers grant.

Resources (lists, trackers) live in their own domains; this module refers to them by a
scope string, "list:ID" or "tracker:ID", so that it never imports a domain (DESIGN:
dependencies point from domains to `mailyard`).
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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTC_DT, Base, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # ~USERNAME in URLs; shares one namespace with group names (see accounts.names).
    username: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), default="")  # "" = no password
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the sign-up address was confirmed; an unconfirmed user cannot sign in.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)


class UserAddress(Base):
    """An address of a user. Mail from it counts as that user once it is confirmed."""

    __tablename__ = "user_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(254))  # as normalized by email-validator
    # Lower-cased; unique among confirmed addresses only (see the partial index below), so
    # that an address someone typed by mistake does not lock its real owner out.
    address_key: Mapped[str] = mapped_column(String(254), index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "address_key", name="uq_user_addresses_user_address"),
        Index(
            "uq_user_addresses_confirmed",
            "address_key",
            unique=True,
            sqlite_where=confirmed_at.isnot(None),
            postgresql_where=confirmed_at.isnot(None),
        ),
    )


class ApiToken(Base):
    """A personal access token. Only its SHA-256 is kept: the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)


class SshKey(Base):
    __tablename__ = "ssh_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(Text)  # "TYPE BASE64 [COMMENT]", one line
    # "SHA256:..." as ssh-keygen -l prints it; one account per key (git over SSH looks
    # the key up to know who pushes).
    fingerprint: Mapped[str] = mapped_column(String(100), unique=True)
    added_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)


class UserPgpKey(Base):
    """An OpenPGP public key a user uploaded. It authenticates mail from those of the
    user's confirmed addresses that its user IDs name (`emails`)."""

    __tablename__ = "user_pgp_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    armored: Mapped[str] = mapped_column(Text)
    emails: Mapped[list] = mapped_column(JSON, default=list)  # lower-cased, from the uids
    added_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "fingerprint", name="uq_user_pgp_keys_user_fp"),)


class Group(Base):
    """An organisation: it owns lists, trackers and projects, and has members."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)  # ~NAME, like a username
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)


class GroupRole(enum.Enum):
    owner = "owner"  # manages the group and its members; every right on what it owns
    maintainer = "maintainer"  # every right on what the group owns
    member = "member"  # the member rights of what the group owns (see accounts.access)


class GroupMember(Base):
    __tablename__ = "group_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[GroupRole] = mapped_column(Enum(GroupRole, native_enum=False, length=16))

    __table_args__ = (UniqueConstraint("group_id", "user_id", name="uq_group_members"),)


class Project(Base):
    """A project hub: a README and links to lists, trackers and repositories, owned by a
    user or a group, at /~OWNER/NAME."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    owner_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), nullable=True
    )
    owner_name: Mapped[str] = mapped_column(String(32))  # the ~OWNER, for lookups by URL
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    readme: Mapped[str] = mapped_column(Text, default="")  # shown as plain text
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (UniqueConstraint("owner_name", "name", name="uq_projects_owner_name"),)


class ProjectLink(Base):
    """One thing a project brings together: "list:ID", "tracker:ID", "repo:ID" (hosted
    here) or "repo:URL"."""

    __tablename__ = "project_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(300))

    __table_args__ = (
        UniqueConstraint("project_id", "scope", name="uq_project_links"),
        Index("ix_project_links_scope", "scope"),
    )


class AccessEntry(Base):
    """Rights granted on one resource to one user or one address, replacing the
    resource's default rights for them (SourceHut's ACL entries)."""

    __tablename__ = "access_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))  # "list:ID", "tracker:ID"
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    address_key: Mapped[str | None] = mapped_column(String(254), nullable=True)  # lower-cased
    rights: Mapped[str] = mapped_column(String(200), default="")  # "browse,reply,post"
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (
        UniqueConstraint("scope", "user_id", name="uq_access_entries_user"),
        UniqueConstraint("scope", "address_key", name="uq_access_entries_address"),
    )


class RateLimitHit(Base):
    """One attempt at a rate-limited action (sign-in, sign-up, reset), by key."""

    __tablename__ = "rate_limit_hits"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))  # "login:ip:1.2.3.4", "login:addr:a@b"
    at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)

    __table_args__ = (Index("ix_rate_limit_hits_key_at", "key", "at"),)


class SignInSession(Base):
    """One signed-in browser: its cookie holds a random key, of which only the SHA-256 is
    kept. Signing out ends the row, so a copied cookie stops working at once; a password
    change ends the user's other rows. A session begun by a login link records the
    link's digest (unique), so a link signs in once."""

    __tablename__ = "sign_in_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    # The account signed in, or None for a login link's bare address.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    address: Mapped[str | None] = mapped_column(String(254), nullable=True)
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTC_DT, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTC_DT, nullable=True)
