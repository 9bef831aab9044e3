"""Intake for mail Mailyard sends to its own addresses (`mail.local_intake`).

The same route, policies, rights and stores as a message that came over SMTP, without
the conversation: in the caller's transaction, so that what it stores is committed with
the change that sent it (a series sent from the web and its record), and ingested once
that commits. The From is proven by the caller (a user signed in on the web), as the
submission port proves it for a user signed in there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from archive.parse import parse_message
from archive.tasks import enqueue_ingest
from core.db import after_commit
from core.settings import Settings
from mail.address_kinds import AddressKind
from mail.local_intake import DeliverLocally
from mail.policy import Decision, check_size
from mail.tasks import enqueue_delivery
from mta.handler import judge_rights, to_store
from mta.routing import Route, route


def local_intake(kinds: Sequence[AddressKind]) -> DeliverLocally:
    """The `mail.local_intake.DELIVER_LOCALLY` answer over these address kinds."""
    kinds = tuple(kinds)

    def deliver(
        session: Session,
        settings: Settings,
        raw: bytes,
        sender: str,
        recipients: Sequence[str],
        proven_by: str,
    ) -> list[Decision]:
        return deliver_here(session, settings, kinds, raw, sender, recipients, proven_by)

    return deliver


def deliver_here(
    session: Session,
    settings: Settings,
    kinds: Sequence[AddressKind],
    raw: bytes,
    sender: str,
    recipients: Sequence[str],
    proven_by: str,
) -> list[Decision]:
    """One decision per recipient, as intake would have answered it at RCPT or DATA;
    what was accepted or held is stored or handled in `session` (the caller commits)."""
    size_check = check_size(len(raw), settings.max_message_size)
    if not size_check.accepted:
        return [size_check] * len(recipients)
    parsed = replace(parse_message(raw), from_proven_by=proven_by)
    found = [route(session, settings, kinds, address, sender) for address in recipients]
    routes = [r for r in found if isinstance(r, Route)]
    judged = judge_rights(
        session, settings, raw, parsed, routes, [r.kind.judge(parsed, r.target) for r in routes]
    )
    for kind, routed in to_store(routes, judged).items():
        assert kind.stored is not None
        payload = kind.stored.prepare(raw, parsed, sender, routed)
        results, rows = kind.stored.store(session, settings, [payload])
        session.flush()
        for result in results:
            if result.message_pk is not None:
                after_commit(session, enqueue_ingest, result.message_pk)
        for row in rows:
            after_commit(session, enqueue_delivery, row.id)
    for r, d in zip(routes, judged, strict=True):
        if r.kind.handle is not None and d.accepted:
            r.kind.handle(session, settings, parsed, raw, r.target)
    answers = iter(judged)
    return [next(answers) if isinstance(r, Route) else r for r in found]
