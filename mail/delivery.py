"""Delivering outbox rows to the relay, idempotently, and what becomes of each recipient.

A worker first claims the row (a conditional UPDATE, committed), then talks SMTP, then
records the outcome (committed). Two workers never both send a row while a claim holds.
Each recipient is recorded as handed over by an UPDATE sent before the final '.' of its
DATA and committed right after the '.' is written. A worker killed before the '.' leaves
a message the relay discards and a row that still owes it; killed after, the relay has
the message (an MTA keeps a message once its '.' came) and the commit is already on its
way (PostgreSQL finishes a COMMIT it received; SQLite's is written before its fsync).
Only a kill in the instant between those two writes could send a copy twice. Committing
before the '.' instead would lose a copy whenever a kill fell inside the commit's round
trip, which a test saw on PostgreSQL.

Outcomes per recipient: accepted -> done; 5xx -> dropped (and told to the row's kind: a
list subscriber's refusal counts as a bounce); 4xx, connection and TLS errors,
authentication failures, a bad relay URL -> retried with exponential backoff until
`settings.delivery_give_up_after` from creation. The row is `sent` once no recipient
remains and one was accepted, `failed` when none was, or when retrying gave up (the
kind's `on_given_up` then tells someone: a list's owner).

Rows are of a kind (`OutboxKind`): 'mail' rows carry their bytes; a domain registers
kinds whose envelopes it builds at delivery (a list post's copies), with the same claim,
retry and sweep.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session, undefer

from core.db import utcnow
from core.settings import Settings, SettingsError
from mail.models import MAIL_KIND, OutboxMessage, OutboxStatus
from mail.relay import (
    RelayUnavailable,
    close_quietly,
    crlf,
    dot_stuffed,
    open_relay,
    parse_relay_url,
    reply_text,
)

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 3600


class _Temporary(Exception):
    """Delivery may work later."""


@dataclass(frozen=True)
class Envelope:
    """One SMTP transaction of a row: who it is from, to whom, and the bytes."""

    mail_from: str
    recipients: list[str]
    data: bytes


class DeliveryOutcome(StrEnum):
    """What `deliver` did with a row."""

    sent = "sent"
    retry = "retry"
    failed = "failed"
    skipped = "skipped"  # unknown, not pending, not due yet, or claimed by another worker


@dataclass(frozen=True)
class OutboxKind:
    """How rows of one kind are sent: the transactions that deliver a row to its
    remaining recipients, what a recipient refused for good means (a list subscriber's
    5xx is a bounce), and who hears when retrying gave up."""

    name: str  # `OutboxMessage.kind`
    envelopes: Callable[[Session, OutboxMessage, Settings], Iterable[Envelope]]
    on_refused: Callable[[Session, OutboxMessage, str, str], None] | None = None  # rcpt, reply
    on_given_up: Callable[[Session, OutboxMessage, Settings], None] | None = None


def stored_envelope(session: Session, row: OutboxMessage, settings: Settings) -> list[Envelope]:
    """A row that carries its bytes: one transaction to everyone remaining."""
    return [Envelope(row.envelope_from, list(row.remaining), row.raw or b"")]


_KINDS: dict[str, OutboxKind] = {MAIL_KIND: OutboxKind(MAIL_KIND, envelopes=stored_envelope)}


def register_kind(kind: OutboxKind) -> None:
    """Make rows of `kind.name` deliverable (`mailyard.wiring` registers the domains')."""
    known = _KINDS.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"outbox kind {kind.name!r} is registered already")
    _KINDS[kind.name] = kind


def kind_of(row: OutboxMessage) -> OutboxKind:
    try:
        return _KINDS[row.kind]
    except KeyError:
        raise LookupError(
            f"outbox row {row.id} has kind {row.kind!r}, which nothing registered"
            " (is mailyard.wiring installed?)"
        ) from None


