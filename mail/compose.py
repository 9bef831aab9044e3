"""Composing the mail Mailyard sends, and the one way it answers a mail (`reply_to`).

Every message is plain text in UTF-8 with CRLF line ends (`build_message`). A reply
answers the mail it is about (In-Reply-To, References, `Re:`), says it comes from a robot
(RFC 3834 `Auto-Submitted: auto-replied`, so that nothing answers it in turn), and goes
through the outbox in the caller's transaction: sent if and only if that commits.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Protocol

from sqlalchemy.orm import Session

from core.db import utcnow
from mail.models import OutboxMessage
from mail.outbox import send_on_commit

# For `build_message(extra_headers=...)` in replies a robot sends (RFC 3834).
AUTO_REPLIED = {"Auto-Submitted": "auto-replied"}
# For notices nobody asked for by mail (a bounce report, a sign-up link).
AUTO_GENERATED = {"Auto-Submitted": "auto-generated"}


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


class Answered(Protocol):
    """What a reply needs of the mail it answers: a parsed message (`archive.parse`) or
    an archived one (`archive.models.Message`) both have it."""

    @property
    def message_id(self) -> str | None: ...

    @property
    def references(self) -> Sequence[str]: ...

    @property
    def subject(self) -> str: ...


def reply_subject(subject: str) -> str:
    """`Re: SUBJECT`, unless it already starts with `Re:`."""
    subject = subject or ""
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def reply_to(
    session: Session,
    answered: Answered | None,
    *,
    to: str,
    from_addr: str,
    body: str,
    envelope_from: str,
    purpose: str,
    domain: str,
    subject: str | None = None,
    extra_headers: dict[str, str] | None = None,
    cc: Sequence[str] = (),
) -> OutboxMessage:
    """Answer `answered` with `body`, to `to` (and `cc`), from `from_addr`: queued in the caller's
    session and delivered once it commits. `subject` defaults to `Re:` the answered
    one's; `envelope_from` is where a bounce of the reply goes ('' for none). With
    `answered` None, the request being answered came some other way (a web form)."""
    if subject is None:
        subject = reply_subject(answered.subject if answered is not None else "")
    raw = build_message(
        from_addr=from_addr,
        to_addrs=[to],
        subject=subject,
        body=body,
        in_reply_to=answered.message_id if answered is not None else None,
        references=answered.references if answered is not None else (),
        extra_headers={
            **AUTO_REPLIED,
            **({"Cc": ", ".join(cc)} if cc else {}),
            **(extra_headers or {}),
        },
        domain=domain,
    )
    return send_on_commit(
        session, envelope_from=envelope_from, recipients=[to, *cc], raw=raw, purpose=purpose
    )


def send_notice(
    session: Session,
    *,
    to: Iterable[str],
    from_addr: str,
    subject: str,
    body: str,
    envelope_from: str,
    purpose: str,
    domain: str,
    extra_headers: dict[str, str] | None = None,
) -> OutboxMessage:
    """A mail nobody wrote in to get (a bounce report, a confirmation link), queued in the
    caller's session and delivered once it commits."""
    recipients = list(to)
    raw = build_message(
        from_addr=from_addr,
        to_addrs=recipients,
        subject=subject,
        body=body,
        extra_headers={**AUTO_GENERATED, **(extra_headers or {})},
        domain=domain,
    )
    return send_on_commit(
        session, envelope_from=envelope_from, recipients=recipients, raw=raw, purpose=purpose
    )


def with_attached_message(
    headers: dict[str, str], text: str, attached: bytes, *, domain: str
) -> bytes:
    """A multipart/mixed mail: `text`, then `attached` as message/rfc822 with its bytes
    unchanged (the email package would re-fold the headers of a message it attaches)."""
    boundary = f"=_mailyard_{secrets.token_hex(12)}"
    head = EmailMessage(policy=SMTP)
    for name, value in headers.items():
        head[name] = " ".join(value.split())
    head["Date"] = format_datetime(utcnow())
    head["Message-ID"] = make_msgid(domain=domain)
    head["MIME-Version"] = "1.0"
    head["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
    header_block = head.as_bytes().split(b"\r\n\r\n", 1)[0]
    part = MIMEPart(policy=SMTP)
    part.set_content(text, charset="utf-8")
    inner = re.sub(rb"\r?\n", b"\r\n", attached)
    if not inner.endswith(b"\r\n"):
        inner += b"\r\n"
    cte = b"" if inner.isascii() else b"Content-Transfer-Encoding: 8bit\r\n"
    delimiter = b"--" + boundary.encode()
    return b"".join(
        [
            header_block,
            b"\r\n\r\n",
            delimiter,
            b"\r\n",
            part.as_bytes(),
            b"\r\n" + delimiter + b"\r\n",
            b"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n",
            cte,
            b"\r\n",
            inner,
            b"\r\n" + delimiter + b"--\r\n",
        ]
    )
