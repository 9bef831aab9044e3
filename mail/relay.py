"""The relay outgoing mail is handed to (`MAILYARD_RELAY_URL`), and the SMTP details of
talking to it: a connection ready for transactions, dot-stuffing, line ends, and a QUIT
that cannot undo what was already delivered. What is sent and recorded is `mail.delivery`.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from core.settings import SettingsError

SMTP_TIMEOUT = 30.0


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


class RelayUnavailable(Exception):
    """The relay greeted with a refusal; delivery may work later."""


def open_relay(relay: Relay, local_hostname: str) -> smtplib.SMTP:
    """A connection to `relay`, greeted, secured and logged in as its URL says, ready for
    MAIL FROM. Raises RelayUnavailable, or smtplib's and the socket's errors (the
    connection is closed then)."""
    smtp = smtplib.SMTP(timeout=SMTP_TIMEOUT, local_hostname=local_hostname)
    try:
        code, reply = smtp.connect(relay.host, relay.port)
        if code != 220:
            raise RelayUnavailable(
                f"relay {relay.host}:{relay.port} greeted {code} {reply_text(reply)}"
            )
        # The final '.' goes in a write of its own (`mail.delivery`): without this,
        # Nagle's algorithm holds it until the relay's delayed ACK, 40 ms a message.
        assert smtp.sock is not None  # connect() opened it
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if relay.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if relay.username:
            smtp.login(relay.username, relay.password)
        smtp.ehlo_or_helo_if_needed()
    except BaseException:
        close_quietly(smtp)
        raise
    return smtp


def dot_stuffed(data: bytes) -> bytes:
    """The DATA payload without its final '.' line (RFC 5321 4.5.2 transparency)."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def close_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT, ignoring errors: the outcome was decided before it (a failed QUIT after an
    accepted DATA must not make the message count as undelivered)."""
    try:
        if smtp.sock is not None:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


def crlf(raw: bytes) -> bytes:
    """SMTP wants CRLF; smtplib sends bytes as they are. Bare LFs become CRLF."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
