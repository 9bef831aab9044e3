"""Messages and clients for the intake tests: bytes built by hand, real smtplib clients."""

from __future__ import annotations

import smtplib
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Message, ThreadNode

DOMAIN = "lists.example.org"
DEV = f"dev@{DOMAIN}"
ANNOUNCE = f"announce@{DOMAIN}"
CRLF = "\r\n"


def new_msgid() -> str:
    return f"{uuid.uuid4().hex}@example.com"


def make_message(
    *,
    subject: str | None = "hello",
    from_: str | None = "Alice <alice@example.com>",
    to: str | None = DEV,
    cc: str | None = None,
    message_id: str | None = "new",
    extra: tuple[str, ...] = (),
    content_type: str | None = "text/plain; charset=utf-8",
    body: str = "Hello, list.\r\n",
) -> bytes:
    """An RFC 5322 message with CRLF line ends, as smtplib sends it (so what the server
    stores can be compared byte for byte). A header given as None is left out."""
    if message_id == "new":
        message_id = new_msgid()
    headers = [
        ("From", from_),
        ("To", to),
        ("Cc", cc),
        ("Subject", subject),
        ("Date", "Mon, 01 Jan 2024 12:00:00 +0000"),
        ("Message-ID", f"<{message_id}>" if message_id else None),
        ("MIME-Version", "1.0" if content_type else None),
        ("Content-Type", content_type),
    ]
    lines = [f"{name}: {value}" for name, value in headers if value is not None]
    lines += list(extra)
    text = CRLF.join(lines) + CRLF + CRLF + body
    if not text.endswith(CRLF):
        text += CRLF
    return text.encode("utf-8")


def html_only(**kwargs) -> bytes:
    return make_message(
        content_type="text/html; charset=utf-8", body="<p>Hello, <b>list</b>.</p>\r\n", **kwargs
    )


def alternative(**kwargs) -> bytes:
    body = CRLF.join(
        [
            "--b1",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "Hello, list.",
            "--b1",
            "Content-Type: text/html; charset=utf-8",
            "",
            "<p>Hello, list.</p>",
            "--b1--",
            "",
        ]
    )
    return make_message(content_type='multipart/alternative; boundary="b1"', body=body, **kwargs)


def msgid_of(raw: bytes) -> str:
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().strip(b"<>").decode()
    raise ValueError("no Message-ID")


def smtp_client(address: tuple[str, int]) -> smtplib.SMTP:
    return smtplib.SMTP(*address, timeout=10)


def send(
    address: tuple[str, int],
    raw: bytes,
    to: tuple[str, ...] = (DEV,),
    sender: str = "alice@example.com",
    mail_options: tuple[str, ...] = (),
) -> dict:
    """sendmail over a fresh connection; raises smtplib's exception on any refusal."""
    with smtp_client(address) as client:
        return client.sendmail(sender, list(to), raw, mail_options=list(mail_options))


def stored(session: Session, message_id: str) -> list[Message]:
    session.expire_all()
    return list(session.scalars(select(Message).where(Message.message_id == message_id)))


def list_ids_of(session: Session, message_pk: int) -> set[int]:
    return set(
        session.scalars(select(ThreadNode.list_id).where(ThreadNode.message_pk == message_pk))
    )


def raw_of(session: Session, message_pk: int) -> bytes:
    return session.scalar(select(Message.raw).where(Message.id == message_pk))
