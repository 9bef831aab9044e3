"""The rights on a ticket tracker (`mailyard.accounts.access` holds the rule).

browse: see the tracker and its tickets; submit: open tickets; comment: comment on them;
edit: change a ticket's title and description; triage: every email command and form
(status, resolution, labels, assignees). A tracker without `browse` for someone does not
exist for them on the web.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailyard.accounts.access import Actor, Resource, is_privileged, parse_rights, rights_on
from trackers.models import Tracker

TRACKER_RIGHTS = ("browse", "submit", "comment", "edit", "triage")
MEMBER_RIGHTS = frozenset({"browse", "submit", "comment"})
DEFAULT_RIGHTS = "browse,submit,comment"


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
    return is_privileged(tracker_resource(tracker), actor)
