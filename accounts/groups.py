"""Groups (organisations): who belongs to one, and with which role.

A group owns lists, trackers and projects; its owners and maintainers have every right on
them and its members the member rights (`accounts.access`). Only owners change
who belongs, and a group always keeps at least one owner, so that someone can always
manage it. These functions keep that invariant; who may call them is the caller's
question (`may_manage_members`): the web asks it, the CLI is the operator.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.access import Actor
from accounts.models import Group, GroupMember, GroupRole, User
from accounts.names import NameRefused, validate_owner_name
from core.errors import UserError

DESCRIPTION_MAX = 2000


class GroupError(UserError):
    """A group operation cannot be done; the message says why, for a person."""


def create_group(session: Session, name: str, owner: User, description: str = "") -> Group:
    """Group ~NAME, with `owner` as its first owner. NAME shares the namespace of
    usernames (`accounts.names`)."""
    try:
        name = validate_owner_name(session, name)
    except NameRefused as refused:
        raise GroupError(str(refused)) from None
    group = Group(name=name, description=_description(description))
    session.add(group)
    session.flush()
    session.add(GroupMember(group_id=group.id, user_id=owner.id, role=GroupRole.owner))
    session.flush()
    return group


def get_group(session: Session, name: str) -> Group | None:
    return session.scalar(select(Group).where(Group.name == name.strip().lower().lstrip("~")))


def set_description(session: Session, group: Group, description: str) -> None:
    group.description = _description(description)
    session.flush()


def parse_role(text: str) -> GroupRole:
    try:
        return GroupRole(text.strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in GroupRole)
        raise GroupError(f"unknown role {text!r}; the roles are: {roles}") from None


def set_member(session: Session, group: Group, user: User, role: GroupRole) -> GroupMember:
    """Add `user` to `group` with `role`, or change their role. Refuses to demote the
    group's last owner."""
    member = _membership(session, group, user, lock=True)
    if member is None:
        member = GroupMember(group_id=group.id, user_id=user.id, role=role)
        session.add(member)
    else:
        if member.role is GroupRole.owner and role is not GroupRole.owner:
            _keep_an_owner(session, group, user, "stop being an owner")
        member.role = role
    session.flush()
    return member


def remove_member(session: Session, group: Group, user: User) -> None:
    """Take `user` out of `group`; refuses for its last owner."""
    member = _membership(session, group, user, lock=True)
    if member is None:
        raise GroupError(f"~{user.username} is not a member of ~{group.name}")
    if member.role is GroupRole.owner:
        _keep_an_owner(session, group, user, "leave")
    session.delete(member)
    session.flush()


def role_of(session: Session, group: Group, user: User) -> GroupRole | None:
    member = _membership(session, group, user)
    return member.role if member is not None else None


def members_of(session: Session, group: Group) -> list[tuple[User, GroupRole]]:
    """Owners first, then maintainers, then members; by username within each."""
    rows = session.execute(
        select(User, GroupMember.role)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group.id)
        .order_by(User.username)
    ).all()
    order = {GroupRole.owner: 0, GroupRole.maintainer: 1, GroupRole.member: 2}
    return sorted(((user, role) for user, role in rows), key=lambda row: order[row[1]])


def groups_of(session: Session, user: User) -> list[tuple[Group, GroupRole]]:
    """The groups `user` belongs to, by name, with their role in each."""
    rows = session.execute(
        select(Group, GroupMember.role)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user.id)
        .order_by(Group.name)
    ).all()
    return [(group, role) for group, role in rows]


def all_groups(session: Session) -> list[tuple[Group, int]]:
    """Every group with its number of members, by name."""
    rows = session.execute(
        select(Group, func.count(GroupMember.id))
        .outerjoin(GroupMember, GroupMember.group_id == Group.id)
        .group_by(Group.id)
        .order_by(Group.name)
    ).all()
    return [(group, count) for group, count in rows]


def may_manage_members(actor: Actor, group: Group) -> bool:
    """Owners change who belongs to a group (and site admins, who may do anything)."""
    return actor.is_admin or actor.role_in(group.id) is GroupRole.owner


def may_act_for(actor: Actor, group: Group) -> bool:
    """Owners and maintainers act for the group: they give it lists, trackers and
    projects, and manage what it owns."""
    return actor.is_admin or actor.role_in(group.id) in (GroupRole.owner, GroupRole.maintainer)


def groups_acted_for(session: Session, actor: Actor) -> list[Group]:
    """The groups `actor` is an owner or maintainer of, by name."""
    ids = [
        gid for gid, role in actor.group_roles if role in (GroupRole.owner, GroupRole.maintainer)
    ]
    if not ids:
        return []
    return list(session.scalars(select(Group).where(Group.id.in_(ids)).order_by(Group.name)))


def groups_offered(session: Session, actor: Actor, current_id: int | None) -> list[Group]:
    """The groups a list or tracker may be given to by `actor`, by name: those they own
    or maintain (every group, for a site admin), and `current_id`, the one it has now."""
    query = select(Group).order_by(Group.name)
    if not actor.is_admin:
        ids = [
            g for g, role in actor.group_roles if role in (GroupRole.owner, GroupRole.maintainer)
        ]
        if current_id is not None:
            ids.append(current_id)
        query = query.where(Group.id.in_(ids))
    return list(session.scalars(query))


def _membership(
    session: Session, group: Group, user: User, *, lock: bool = False
) -> GroupMember | None:
    query = select(GroupMember).where(
        GroupMember.group_id == group.id, GroupMember.user_id == user.id
    )
    if lock:
        # Two owners demoting each other at once must not leave the group with none.
        session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    return session.scalar(query)


def _keep_an_owner(session: Session, group: Group, user: User, what: str) -> None:
    others = session.scalar(
        select(func.count(GroupMember.id)).where(
            GroupMember.group_id == group.id,
            GroupMember.role == GroupRole.owner,
            GroupMember.user_id != user.id,
        )
    )
    if not others:
        raise GroupError(
            f"~{user.username} is the last owner of ~{group.name} and cannot {what}:"
            " make someone else an owner first"
        )


def _description(text: str) -> str:
    text = text.strip()
    if len(text) > DESCRIPTION_MAX:
        raise GroupError(f"the description is too long ({DESCRIPTION_MAX} characters at most)")
    return text
