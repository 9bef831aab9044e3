"""Tickets named by pushed commits: `Fixes: bugs#12` resolves the ticket (the AFTER_PUSH
hook, connected in `mailyard/wiring.py`).

Trailers `Closes:`, `Fixes:`, `Resolves:`, `Implements:` and `References:` naming a ticket
(`bugs#12`, `~owner/bugs#12`, or the ticket's URL; `trackers.mentions`) add a reference
event on the ticket with the commit, its repository and a link; all but `References:`
resolve it too (closed, fixed, implemented) when the pusher may triage the tracker.
Every commit a push brings counts, on new branches too, however many (hub.sr.ht looks at
neither); a commit is noted once per ticket (`ticket_commits`), whichever branches it is
pushed to. Lookups are in bulk: a push of thousands of commits is a few queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from accounts.access import ANONYMOUS, actor_for_user, user_for_address
from accounts.models import Group, User
from accounts.users import primary_address_of
from core.settings import get_settings
from repos.models import Push, RefUpdate, Repository
from repos.pushed_commits import PushedCommit, pushed_commits
from repos.pushes import changes_of
from repos.storage import path_of
from repos.urls import commit_url
from trackers.access import TrackerRight, may
from trackers.commands import Resolution, Status
from trackers.mentions import COMMIT_TRAILERS, TicketRef, closing_refs
from trackers.models import Ticket, TicketCommit, Tracker
from trackers.notify import notify_ticket
from trackers.tickets import Origin, add_commit_reference, resolve_ticket

RESOLUTIONS = {
    "closes": Resolution.closed,
    "resolves": Resolution.closed,
    "fixes": Resolution.fixed,
    "implements": Resolution.implemented,
}
_CHUNK = 500
_WORDS = tuple(f"{t}:" for t in COMMIT_TRAILERS)


@dataclass(frozen=True)
class CommitRef:
    commit: PushedCommit
    how: str  # the trailer, lower-cased
    ref: TicketRef
    tracker: str  # the name the ref gives


def note_pushed_ticket_refs(session: Session, push: Push, updates: Sequence[RefUpdate]) -> None:
    repository = session.get(Repository, push.repository_id)
    if repository is None:
        return
    settings = get_settings()
    commits = pushed_commits(path_of(settings, repository), changes_of(updates))
    found = [
        CommitRef(c, how, ref, ref.tracker)
        for c in commits
        if not c.is_merge and any(w in c.message.lower() for w in _WORDS)
        for how, ref in closing_refs(c.message, base_url=settings.base_url, kinds=COMMIT_TRAILERS)
        if ref.tracker
    ]
    if not found:
        return
    trackers = {
        t.name: t
        for t in session.scalars(
            select(Tracker).where(Tracker.name.in_({f.tracker for f in found}))
        )
    }
    pusher = session.get(User, push.pusher_user_id) if push.pusher_user_id else None
    actor = actor_for_user(session, pusher) if pusher is not None else ANONYMOUS
    # One rights check per tracker and owner named, not per commit.
    trackers = {n: t for n, t in trackers.items() if may(session, t, actor, TrackerRight.browse)}
    triage = {n for n, t in trackers.items() if may(session, t, actor, TrackerRight.triage)}
    owners = {(f.tracker, f.ref.owner) for f in found if f.tracker in trackers and f.ref.owner}
    wrong_owner = {key for key in owners if not _owned_by(session, trackers[key[0]], key[1] or "")}
    found = [
        f for f in found if f.tracker in trackers and (f.tracker, f.ref.owner) not in wrong_owner
    ]
    tickets = _tickets(session, {(trackers[f.tracker].id, f.ref.number) for f in found})
    pairs = [(tickets[(trackers[f.tracker].id, f.ref.number)], f) for f in found
             if (trackers[f.tracker].id, f.ref.number) in tickets]  # fmt: skip
    seen = _noted(session, {(t.id, f.commit.sha) for t, f in pairs})
    address = primary_address_of(session, pusher) if pusher is not None else None
    # "(via push)" on the ticket: the pusher proved who they are to the git server.
    origin = Origin(address=address or "", name=pusher.username if pusher else "",
                    authenticated="push")  # fmt: skip
    for ticket, f in pairs:
        if (ticket.id, f.commit.sha) in seen:
            continue
        seen.add((ticket.id, f.commit.sha))
        tracker = trackers[f.tracker]
        url = commit_url(settings, repository, f.commit.sha)
        event = add_commit_reference(
            session,
            ticket,
            f"{f.commit.info.short} {f.commit.info.subject} ({f.how})",
            origin,
            {"url": url, "how": f.how, "commit": f.commit.sha,
             "repository": repository.path_name},
        )  # fmt: skip
        session.add(
            TicketCommit(
                ticket_id=ticket.id,
                commit_sha=f.commit.sha,
                repository_id=repository.id,
                event_id=event.id,
            )
        )
        events = [event]
        resolution = RESOLUTIONS.get(f.how)
        if resolution is not None and ticket.status is not Status.resolved and f.tracker in triage:
            events += resolve_ticket(session, ticket, resolution, origin)
        notify_ticket(session, settings, tracker, ticket, events, origin)


def _owned_by(session: Session, tracker: Tracker, owner: str) -> bool:
    """Whether `~owner/` names the tracker's owner (a group, or a user)."""
    if tracker.owner_group_id is not None:
        group = session.get(Group, tracker.owner_group_id)
        return group is not None and group.name.lower() == owner.lower()
    user = user_for_address(session, tracker.owner_email)
    return user is not None and user.username.lower() == owner.lower()


def _tickets(session: Session, keys: set[tuple[int, int]]) -> dict[tuple[int, int], Ticket]:
    out: dict[tuple[int, int], Ticket] = {}
    ordered = sorted(keys)
    for i in range(0, len(ordered), _CHUNK):
        chunk = ordered[i : i + _CHUNK]
        rows = session.scalars(
            select(Ticket).where(tuple_(Ticket.tracker_id, Ticket.number).in_(chunk))
        )
        out.update({(t.tracker_id, t.number): t for t in rows})
    return out


def _noted(session: Session, keys: set[tuple[int, str]]) -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    ordered = sorted(keys)
    for i in range(0, len(ordered), _CHUNK):
        chunk = ordered[i : i + _CHUNK]
        rows = session.execute(
            select(TicketCommit.ticket_id, TicketCommit.commit_sha).where(
                tuple_(TicketCommit.ticket_id, TicketCommit.commit_sha).in_(chunk)
            )
        )
        out.update((t, s) for t, s in rows)
    return out
