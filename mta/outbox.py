"""The one way Mailyard sends mail: record it in the outbox, then deliver it to the relay.

Recording (`queue_mail`) happens in the caller's transaction, so a message exists if and
only if the change that caused it was committed. After the commit the caller enqueues
delivery (`mta.tasks.enqueue_delivery`, or `after_commit_enqueue` to have it done on
commit); a periodic sweep enqueues whatever was due and lost its task.

Delivery (`deliver`) is idempotent: a worker first claims the row (a conditional UPDATE,
committed), then talks SMTP, then records the outcome (committed). Two workers never both
send a row while a claim holds. Delivery is at-least-once only in one case, the same as
for every MTA: a crash after the relay accepted the message and before the outcome was
committed; the claim then runs out and the message is sent again.

Outcomes: the relay accepts the message (for at least one recipient) -> `sent`; a 5xx
for every recipient, or for the message at DATA -> `failed` at once; anything else (4xx,
connection and TLS errors, authentication failures, a bad relay URL) -> retried with
exponential backoff until `GIVE_UP_AFTER` from creation, then `failed`.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import event, inspect, or_, select, update
from sqlalchemy.orm import Session, undefer

from archive.models import utcnow
from mailyard.settings import Settings, SettingsError
from mta.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

# Retrying stops this long after the row was created; the row is then `failed`.
GIVE_UP_AFTER = timedelta(days=2)
# How long a worker holds a row it is sending; a crashed worker's claim runs out then.
CLAIM_FOR = timedelta(minutes=5)
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
    or call `after_commit_enqueue(session, row)` before committing.
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
        raw=bytes(raw),
        status=OutboxStatus.pending,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        purpose=purpose,
    )
    session.add(row)
    return row


_TO_ENQUEUE = "mta.outbox.to_enqueue"  # key in Session.info: rows to enqueue on commit


def after_commit_enqueue(session: Session, row: OutboxMessage) -> None:
    """Enqueue delivery of `row` once the session's current transaction commits.

    If that transaction is rolled back instead, nothing is enqueued, and a later
    transaction of the same session does not enqueue it either. Enqueueing never raises
    into the committing caller: a failure is logged, and the sweep finds the row.
    """
    if _TO_ENQUEUE not in session.info:
        session.info[_TO_ENQUEUE] = []
        # Registered once per session; removing listeners while SQLAlchemy runs them
        # is not allowed, so they stay, and do nothing when no row waits.
        event.listen(session, "after_commit", _enqueue_on_commit)
        event.listen(session, "after_transaction_end", _forget_on_end)
    session.info[_TO_ENQUEUE].append(row)


def _enqueue_on_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released; the outer transaction may still roll back
    rows, session.info[_TO_ENQUEUE] = session.info[_TO_ENQUEUE], []
    try:
        # The identity, not `row.id`: an expired attribute would need SQL, not allowed here.
        identities = (inspect(row).identity for row in rows)
        ids = [identity[0] for identity in identities if identity is not None]
        if ids:
            from mta.tasks import enqueue_delivery  # here: mta.tasks imports this module

            enqueue_delivery(ids)
    except Exception:  # noqa: BLE001  the commit succeeded; the sweep will deliver
        log.exception("could not enqueue delivery of %d outbox messages; the sweep will", len(rows))


def _forget_on_end(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction committed or rolled back
        session.info[_TO_ENQUEUE] = []


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


class _Permanent(Exception):
    """The relay refused the message for good."""


class _Temporary(Exception):
    """Delivery may work later."""


def deliver(session: Session, row_id: int, settings: Settings) -> str:
    """Send one outbox row if it is pending, due and not claimed; record the outcome.

    Returns 'sent', 'retry', 'failed' or 'skipped'. Commits the session (twice: the claim,
    then the outcome), so give it a session of its own.
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
        .values(claimed_until=now + CLAIM_FOR)
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

    try:
        refused = _send(row, settings)
    except _Permanent as e:
        outcome = _record_failure(row, str(e))
    except _Temporary as e:
        outcome = _record_retry(row, str(e))
    else:
        row.status = OutboxStatus.sent
        row.sent_at = utcnow()
        row.last_error = _describe_refused(refused) if refused else ""
        outcome = SENT
        log.info("outbox %d (%s) sent to %s", row.id, row.purpose, ", ".join(row.recipients))
    row.claimed_until = None
    session.commit()
    return outcome


def _record_failure(row: OutboxMessage, error: str) -> str:
    row.attempts += 1
    row.status = OutboxStatus.failed
    row.last_error = error
    log.warning("outbox %d (%s) failed: %s", row.id, row.purpose, error)
    return FAILED


def _record_retry(row: OutboxMessage, error: str) -> str:
    now = utcnow()
    if now >= row.created_at + GIVE_UP_AFTER:
        return _record_failure(row, f"gave up after {row.attempts + 1} attempts: {error}")
    row.attempts += 1
    delay = min(BACKOFF_BASE_SECONDS * 2**row.attempts, BACKOFF_MAX_SECONDS)
    row.next_attempt_at = now + timedelta(seconds=delay)
    row.last_error = error
    log.info("outbox %d (%s) deferred %d s: %s", row.id, row.purpose, delay, error)
    return RETRY


def _send(row: OutboxMessage, settings: Settings) -> dict:
    """Hand the row to the relay; returns the recipients refused when others were accepted.

    Raises _Permanent or _Temporary for every failure, with the relay's reply as message.
    """
    try:
        relay = parse_relay_url(settings.relay_url)
    except SettingsError as e:
        raise _Temporary(str(e)) from None
    raw = _crlf(row.raw)
    addresses = [row.envelope_from, *row.recipients]
    smtp = smtplib.SMTP(timeout=SMTP_TIMEOUT, local_hostname=settings.domain)
    try:
        code, reply = smtp.connect(relay.host, relay.port)
        if code != 220:
            raise _Temporary(f"relay {relay.host}:{relay.port} greeted {code} {_text(reply)}")
        if relay.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if relay.username:
            smtp.login(relay.username, relay.password)
        smtp.ehlo_or_helo_if_needed()
        options = []
        if any(not a.isascii() for a in addresses):
            options.append("SMTPUTF8")
        if not raw.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return smtp.sendmail(row.envelope_from, list(row.recipients), raw, mail_options=options)
    except smtplib.SMTPRecipientsRefused as e:
        error = _describe_refused(e.recipients)
        if all(500 <= code < 600 for code, _ in e.recipients.values()):
            raise _Permanent(error) from None
        raise _Temporary(error) from None
    except smtplib.SMTPDataError as e:
        error = f"{e.smtp_code} {_text(e.smtp_error)}"
        if 500 <= e.smtp_code < 600:
            raise _Permanent(error) from None
        raise _Temporary(error) from None
    except smtplib.SMTPResponseException as e:
        # MAIL FROM, AUTH, STARTTLS, HELO refused: about the relay setup, not this message.
        raise _Temporary(f"{e.smtp_code} {_text(e.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as e:
        raise _Temporary(f"relay {relay.host}:{relay.port}: {e or type(e).__name__}") from None
    except (_Temporary, _Permanent):
        raise
    except Exception as e:  # noqa: BLE001  keep the row retrying with the error, not stuck
        log.exception("outbox %d: unexpected error while sending", row.id)
        raise _Temporary(f"{type(e).__name__}: {e}") from None
    finally:
        _close_quietly(smtp)


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
