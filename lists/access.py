"""The rights on a mailing list (`accounts.access` holds the rule).

browse: read the archive, in every view; reply: post in a thread the list already has
(as SourceHut's lists do); post: start threads; moderate: decide on held posts and see
the moderation queue, and set any patchset status. A list without `browse` for someone
does not exist for them: every view answers 404, as for a list that was never made.

Pages that span lists (`/all/`, the index) ask `visible_lists` once per request: one
light query over the lists and one over the actor's access entries, then the database
filters by the ids it returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.access import (
    Actor,
    Resource,
    Visibility,
    entries_by_scope,
    entries_of,
    format_rights,
    is_privileged,
    parse_rights,
    rights_given,
    rights_on,
)
from accounts.users import usernames_by_id
from archive.models import MailingList


class ListRight(StrEnum):
    browse = "browse"
    reply = "reply"
    post = "post"
    moderate = "moderate"


LIST_RIGHTS = tuple(ListRight)
MEMBER_RIGHTS = frozenset({ListRight.browse, ListRight.reply, ListRight.post})
DEFAULT_RIGHTS = "browse,reply,post"
_SCOPE_PREFIX = "list:"


def list_scope(list_id: int) -> str:
    """The scope of the list's access entries and pending requests: 'list:ID'."""
    return f"{_SCOPE_PREFIX}{list_id}"


def list_resource(mlist: MailingList) -> Resource:
    return _resource(
        mlist.id, mlist.owner_email, mlist.owner_group_id, mlist.visibility, mlist.default_rights
    )


def _resource(
    list_id: int, owner_email: str, group_id: int | None, visibility: str, defaults: str
) -> Resource:
    return Resource(
        scope=list_scope(list_id),
        owner_email=owner_email,
        owner_group_id=group_id,
        visibility=visibility,
        default_rights=parse_rights(defaults, LIST_RIGHTS),
        all_rights=frozenset(LIST_RIGHTS),
        member_rights=MEMBER_RIGHTS,
    )


def list_rights(session: Session, mlist: MailingList, actor: Actor) -> frozenset[str]:
    return rights_on(session, list_resource(mlist), actor)


def may(session: Session, mlist: MailingList, actor: Actor, right: str) -> bool:
    return right in list_rights(session, mlist, actor)


def may_manage(mlist: MailingList, actor: Actor) -> bool:
    """Owner, admin, or the owning group's owners and maintainers: settings, members."""
    return is_privileged(list_resource(mlist), actor)


# -- what one actor sees across lists ---------------------------------------------------


@dataclass(frozen=True)
class VisibleLists:
    """The lists one actor may browse, and which of them the index shows."""

    browsable: frozenset[int]
    # Public lists, plus lists the actor has a relation to: privileged on, a member of
    # the owning group, or named by an access entry (unlisted and private lists are
    # otherwise left off the index and /all/'s list of lists).
    listed: frozenset[int]
    every: bool  # the actor may browse every list there is

    def sql_filter(self) -> list[int] | None:
        """The ids to filter queries by; None when no filter is needed (every list)."""
        return None if self.every else sorted(self.browsable)


def visible_lists(session: Session, actor: Actor) -> VisibleLists:
    """What `actor` may browse, in two queries whatever the number of lists; the same
    answer as asking `may(..., "browse")` list by list (tests hold the two together)."""
    entries = {
        int(scope.removeprefix(_SCOPE_PREFIX)): rights
        for scope, rights in entries_by_scope(session, actor, _SCOPE_PREFIX).items()
        if scope.removeprefix(_SCOPE_PREFIX).isdigit()
    }
    rows = session.execute(
        select(
            MailingList.id,
            MailingList.owner_email,
            MailingList.owner_group_id,
            MailingList.visibility,
            MailingList.default_rights,
        )
    ).all()
    browsable, listed = set(), set()
    for list_id, owner, group_id, visibility, defaults in rows:
        resource = _resource(list_id, owner, group_id, visibility, defaults)
        rights = rights_given(resource, actor, entries.get(list_id))
        if ListRight.browse not in rights:
            continue
        browsable.add(list_id)
        related = (
            is_privileged(resource, actor)
            or (group_id is not None and actor.role_in(group_id) is not None)
            or list_id in entries
        )
        if visibility == Visibility.public or related:
            listed.add(list_id)
    return VisibleLists(frozenset(browsable), frozenset(listed), len(browsable) == len(rows))


def browsable_list_ids(session: Session, actor: Actor) -> frozenset[int]:
    """The ids of the lists `actor` may browse (see `visible_lists`)."""
    return visible_lists(session, actor).browsable


def browsable_lists(
    session: Session, actor: Actor, *, listed_only: bool = False
) -> list[MailingList]:
    """The lists `actor` may browse, by name. `listed_only` leaves out unlisted and
    private lists the actor has no particular relation to (for the index and /all/)."""
    visible = visible_lists(session, actor)
    ids = visible.listed if listed_only else visible.browsable
    if not ids:
        return []
    return list(
        session.scalars(
            select(MailingList).where(MailingList.id.in_(sorted(ids))).order_by(MailingList.name)
        )
    )


# -- access entries -----------------------------------------------------------------------


@dataclass(frozen=True)
class ListEntry:
    """An access entry as people name it: '~username' or an address."""

    who: str
    rights: tuple[str, ...]  # in LIST_RIGHTS order; empty shuts the person out


def lists_owned_by(session: Session, group_id: int) -> list[MailingList]:
    """The lists the group owns, by name (whoever may browse them)."""
    return list(
        session.scalars(
            select(MailingList)
            .where(MailingList.owner_group_id == group_id)
            .order_by(MailingList.name)
        )
    )


def list_access_entries(session: Session, mlist: MailingList) -> list[ListEntry]:
    """The list's access entries, oldest first, users named by their ~username."""
    entries = entries_of(session, list_scope(mlist.id))
    names = usernames_by_id(session, (e.user_id for e in entries if e.user_id is not None))
    out = []
    for entry in entries:
        who = f"~{names.get(entry.user_id, entry.user_id)}" if entry.user_id else entry.address_key
        rights = parse_rights(entry.rights, LIST_RIGHTS)
        out.append(ListEntry(who or "", tuple(r for r in LIST_RIGHTS if r in rights)))
    return out


def format_list_rights(rights: Iterable[str]) -> str:
    """The stored form of a set of list rights: 'browse,reply,post'."""
    return format_rights(rights, LIST_RIGHTS)
