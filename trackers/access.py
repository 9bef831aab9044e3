"""The rights on a ticket tracker (`accounts.access` holds the rule), and the
settings that decide them: visibility, default rights, owning group, access entries.

browse: see the tracker and its tickets; submit: open tickets; comment: comment on them;
edit: change a ticket's title and description; triage: every email command and form
(status, resolution, labels, assignees). A tracker without `browse` for someone does not
exist for them on the web.

Mail counts as its sender's account (their group roles, entries naming their user) only
when its From is authenticated (`actor_for_mail`); otherwise it is just an address, with
the defaults and any entry naming that address (DESIGN: an email must be authenticated
before it may do what that user may do).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import access
from accounts.access import (
    Actor,
    Resource,
    Visibility,
    actor_for_address,
    bare_actor,
    entries_of,
    format_rights,
    is_privileged,
    parse_rights,
    parse_visibility,
    remove_entry,
    rights_on,
    set_entry,
)
from accounts.models import AccessEntry, Group
from accounts.sender_auth import Proof
from core.errors import UserError
from trackers.models import Tracker


class TrackerRight(StrEnum):
    browse = "browse"
    submit = "submit"
    comment = "comment"
    edit = "edit"
    triage = "triage"


TRACKER_RIGHTS = tuple(TrackerRight)
MEMBER_RIGHTS = frozenset({TrackerRight.browse, TrackerRight.submit, TrackerRight.comment})
DEFAULT_RIGHTS = "browse,submit,comment"
AUTHENTICATED = tuple(Proof)  # how a mail's From may be authenticated (`accounts.sender_auth`)


class AccessError(UserError):
    """A tracker access setting cannot be made; the message says why, for a person."""


def tracker_scope(tracker: Tracker) -> str:
    return f"tracker:{tracker.id}"


def tracker_resource(tracker: Tracker) -> Resource:
    return Resource(
        scope=tracker_scope(tracker),
        owner_email=tracker.owner_email,
        owner_group_id=tracker.owner_group_id,
        visibility=tracker.visibility,
        default_rights=parse_rights(tracker.default_rights, TRACKER_RIGHTS),
        all_rights=frozenset(TRACKER_RIGHTS),
        member_rights=MEMBER_RIGHTS,
    )


def tracker_rights(session: Session, tracker: Tracker, actor: Actor) -> frozenset[str]:
    return rights_on(session, tracker_resource(tracker), actor)


def may(session: Session, tracker: Tracker, actor: Actor, right: str) -> bool:
    return right in tracker_rights(session, tracker, actor)


def may_manage(tracker: Tracker, actor: Actor) -> bool:
    """Owner, admin, or the owning group's owners and maintainers: the settings page."""
    return is_privileged(tracker_resource(tracker), actor)


def actor_for_mail(session: Session, address: str, authenticated: str) -> Actor:
    """Who a mail from `address` acts as: the account behind it when the From is
    authenticated, else the bare address (`accounts.sender_auth`)."""
    if authenticated in AUTHENTICATED:
        return actor_for_address(session, address)
    return bare_actor(address)


def is_stranger(session: Session, tracker: Tracker, actor: Actor) -> bool:
    """A private tracker does not exist for someone without any right on it: its
    addresses are refused to them as unknown ones, as a private list's are."""
    return tracker.visibility == Visibility.private and not tracker_rights(session, tracker, actor)


def stranger_rights(tracker: Tracker) -> frozenset[str]:
    """What someone with no entry and no role has."""
    return access.stranger_rights(tracker_resource(tracker))


def browsable_trackers(
    session: Session,
    actor: Actor,
    *,
    after: str = "",
    limit: int = 200,
    listed_only: bool = True,
) -> tuple[list[Tracker], bool]:
    """Up to `limit` trackers `actor` may browse, by name after `after`, and whether there
    are more. `listed_only` leaves out unlisted and private trackers the actor has no
    particular relation to (for the index)."""
    found: list[Tracker] = []
    last = after
    batch = max(limit, 50)
    while True:
        query = select(Tracker).order_by(Tracker.name).limit(batch)
        if last:
            query = query.where(Tracker.name > last)
        rows = list(session.scalars(query))
        for tracker in rows:
            rights = tracker_rights(session, tracker, actor)
            if TrackerRight.browse not in rights:
                continue
            if (
                listed_only
                and tracker.visibility != Visibility.public
                and rights == stranger_rights(tracker)
            ):
                continue
            if len(found) == limit:
                return found, True
            found.append(tracker)
        if len(rows) < batch:
            return found, False
        last = rows[-1].name


def readers_among(session: Session, tracker: Tracker, addresses: Iterable[str]) -> list[str]:
    """Those of `addresses` that may browse `tracker` (notifications carry its text)."""
    return access.readers_among(session, tracker_resource(tracker), addresses)


# -- settings ----------------------------------------------------------------------------


def set_visibility(tracker: Tracker, visibility: str) -> None:
    try:
        tracker.visibility = parse_visibility(visibility).value
    except ValueError as e:
        raise AccessError(str(e)) from None


def set_default_rights(tracker: Tracker, rights: str | Iterable[str]) -> frozenset[str]:
    """The rights of anyone without an entry (and, on a private tracker, of the owning
    group's members besides theirs)."""
    chosen = _rights(rights)
    tracker.default_rights = format_rights(chosen, TRACKER_RIGHTS)
    return chosen


def set_owner_group(tracker: Tracker, group: Group | None) -> None:
    """The group whose owners and maintainers manage the tracker, and whose members have
    the member rights; None for none."""
    tracker.owner_group_id = group.id if group is not None else None


def set_access(
    session: Session,
    tracker: Tracker,
    rights: str | Iterable[str],
    *,
    user_id: int | None = None,
    address: str | None = None,
) -> frozenset[str]:
    """Exactly `rights` for a user or an address, in place of the defaults."""
    chosen = _rights(rights)
    if address is not None and "@" not in address.strip().strip("@"):
        raise AccessError(f"{address!r} is not an address")
    set_entry(session, tracker_scope(tracker), chosen, user_id=user_id, address=address)
    return chosen


def remove_access(
    session: Session, tracker: Tracker, *, user_id: int | None = None, address: str | None = None
) -> bool:
    return remove_entry(session, tracker_scope(tracker), user_id=user_id, address=address)


def access_entries(session: Session, tracker: Tracker) -> list[AccessEntry]:
    return entries_of(session, tracker_scope(tracker))


def _rights(rights: str | Iterable[str]) -> frozenset[str]:
    try:
        return parse_rights(rights, TRACKER_RIGHTS)
    except ValueError as error:
        raise AccessError(str(error)) from None
