"""Who may do what on a list or a tracker: the one rule the mail path and the web path
both ask (`rights_on`).

A resource (a list, a tracker) has an owner address, maybe an owning group, a visibility
and default rights. For one actor, in this order:

1. a site admin, the owner, and the owning group's owners and maintainers have every
   right;
2. access entries naming the actor's user or one of their confirmed addresses replace
   the defaults for them (SourceHut's ACL: an entry with no rights shuts someone out);
   a member of the owning group also has the resource's member rights;
3. a member of the owning group has the member rights and the defaults;
4. anyone else has the defaults, unless the resource is private: then nothing.

The domains describe their resources (`lists.access`, `trackers.access`); this module
knows no domain, only scopes such as "list:7" and the rights each kind of resource names
(each domain has an enum of them, stored by name).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from accounts.models import AccessEntry, GroupMember, GroupRole, User, UserAddress


class Visibility(StrEnum):
    """Who sees a list or tracker exists: everyone, whoever has its address, or only
    those with rights on it (stored by name)."""

    public = "public"
    unlisted = "unlisted"  # reachable, not listed
    private = "private"  # does not exist for anyone without rights


VISIBILITIES = tuple(v.value for v in Visibility)


def parse_visibility(text: str) -> Visibility:
    """'Private ' -> Visibility.private; ValueError naming the valid ones."""
    word = text.strip().lower()
    if word not in VISIBILITIES:
        raise ValueError(f"unknown visibility {word!r}; use one of: {', '.join(VISIBILITIES)}")
    return Visibility(word)


@dataclass(frozen=True)
class Actor:
    """Who asks: a user (with their confirmed addresses and group roles), a bare address
    (mail from someone without an account, or a sign-in link), or nobody.

    `proven` is False for an address that mail only claims (its From is not
    authenticated, `bare_actor`): such an actor has the defaults and the entries naming
    the address, but is never the owner of anything, or a forged From of the owner's
    address would bring every right along."""

    user_id: int | None = None
    username: str = ""
    addresses: frozenset[str] = frozenset()  # lower-cased
    is_admin: bool = False
    group_roles: tuple[tuple[int, GroupRole], ...] = field(default=())
    proven: bool = True

    @property
    def anonymous(self) -> bool:
        return self.user_id is None and not self.addresses

    def role_in(self, group_id: int | None) -> GroupRole | None:
        for gid, role in self.group_roles:
            if gid == group_id:
                return role
        return None


ANONYMOUS = Actor()


@dataclass(frozen=True)
class Resource:
    """What `rights_on` needs to know about a list, a tracker or a repository."""

    scope: str  # "list:ID", "tracker:ID", "repo:ID"
    owner_email: str
    owner_group_id: int | None
    visibility: str  # a Visibility
    default_rights: frozenset[str]
    all_rights: frozenset[str]  # every right this kind of resource has
    member_rights: frozenset[str]  # what a member of the owning group may do
    owner_user_id: int | None = None  # an account that owns it (repositories do)


def parse_rights(text: str | Iterable[str], valid: Iterable[str]) -> frozenset[str]:
    """'browse, post' -> {'browse', 'post'}, as the members of `valid` (a domain's rights
    enum); raises ValueError naming an unknown right."""
    words = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    known = {str(right): right for right in valid}
    rights = set()
    for word in words:
        word = word.strip().lower()
        if word not in known:
            raise ValueError(f"unknown right {word!r}; valid: {', '.join(known)}")
        rights.add(known[word])
    return frozenset(rights)


def format_rights(rights: Iterable[str], order: Iterable[str]) -> str:
    """The stored form: known rights in their canonical order, comma-separated."""
    chosen = set(rights)
    return ",".join(r for r in order if r in chosen)


def actor_for_user(session: Session, user: User) -> Actor:
    addresses = session.scalars(
        select(UserAddress.address_key).where(
            UserAddress.user_id == user.id, UserAddress.confirmed_at.isnot(None)
        )
    )
    roles = session.execute(
        select(GroupMember.group_id, GroupMember.role).where(GroupMember.user_id == user.id)
    )
    return Actor(
        user_id=user.id,
        username=user.username,
        addresses=frozenset(addresses),
        is_admin=user.is_admin,
        group_roles=tuple(sorted((gid, role) for gid, role in roles)),
    )


def user_for_address(session: Session, address: str) -> User | None:
    """The user who confirmed `address`, if any."""
    if not address:
        return None
    return session.scalars(
        select(User)
        .join(UserAddress, UserAddress.user_id == User.id)
        .where(UserAddress.address_key == address.strip().lower())
        .where(UserAddress.confirmed_at.isnot(None))
    ).first()


def actor_for_address(session: Session, address: str) -> Actor:
    """The user behind `address` when it is one of their confirmed addresses, else the
    address itself as a proven mailbox. Whether the address is authenticated is the
    caller's question (`accounts.sender_auth`): mail that does not prove it acts as
    `bare_actor` instead."""
    if not address:
        return ANONYMOUS
    user = user_for_address(session, address)
    if user is not None:
        return actor_for_user(session, user)
    return Actor(addresses=frozenset({address.strip().lower()}))


def bare_actor(address: str) -> Actor:
    """An address that unauthenticated mail claims, standing for nothing but itself: the
    defaults and entries naming it, never an account or the owner's rights."""
    if not address:
        return ANONYMOUS
    return Actor(addresses=frozenset({address.strip().lower()}), proven=False)


