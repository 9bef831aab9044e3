"""The rights on a mailing list (`mailyard.accounts.access` holds the rule).

browse: read the archive, in every view; reply: post in a thread the list already has
(as SourceHut's lists do); post: start threads; moderate: decide on held posts and see
the moderation queue. A list without `browse` for someone does not exist for them: every
view answers 404, as for a list that was never made.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import MailingList
from mailyard.accounts.access import Actor, Resource, is_privileged, parse_rights, rights_on

LIST_RIGHTS = ("browse", "reply", "post", "moderate")
MEMBER_RIGHTS = frozenset({"browse", "reply", "post"})
DEFAULT_RIGHTS = "browse,reply,post"


def list_scope(mlist: MailingList) -> str:
    return f"list:{mlist.id}"


def list_resource(mlist: MailingList) -> Resource:
    return Resource(
        scope=list_scope(mlist),
        owner_email=mlist.owner_email,
        owner_group_id=mlist.owner_group_id,
        visibility=mlist.visibility,
        default_rights=parse_rights(mlist.default_rights, LIST_RIGHTS),
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


def browsable_lists(
    session: Session, actor: Actor, *, listed_only: bool = False
) -> list[MailingList]:
    """The lists `actor` may browse, by name. `listed_only` leaves out unlisted and
    private lists the actor has no particular relation to (for the index and /all/)."""
    found = []
    for mlist in session.scalars(select(MailingList).order_by(MailingList.name)):
        rights = list_rights(session, mlist, actor)
        if "browse" not in rights:
            continue
        if listed_only and mlist.visibility != "public" and rights == _stranger_rights(mlist):
            continue
        found.append(mlist)
    return found


def _stranger_rights(mlist: MailingList) -> frozenset[str]:
    return list_resource(mlist).default_rights if mlist.visibility != "private" else frozenset()
