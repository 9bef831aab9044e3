"""The one way Mailyard sends mail: record it in the outbox, then deliver it to the relay.

Recording (`queue_mail`) happens in the caller's transaction, so a message exists if and
only if the change that caused it was committed. After the commit the caller enqueues
delivery (`mta.tasks.enqueue_delivery`, or `after_commit_enqueue` to have it done on
commit); a periodic sweep enqueues whatever was due and lost its task. Copies of list
posts are rows too (`mta.fanout`), with their bytes built at delivery
(`mta.list_delivery`).

Delivery (`deliver`) is idempotent: a worker first claims the row (a conditional UPDATE,
committed), then talks SMTP, then records the outcome (committed). Two workers never both
send a row while a claim holds. Each recipient is recorded as handed over by an UPDATE
sent before the final '.' of its DATA and committed right after the '.' is written. A
worker killed before the '.' leaves a message the relay discards and a row that still
owes it; killed after, the relay has the message (an MTA keeps a message once its '.'
came) and the commit is already on its way (PostgreSQL finishes a COMMIT it received;
SQLite's is written before its fsync). Only a kill in the instant between those two
writes could send a copy twice. Committing before the '.' instead would lose a copy
whenever a kill fell inside the commit's round trip, which a test saw on PostgreSQL.

Outcomes per recipient: accepted -> done; 5xx -> dropped (a list subscriber's refusal
counts as a bounce); 4xx, connection and TLS errors, authentication failures, a bad relay
URL -> retried with exponential backoff until `settings.delivery_give_up_after` from
creation. The row is `sent` once no recipient remains and one was accepted, `failed`
when none was, or when retrying gave up (a list owner is then told).
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import delete, inspect, or_, select, update
from sqlalchemy.orm import Session, undefer

from archive.models import utcnow
from mailyard.db import after_commit
from mailyard.settings import Settings, SettingsError
from mta.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 30.0
BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 3600
PURPOSE_MAX = 32

# For `build_message(extra_headers=...)` in replies a robot sends (RFC 3834).
AUTO_REPLIED = {"Auto-Submitted": "auto-replied"}

# What `deliver` returns.
SENT = "sent"
RETRY = "retry"
FAILED = "failed"
SKIPPED = "skipped"  # unknown, not pending, not due yet, or claimed by another worker


# -- recording ---------------------------------------------------------------------------


def queue_mail(
    session: Session, *, envelope_from: str, recipients: list[str], raw: bytes, purpose: str
) -> OutboxMessage:
    """Add a message to send to the caller's session; the caller commits.

    After the commit, enqueue its delivery with `mta.tasks.enqueue_delivery([row.id])`,
    or call `after_commit_enqueue(session, row)` before committing (`send_on_commit`
    does both).
    """
    if not recipients:
        raise ValueError("an outbox message needs at least one recipient")
    if len(purpose) > PURPOSE_MAX:
        raise ValueError(f"purpose is longer than {PURPOSE_MAX} characters: {purpose!r}")
    now = utcnow()
    row = OutboxMessage(
        created_at=now,
        envelope_from=envelope_from,
        recipients=list(recipients),
        remaining=list(recipients),
        raw=bytes(raw),
        status=OutboxStatus.pending,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        purpose=purpose,
    )
    session.add(row)
    return row


def send_on_commit(
    session: Session, *, envelope_from: str, recipients: list[str], raw: bytes, purpose: str
) -> OutboxMessage:
    """`queue_mail`, with delivery enqueued once the caller's transaction commits: how a
    reply or notice caused by a change goes out with that change."""
    row = queue_mail(
        session, envelope_from=envelope_from, recipients=recipients, raw=raw, purpose=purpose
    )
    after_commit_enqueue(session, row)
    return row


def after_commit_enqueue(session: Session, row: OutboxMessage) -> None:
    """Enqueue delivery of `row` once the session's current transaction commits (not
    at all if it rolls back; `mailyard.db.after_commit`)."""
    after_commit(session, _enqueue_rows, row)


def _enqueue_rows(rows: list[OutboxMessage]) -> None:
    try:
        # The identity, not `row.id`: an expired attribute would need SQL, not allowed here.
        identities = (inspect(row).identity for row in rows)
        ids = [identity[0] for identity in identities if identity is not None]
        if ids:
            from mta.tasks import enqueue_delivery  # here: mta.tasks imports this module

            enqueue_delivery(ids)
    except Exception:  # noqa: BLE001  the commit succeeded; the sweep will deliver
        log.exception("could not enqueue delivery of %d outbox messages; the sweep will", len(rows))


# -- building ----------------------------------------------------------------------------


def build_message(
    *,
    from_addr: str,
    to_addrs: Iterable[str],
    subject: str,
    body: str,
    in_reply_to: str | None = None,
    references: Iterable[str] = (),
    extra_headers: dict[str, str] | None = None,
    domain: str,
) -> bytes:
    """A plain-text UTF-8 message with CRLF line endings, ready for `queue_mail`.

    `in_reply_to` is also appended to References when not there already. Pass
    `extra_headers=AUTO_REPLIED` (plus any others) for mail a robot sends in reply.
    """
    msg = EmailMessage(policy=SMTP)
    msg["From"] = from_addr
    msg["To"] = ", ".join(to_addrs)
    msg["Subject"] = _one_line(subject)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=domain)
    refs = [_angle(r) for r in references if r.strip()]
    if in_reply_to:
        parent = _angle(in_reply_to)
        msg["In-Reply-To"] = parent
        if parent not in refs:
            refs.append(parent)
    if refs:
        msg["References"] = " ".join(refs)
    for name, value in (extra_headers or {}).items():
        del msg[name]
        msg[name] = _one_line(value)
    msg.set_content(body, charset="utf-8")
    return msg.as_bytes()


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _angle(msgid: str) -> str:
    msgid = msgid.strip()
    return msgid if msgid.startswith("<") else f"<{msgid.strip('<>')}>"


# -- delivering --------------------------------------------------------------------------


@dataclass(frozen=True)
class Relay:
    host: str
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False


def parse_relay_url(url: str) -> Relay:
    """`smtp://[user:pass@]host[:port][?starttls=1]` -> Relay."""
    parts = urlsplit(url)
    try:
        port = parts.port or 25
    except ValueError:
        port = -1
    if parts.scheme != "smtp" or not parts.hostname or port <= 0:
        raise SettingsError(
            f"MAILYARD_RELAY_URL must be smtp://[user:pass@]host:port[?starttls=1], got {url!r}"
        )
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes", "on")
    return Relay(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        starttls=starttls,
    )


class _Temporary(Exception):
    """Delivery may work later."""


@dataclass(frozen=True)
class Envelope:
    """One SMTP transaction of a row: who it is from, to whom, and the bytes."""

    mail_from: str
    recipients: list[str]
    data: bytes


def deliver(session: Session, row_id: int, settings: Settings) -> str:
    """Send one outbox row if it is pending, due and not claimed; record the outcome.

    Returns 'sent', 'retry', 'failed' or 'skipped'. Commits the session (the claim, each
    hand-over, the outcome), so give it a session of its own.
    """
    now = utcnow()
    claimed = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == OutboxStatus.pending,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .values(claimed_until=now + _claim_for(settings))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if not claimed:
        return SKIPPED
    row = session.get(
        OutboxMessage, row_id, options=[undefer(OutboxMessage.raw)], populate_existing=True
    )
    if row is None:  # deleted between the claim and now
        return SKIPPED

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
            outcome = SENT
            log.info("outbox %d (%s) sent to %d recipients", row.id, row.purpose, row.delivered)
        else:
            outcome = _record_failure(row, _describe_refused(refused))
    row.claimed_until = None
    session.commit()
    return outcome


def _record_failure(row: OutboxMessage, error: str) -> str:
    row.attempts += 1
    row.status = OutboxStatus.failed
    row.last_error = error
    log.warning("outbox %d (%s) failed: %s", row.id, row.purpose, error)
    return FAILED


def _record_retry(row: OutboxMessage, error: str, settings: Settings) -> str:
    """Try again after a backoff, or give up once `settings.delivery_give_up_after` has
    passed since the row was made."""
    now = utcnow()
    if now >= row.created_at + timedelta(seconds=settings.delivery_give_up_after):
        outcome = _record_failure(row, f"gave up after {row.attempts + 1} attempts: {error}")
        if row.list_id is not None:
            from mta.list_delivery import report_given_up  # here: it imports this module

            report_given_up(Session.object_session(row), row, settings)
        return outcome
    row.attempts += 1
    delay = min(BACKOFF_BASE_SECONDS * 2**row.attempts, BACKOFF_MAX_SECONDS)
    row.next_attempt_at = now + timedelta(seconds=delay)
    row.last_error = error
    log.info("outbox %d (%s) deferred %d s: %s", row.id, row.purpose, delay, error)
    return RETRY


def envelopes_of(session: Session, row: OutboxMessage, settings: Settings) -> Iterator[Envelope]:
    """The transactions that deliver the row to its remaining recipients."""
    if row.message_pk is not None:
        from mta.list_delivery import list_envelopes  # here: it imports this module

        return list_envelopes(session, row, settings)
    return iter([Envelope(row.envelope_from, list(row.remaining), row.raw or b"")])


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
    smtp = smtplib.SMTP(timeout=SMTP_TIMEOUT, local_hostname=settings.domain)
    try:
        code, reply = smtp.connect(relay.host, relay.port)
        if code != 220:
            raise _Temporary(f"relay {relay.host}:{relay.port} greeted {code} {_text(reply)}")
        # The final '.' goes in a write of its own (see `_transaction`): without this,
        # Nagle's algorithm holds it until the relay's delayed ACK, 40 ms a message.
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if relay.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if relay.username:
            smtp.login(relay.username, relay.password)
        smtp.ehlo_or_helo_if_needed()
        for envelope in envelopes_of(session, row, settings):
            _transaction(session, smtp, row, envelope, refused, _claim_for(settings))
    except smtplib.SMTPResponseException as e:
        # MAIL FROM, AUTH, STARTTLS, HELO refused: about the relay setup, not this message.
        raise _Temporary(f"{e.smtp_code} {_text(e.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as e:
        raise _Temporary(f"relay {relay.host}:{relay.port}: {e or type(e).__name__}") from None
    except _Temporary:
        raise
    except Exception as e:  # noqa: BLE001  keep the row retrying with the error, not stuck
        log.exception("outbox %d: unexpected error while sending", row.id)
        session.rollback()  # a failed flush: what was committed (hand-overs) stays
        raise _Temporary(f"{type(e).__name__}: {e}") from None
    finally:
        _close_quietly(smtp)


def _transaction(
    session: Session,
    smtp: smtplib.SMTP,
    row: OutboxMessage,
    envelope: Envelope,
    refused: dict[str, tuple[int, bytes]],
    claim: timedelta,
) -> None:
    data = _crlf(envelope.data)
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
    smtp.send(_dot_stuffed(data))
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
    """A recipient refused: kept for a retry on 4xx, dropped (and told to the list's
    bounce handling) on 5xx."""
    for rcpt in recipients:
        refused[rcpt] = (code, reply)
    if not 500 <= code < 600:
        return
    gone = set(recipients)
    row.remaining = [r for r in row.remaining if r not in gone]
    if row.list_id is not None:
        from mta.list_delivery import record_refusal  # here: it imports this module

        for rcpt in recipients:
            record_refusal(session, row, rcpt, f"{code} {_text(reply)}")


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload without its final '.' line (RFC 5321 4.5.2 transparency)."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _close_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT, ignoring errors: the outcome was decided before it (a failed QUIT after an
    accepted DATA must not make the message count as undelivered)."""
    try:
        if smtp.sock is not None:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


def _crlf(raw: bytes) -> bytes:
    """SMTP wants CRLF; smtplib sends bytes as they are. Bare LFs become CRLF."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _describe_refused(refused: dict) -> str:
    return "; ".join(f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in refused.items())


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