def deliver(session: Session, row_id: int, settings: Settings) -> DeliveryOutcome:
    """Send one outbox row if it is pending, due and not claimed; record the outcome.

    Commits the session (the claim, each
    hand-over, the outcome), so give it a session of its own.
    """
    now = utcnow()
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == OutboxStatus.pending,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .values(claimed_until=now + _claim_for(settings))
        .execution_options(synchronize_session=False)
    )
    claimed = cast(CursorResult, result).rowcount
    session.commit()
    if not claimed:
        return DeliveryOutcome.skipped
    row = session.get(
        OutboxMessage, row_id, options=[undefer(OutboxMessage.raw)], populate_existing=True
    )
    if row is None:  # deleted between the claim and now
        return DeliveryOutcome.skipped

    refused: dict[str, tuple[int, bytes]] = {}
    try:
        _send(session, row, settings, refused)
    except _Temporary as e:
        outcome = _record_retry(row, str(e), settings)
    else:
        if row.remaining:  # some were deferred with a 4xx
            outcome = _record_retry(row, _describe_refused(refused), settings)
        elif row.delivered:
            row.status = OutboxStatus.sent
            row.sent_at = utcnow()
            row.last_error = _describe_refused(refused)
            outcome = DeliveryOutcome.sent
            log.info("outbox %d (%s) sent to %d recipients", row.id, row.purpose, row.delivered)
        else:
            outcome = _record_failure(row, _describe_refused(refused))
    row.claimed_until = None
    session.commit()
    return outcome


def _record_failure(row: OutboxMessage, error: str) -> DeliveryOutcome:
    row.attempts += 1
    row.status = OutboxStatus.failed
    row.last_error = error
    log.warning("outbox %d (%s) failed: %s", row.id, row.purpose, error)
    return DeliveryOutcome.failed


def _record_retry(row: OutboxMessage, error: str, settings: Settings) -> DeliveryOutcome:
    """Try again after a backoff, or give up once `settings.delivery_give_up_after` has
    passed since the row was made."""
    now = utcnow()
    if now >= row.created_at + timedelta(seconds=settings.delivery_give_up_after):
        outcome = _record_failure(row, f"gave up after {row.attempts + 1} attempts: {error}")
        given_up = kind_of(row).on_given_up
        session = Session.object_session(row)
        if given_up is not None and session is not None:
            given_up(session, row, settings)
        return outcome
    row.attempts += 1
    delay = min(BACKOFF_BASE_SECONDS * 2**row.attempts, BACKOFF_MAX_SECONDS)
    row.next_attempt_at = now + timedelta(seconds=delay)
    row.last_error = error
    log.info("outbox %d (%s) deferred %d s: %s", row.id, row.purpose, delay, error)
    return DeliveryOutcome.retry


def envelopes_of(session: Session, row: OutboxMessage, settings: Settings) -> Iterable[Envelope]:
    """The transactions that deliver the row to its remaining recipients."""
    return kind_of(row).envelopes(session, row, settings)