def is_privileged(resource: Resource, actor: Actor) -> bool:
    """Admin, owner, or owner/maintainer of the owning group: every right."""
    if actor.is_admin:
        return True
    owner = resource.owner_email.strip().lower() if resource.owner_email else ""
    if owner and actor.proven and owner in actor.addresses:
        return True
    if resource.owner_user_id is not None and actor.user_id == resource.owner_user_id:
        return actor.proven
    role = actor.role_in(resource.owner_group_id) if resource.owner_group_id else None
    return role in (GroupRole.owner, GroupRole.maintainer)


def rights_on(session: Session, resource: Resource, actor: Actor) -> frozenset[str]:
    """The rights `actor` has on `resource` (see the module docstring for the order)."""
    return rights_given(resource, actor, _entries_for(session, resource.scope, actor))


def rights_given(
    resource: Resource, actor: Actor, entries: frozenset[str] | None
) -> frozenset[str]:
    """The rule itself, with the actor's entries on the resource already fetched (None
    when no entry names them): for pages that judge many resources at once."""
    if is_privileged(resource, actor):
        return resource.all_rights
    member = resource.owner_group_id is not None and actor.role_in(resource.owner_group_id)
    extra = resource.member_rights if member else frozenset()
    if entries is not None:
        return entries | extra
    if member:
        return extra | resource.default_rights
    if resource.visibility == Visibility.private:
        return frozenset()
    return resource.default_rights


def stranger_rights(resource: Resource) -> frozenset[str]:
    """What someone with no entry and no role has."""
    return frozenset() if resource.visibility == Visibility.private else resource.default_rights


def readers_among(session: Session, resource: Resource, addresses: Iterable[str]) -> list[str]:
    """Those of `addresses` that may browse `resource`, in order: mail that carries its
    content (list copies, ticket notifications) goes only to those who could read it on
    the web. An address counts as the account that confirmed it (it is their mailbox)."""
    addresses = list(addresses)
    if not addresses:
        return []
    if "browse" in stranger_rights(resource) and not _entries_without_browse(session, resource):
        return addresses  # everyone may browse: nobody needs looking up
    return [
        a
        for a in addresses
        if "browse" in rights_on(session, resource, actor_for_address(session, a))
    ]


def _entries_without_browse(session: Session, resource: Resource) -> bool:
    rows = session.scalars(select(AccessEntry.rights).where(AccessEntry.scope == resource.scope))
    return any("browse" not in row.split(",") for row in rows)


def entries_by_scope(session: Session, actor: Actor, prefix: str) -> dict[str, frozenset[str]]:
    """The rights the actor's entries give on every scope starting with `prefix`
    ("list:"), in one query; entries for the user and each confirmed address add up."""
    conditions = _naming(actor)
    if not conditions:
        return {}
    found: dict[str, set[str]] = {}
    for scope, rights in session.execute(
        select(AccessEntry.scope, AccessEntry.rights).where(
            AccessEntry.scope.startswith(prefix), or_(*conditions)
        )
    ):
        found.setdefault(scope, set()).update(r for r in rights.split(",") if r)
    return {scope: frozenset(rights) for scope, rights in found.items()}


def _entries_for(session: Session, scope: str, actor: Actor) -> frozenset[str] | None:
    """The union of the entries naming the actor, or None when none does."""
    conditions = _naming(actor)
    if not conditions:
        return None
    rows = list(
        session.scalars(
            select(AccessEntry.rights).where(AccessEntry.scope == scope, or_(*conditions))
        )
    )
    if not rows:
        return None
    return frozenset(r for row in rows for r in row.split(",") if r)


def _naming(actor: Actor) -> list:
    """SQL conditions for the entries that name `actor`."""
    conditions = []
    if actor.user_id is not None:
        conditions.append(AccessEntry.user_id == actor.user_id)
    if actor.addresses:
        conditions.append(AccessEntry.address_key.in_(sorted(actor.addresses)))
    return conditions


def set_entry(
    session: Session,
    scope: str,
    rights: Iterable[str],
    *,
    user_id: int | None = None,
    address: str | None = None,
) -> AccessEntry:
    """Grant exactly `rights` on `scope` to a user or an address (replacing an entry)."""
    if (user_id is None) == (address is None):
        raise ValueError("an access entry names a user or an address, not both")
    entry = _entry(session, scope, user_id, address)
    if entry is None:
        key = address.strip().lower() if address else None
        entry = AccessEntry(scope=scope, user_id=user_id, address_key=key)
        session.add(entry)
    entry.rights = ",".join(sorted(set(rights)))
    session.flush()
    return entry


def remove_entry(
    session: Session, scope: str, *, user_id: int | None = None, address: str | None = None
) -> bool:
    entry = _entry(session, scope, user_id, address)
    if entry is None:
        return False
    session.delete(entry)
    session.flush()
    return True


def _entry(
    session: Session, scope: str, user_id: int | None, address: str | None
) -> AccessEntry | None:
    """The entry on `scope` naming the user (when given) or else the address."""
    if user_id is not None:
        where = AccessEntry.user_id == user_id
    else:
        where = AccessEntry.address_key == (address or "").strip().lower()
    return session.scalars(select(AccessEntry).where(AccessEntry.scope == scope, where)).first()


def remove_entries(session: Session, scope: str) -> int:
    """Every entry on `scope`, for a thing that is going away (its id may come back)."""
    entries = entries_of(session, scope)
    for entry in entries:
        session.delete(entry)
    session.flush()
    return len(entries)


def entries_of(session: Session, scope: str) -> list[AccessEntry]:
    return list(
        session.scalars(
            select(AccessEntry).where(AccessEntry.scope == scope).order_by(AccessEntry.id)
        )
    )
