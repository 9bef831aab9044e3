"""Confirmation by reply: a request (to subscribe, to follow a ticket) waits until its
address answers the mail that asks, which proves the requester reads that mailbox, so
nobody can sign someone else up. Shared by lists and trackers.

The request is a `PendingRequest` for a scope ('list:7', 'tracker:3', 'ticket:12'); the
mail asking to confirm carries its token in the Subject (`confirmation_request`), and a
reply, with any `Re:`, names it (`find_token`). Nothing here sends mail: the domain
answers, through the outbox.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.parse import ParsedMessage
from core.db import utcnow
from mail.addresses import address_key, normalize_address
from mail.models import PendingRequest, RequestKind

# A confirmation token is good for this long (Mailman's pending_request_life is 3 days).
REQUEST_LIFETIME = timedelta(days=3)

TOKEN = re.compile(r"\b([0-9a-f]{32})\b")


def request_change(
    session: Session, scope: str, kind: RequestKind, address: str, now: datetime | None = None
) -> PendingRequest:
    """The pending request for (scope, kind, address): the same token while it is valid,
    a new one once it expired. The caller commits."""
    now = now or utcnow()
    address = normalize_address(address)
    pending = session.scalar(
        select(PendingRequest).where(
            PendingRequest.scope == scope,
            PendingRequest.kind == kind,
            PendingRequest.address_key == address_key(address),
        )
    )
    if pending is not None and pending.expires_at > now:
        return pending
    if pending is None:
        pending = PendingRequest(
            scope=scope, kind=kind, address=address, address_key=address_key(address)
        )
        session.add(pending)
    pending.token = secrets.token_hex(16)
    pending.created_at = now
    pending.expires_at = now + REQUEST_LIFETIME
    session.flush()
    return pending


def is_pending(session: Session, scope: str, token: str, now: datetime | None = None) -> bool:
    """Whether `token` is a live request in `scope` (without taking it)."""
    found = session.scalar(
        select(PendingRequest.id).where(
            PendingRequest.token == token.lower(),
            PendingRequest.scope == scope,
            PendingRequest.expires_at > (now or utcnow()),
        )
    )
    return found is not None


def take_request(
    session: Session, scope: str, kind: RequestKind, token: str, now: datetime | None = None
) -> PendingRequest | None:
    """The valid request with this token, removed from the pending ones; None when the
    token is unknown, for another scope or kind, or expired."""
    now = now or utcnow()
    pending = session.scalar(select(PendingRequest).where(PendingRequest.token == token.lower()))
    if pending is None or pending.scope != scope or pending.kind is not kind:
        return None
    session.delete(pending)
    session.flush()
    return pending if pending.expires_at > now else None


def confirmation_request(pending: PendingRequest, asked: str, link: str = "") -> tuple[str, str]:
    """(subject, body) of the mail asking to confirm `pending` by replying; `asked` says
    what was asked ("to subscribe ADDRESS to the list ..."). The token is in the Subject."""
    body = f"Someone, hopefully you, asked {asked}.\n\n"
    body += "To confirm, reply to this message; keep the Subject as it is.\n"
    if link:
        body += f"Or open this page and press the button:\n{link}\n"
    body += (
        "\nIf you did not ask, ignore this message: the request expires in"
        f" {REQUEST_LIFETIME.days} days.\n"
    )
    return f"confirm {pending.token}", body


def unknown_confirmation(start_again_at: str) -> tuple[str, str]:
    """(subject, body) of the answer to a confirmation whose token is not (or no longer)
    pending."""
    return (
        "Unknown or expired confirmation",
        "This confirmation is unknown or has expired, or was used already.\n"
        f"To start again, write to {start_again_at}.\n",
    )


def find_token(msg: ParsedMessage) -> str | None:
    """The token of a confirmation reply: in the Subject, else the first in the body (some
    clients rewrite subjects)."""
    for text in (msg.subject.lower(), msg.body.lower()):
        found = TOKEN.search(text)
        if found:
            return found.group(1)
    return None