def _send(
    session: Session, row: OutboxMessage, settings: Settings, refused: dict[str, tuple[int, bytes]]
) -> None:
    """Hand the row's envelopes to the relay over one connection.

    Each recipient leaves `row.remaining` when the relay has the message: committed just
    before the final '.', so a worker killed at any point neither loses a copy (the relay
    discards a message whose '.' never came) nor sends one twice (after that commit the
    '.' is on its way). A 4xx puts recipients back; a 5xx drops them, noted in `refused`.
    Raises _Temporary when the relay cannot be used at all.
    """
    try:
        relay = parse_relay_url(settings.relay_url)
    except SettingsError as e:
        raise _Temporary(str(e)) from None
    smtp: smtplib.SMTP | None = None
    try:
        smtp = open_relay(relay, settings.domain)
        for envelope in envelopes_of(session, row, settings):
            _transaction(session, smtp, row, envelope, refused, _claim_for(settings))
    except RelayUnavailable as e:
        raise _Temporary(str(e)) from None
    except smtplib.SMTPResponseException as e:
        # MAIL FROM, AUTH, STARTTLS, HELO refused: about the relay setup, not this message.
        raise _Temporary(f"{e.smtp_code} {reply_text(e.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as e:
        raise _Temporary(f"relay {relay.host}:{relay.port}: {e or type(e).__name__}") from None
    except _Temporary:
        raise
    except Exception as e:  # noqa: BLE001  keep the row retrying with the error, not stuck
        log.exception("outbox %d: unexpected error while sending", row.id)
        session.rollback()  # a failed flush: what was committed (hand-overs) stays
        raise _Temporary(f"{type(e).__name__}: {e}") from None
    finally:
        if smtp is not None:
            close_quietly(smtp)


def _transaction(
    session: Session,
    smtp: smtplib.SMTP,
    row: OutboxMessage,
    envelope: Envelope,
    refused: dict[str, tuple[int, bytes]],
    claim: timedelta,
) -> None:
    data = crlf(envelope.data)
    options = []
    if any(not a.isascii() for a in (envelope.mail_from, *envelope.recipients)):
        options.append("SMTPUTF8")
    if not data.isascii() and smtp.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    code, reply = smtp.mail(envelope.mail_from, options)
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPSenderRefused(code, reply, envelope.mail_from)
    accepted = []
    for rcpt in envelope.recipients:
        code, reply = smtp.rcpt(rcpt)
        if code in (250, 251):
            accepted.append(rcpt)
        else:
            _refuse(session, row, [rcpt], code, reply, refused)
    if not accepted:
        smtp.rset()
        return
    code, reply = smtp.docmd("DATA")
    if code != 354:
        _refuse(session, row, accepted, code, reply, refused)
        smtp.rset()
        return
    smtp.send(dot_stuffed(data))
    # The hand-over is written (not committed) before the final '.', and committed right
    # after it: a worker killed at any point leaves the relay and the row agreeing, but
    # for the instant between two socket writes (see the module docstring).
    _hand_over(session, row, accepted, claim)
    try:
        smtp.send(b".\r\n")
    except BaseException:  # the relay never got the end of the message: it has nothing
        session.rollback()
        raise
    session.commit()
    code, reply = smtp.getreply()
    if code != 250:
        _take_back(session, row, accepted)
        _refuse(session, row, accepted, code, reply, refused)


def _claim_for(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.delivery_claim_seconds)


def _hand_over(
    session: Session, row: OutboxMessage, recipients: list[str], claim: timedelta
) -> None:
    gone = set(recipients)
    row.remaining = [r for r in row.remaining if r not in gone]
    row.delivered += len(recipients)
    # Progress renews the claim, so a long fan-out keeps its row while it works.
    row.claimed_until = utcnow() + claim
    session.flush()


def _take_back(session: Session, row: OutboxMessage, recipients: list[str]) -> None:
    row.remaining = [*row.remaining, *recipients]
    row.delivered -= len(recipients)
    session.commit()


def _refuse(
    session: Session,
    row: OutboxMessage,
    recipients: list[str],
    code: int,
    reply: bytes,
    refused: dict[str, tuple[int, bytes]],
) -> None:
    """A recipient refused: kept for a retry on 4xx, dropped (and told to the row's kind:
    a list counts a bounce) on 5xx."""
    for rcpt in recipients:
        refused[rcpt] = (code, reply)
    if not 500 <= code < 600:
        return
    gone = set(recipients)
    row.remaining = [r for r in row.remaining if r not in gone]
    on_refused = kind_of(row).on_refused
    if on_refused is not None:
        for rcpt in recipients:
            on_refused(session, row, rcpt, f"{code} {reply_text(reply)}")


def _describe_refused(refused: dict) -> str:
    return "; ".join(
        f"{rcpt}: {code} {reply_text(reply)}" for rcpt, (code, reply) in refused.items()
    )


def due_message_ids(session: Session, limit: int = 100) -> list[int]:
    """Pending rows whose next attempt is due and that no worker holds, oldest due first."""
    now = utcnow()
    return list(
        session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.pending,
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
    )


# Sent rows are kept this long for people reading the log, then pruned; failed rows stay
# until someone looks (the owner's report lists them).
KEEP_SENT = timedelta(days=30)


def prune_sent(session: Session, older_than: timedelta = KEEP_SENT, batch: int = 1000) -> int:
    """Delete sent rows older than `older_than`, a batch at a time; returns how many.

    A busy list writes a row per 100 subscribers per post, so the table would otherwise
    grow by tens of megabytes a day. The caller commits.
    """
    cutoff = utcnow() - older_than
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            # The last attempt's time, not sent_at: ix_outbox_status_next_attempt holds
            # it, and a row is sent within moments of its last attempt.
            .where(
                OutboxMessage.status == OutboxStatus.sent, OutboxMessage.next_attempt_at < cutoff
            )
            .limit(batch)
        )
    )
    if ids:
        session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .execution_options(synchronize_session=False)
        )
    return len(ids)
