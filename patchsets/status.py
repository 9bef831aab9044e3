"""Who may change a patchset's status, and the change itself; used by the web form, the
CLI and status lines in authenticated mail replies alike, so that all three follow one
rule.

The rule (Patchwork's maintainers/submitters split): whoever may `moderate` the list
(its owner, a site admin, the owning group's owners and maintainers, and anyone an
access entry or the defaults give `moderate`) may set any status; the submitter may
only withdraw or retire their own work (`needs_revision`, `superseded`, `rejected`);
anyone else may set nothing. Who someone is comes as an `Actor`
(`accounts.access`): the web's signed-in person, or the authenticated From
address of a mail; a bare address stands for whoever confirmed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from accounts.access import Actor, actor_for_address
from archive.models import MailingList
from core.db import utcnow
from core.errors import UserError
from lists.access import ListRight, may
from patchsets.hooks import PATCHSET_APPLIED
from patchsets.models import Patchset, PatchsetEvent, PatchsetStatus

SUBMITTER_STATUSES = frozenset(
    {PatchsetStatus.needs_revision, PatchsetStatus.superseded, PatchsetStatus.rejected}
)


class StatusRefused(UserError):
    """A status change that is not allowed; the message says why, for people."""


def parse_status(text: str) -> PatchsetStatus:
    """'Needs-Revision', 'needs revision', 'needs_revision' -> PatchsetStatus.needs_revision."""
    key = "_".join(text.strip().lower().replace("-", " ").split())
    try:
        return PatchsetStatus(key)
    except ValueError:
        valid = ", ".join(s.value for s in PatchsetStatus)
        raise StatusRefused(f"unknown status {text.strip()!r}; valid: {valid}") from None


def allowed_statuses(
    session: Session, mlist: MailingList, patchset: Patchset, actor: Actor | str | None
) -> list[PatchsetStatus]:
    """The statuses `actor` may set on `patchset` (none for an anonymous one). A string
    is an address, standing for whoever confirmed it."""
    actor = _actor(session, actor)
    if actor.anonymous:
        return []
    if may(session, mlist, actor, ListRight.moderate):
        return list(PatchsetStatus)
    if is_submitter(patchset, actor):
        return [s for s in PatchsetStatus if s in SUBMITTER_STATUSES]
    return []


def is_submitter(patchset: Patchset, actor: Actor) -> bool:
    """Whether the patchset was sent from one of the actor's (confirmed) addresses."""
    return bool(patchset.submitter_addr) and patchset.submitter_addr.lower() in actor.addresses


def record_status(
    session: Session,
    patchset: Patchset,
    status: PatchsetStatus,
    *,
    actor: str,
    via: str,
    message_pk: int | None = None,
    note: str = "",
    at: datetime | None = None,
) -> None:
    """Change a patchset's status and keep the change as an event."""
    record_statuses(
        session, [patchset], status, actor=actor, via=via, message_pk=message_pk, note=note, at=at
    )


def record_statuses(
    session: Session,
    patchsets: Sequence[Patchset],
    status: PatchsetStatus,
    *,
    actor: str,
    via: str,
    message_pk: int | None = None,
    note: str = "",
    at: datetime | None = None,
) -> None:
    """record_status for many patchsets at once (a push applies hundreds): the events
    are one multi-row insert, and the hooks hear of them all in one call."""
    if not patchsets:
        return
    at = at or utcnow()
    events = [
        {
            "patchset_first_message_id": patchset.first_message_id,
            "at": at,
            "actor": actor,
            "via": via,
            "old_status": patchset.status.value,
            "new_status": status.value,
            "message_pk": message_pk,
            "note": note,
        }
        for patchset in patchsets
    ]
    session.execute(insert(PatchsetEvent), events)
    for patchset in patchsets:
        patchset.status = status
        patchset.status_by = actor
        patchset.status_at = at
    if status is PatchsetStatus.applied:
        for hook in PATCHSET_APPLIED:
            hook(session, list(patchsets), actor)


def change_status(
    session: Session,
    mlist: MailingList,
    patchset: Patchset,
    status: PatchsetStatus,
    *,
    actor: Actor | str,
    via: str,
    message_pk: int | None = None,
    label: str | None = None,
    note: str = "",
) -> bool:
    """Set `status` if `actor` may; returns whether anything changed. Raises StatusRefused
    with the reason otherwise. The caller commits.

    `actor` is an Actor, or an address standing for whoever confirmed it; `label` is
    how the history names them (default: the address, or the actor's own name)."""
    who = _actor(session, actor)
    label = label or (actor if isinstance(actor, str) else actor_label(who))
    if status not in allowed_statuses(session, mlist, patchset, who):
        if is_submitter(patchset, who):
            allowed = ", ".join(sorted(s.value for s in SUBMITTER_STATUSES))
            raise StatusRefused(
                f"{label} submitted this patchset and may set only {allowed}; "
                f"{status.value} is for the list owner and its moderators"
            )
        raise StatusRefused(
            f"{label} may not change the status of this patchset: only the list owner, "
            f"its moderators and the submitter may"
        )
    if patchset.status is status:
        return False
    record_status(session, patchset, status, actor=label, via=via, message_pk=message_pk, note=note)
    return True


def rename_patchset(
    session: Session,
    mlist: MailingList,
    patchset: Patchset,
    name: str,
    *,
    actor: Actor | str,
) -> None:
    """Give a patchset a name of the list's moderators' choosing (Patchwork's custom
    series names), which later mail of the series does not overwrite."""
    who = _actor(session, actor)
    if not may(session, mlist, who, ListRight.moderate):
        label = actor if isinstance(actor, str) else actor_label(who)
        raise StatusRefused(
            f"only the list owner and its moderators may rename a patchset, not {label}"
        )
    name = " ".join(name.split())
    if not name:
        raise StatusRefused("a patchset's name cannot be empty")
    patchset.name, patchset.custom_name = name[:2000], True


def actor_label(actor: Actor) -> str:
    """How a status history names an actor: an address of theirs, else ~username."""
    if actor.addresses:
        return min(actor.addresses)
    return f"~{actor.username}" if actor.username else "someone"


def _actor(session: Session, actor: Actor | str | None) -> Actor:
    if isinstance(actor, Actor):
        return actor
    return actor_for_address(session, actor or "")
