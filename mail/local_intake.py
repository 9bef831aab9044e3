"""Mail Mailyard sends to its own addresses: through intake, not out and back in.

A series a user sends from the web to a list here must be archived, grouped and fanned
out exactly like one that came by SMTP, and the sender should learn at once that it was
held or refused. The SMTP face owns routing over the address kinds, so it answers this
hook (`mta.local`, connected by `mailyard/wiring.py`); a domain calls it with the
recipients at this instance's domain and sends the rest through the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from core.registry import Hook
from core.settings import Settings
from mail.addresses import is_local, split_address
from mail.policy import Decision

# (session, settings, raw, envelope sender, recipients here, how the From is proven) ->
# one decision per recipient. What is accepted or held is stored in the caller's
# session, and ingested once it commits.
DeliverLocally = Callable[[Session, Settings, bytes, str, Sequence[str], str], list[Decision]]
DELIVER_LOCALLY: Hook[DeliverLocally] = Hook("deliver-locally")


def is_local_address(settings: Settings, address: str) -> bool:
    return is_local(settings, split_address(address)[1])


def deliver_locally(
    session: Session,
    settings: Settings,
    raw: bytes,
    *,
    sender: str,
    recipients: Sequence[str],
    proven_by: str,
) -> list[Decision]:
    """Hand `raw` to intake for `recipients` (all at this domain); see the module."""
    [deliver] = DELIVER_LOCALLY  # one intake, the SMTP face's
    return deliver(session, settings, raw, sender, recipients, proven_by)
