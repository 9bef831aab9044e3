"""Who may change a patchset's status, and the change itself; used by the web form, the
CLI and status lines in authenticated mail replies alike, so that all three follow one
rule.

The rule (Patchwork's maintainers/submitters split): the list owner may set any status;
the submitter may only withdraw or retire their own work (`needs_revision`,
`superseded`, `rejected`); anyone else may set nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from archive.hooks import domain_hooks
from archive.models import MailingList, utcnow
from patchsets.models import Patchset, PatchsetEvent, PatchsetStatus

SUBMITTER_STATUSES = frozenset(
    {PatchsetStatus.needs_revision, PatchsetStatus.superseded, PatchsetStatus.rejected}
)


class StatusRefused(Exception):
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
    mlist: MailingList, patchset: Patchset, actor: str | None
) -> list[PatchsetStatus]:
    """The statuses `actor` (an address; None when anonymous) may set on `patchset`."""
    if not actor:
        return []
    actor = actor.lower()
    if actor == mlist.owner_email.lower():
        return list(PatchsetStatus)
    if actor == patchset.submitter_addr.lower():
        return [s for s in PatchsetStatus if s in SUBMITTER_STATUSES]
    return []


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
    at = at or utcnow()
    session.add(
        PatchsetEvent(
            patchset_first_message_id=patchset.first_message_id,
            at=at,
            actor=actor,
            via=via,
            old_status=patchset.status.value,
            new_status=status.value,
            message_pk=message_pk,
            note=note,
        )
    )
    patchset.status = status
    patchset.status_by = actor
    patchset.status_at = at
    if status is PatchsetStatus.applied:
        for hook in domain_hooks("patchset_applied"):
            hook(session, patchset, actor)


def change_status(
    session: Session,
    mlist: MailingList,
    patchset: Patchset,
    status: PatchsetStatus,
    *,
    actor: str,
    via: str,
    message_pk: int | None = None,
) -> bool:
    """Set `status` if `actor` may; returns whether anything changed. Raises StatusRefused
    with the reason otherwise. The caller commits."""
    if status not in allowed_statuses(mlist, patchset, actor):
        if actor.lower() == patchset.submitter_addr.lower():
            allowed = ", ".join(sorted(s.value for s in SUBMITTER_STATUSES))
            raise StatusRefused(
                f"{actor} submitted this patchset and may set only {allowed}; "
                f"{status.value} is for the list owner"
            )
        raise StatusRefused(
            f"{actor} may not change the status of this patchset: only the list owner "
            f"and the submitter may"
        )
    if patchset.status is status:
        return False
    record_status(session, patchset, status, actor=actor, via=via, message_pk=message_pk)
    return True


def rename_patchset(
    session: Session, mlist: MailingList, patchset: Patchset, name: str, *, actor: str
) -> None:
    """Give a patchset a name of the list owner's choosing, which later mail of the
    series does not overwrite (Patchwork's custom series names)."""
    if actor.lower() != mlist.owner_email.lower():
        raise StatusRefused(f"only the list owner may rename a patchset, not {actor}")
    name = " ".join(name.split())
    if not name:
        raise StatusRefused("a patchset's name cannot be empty")
    patchset.name, patchset.custom_name = name[:2000], True
