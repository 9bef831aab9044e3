"""Authenticated submission (RFC 6409): signed-in users send to the lists here and to anyone.

The port takes nothing before `AUTH PLAIN` or `AUTH LOGIN` with a username and one of its
API tokens (asked of whatever `mailyard/wiring.py` connected to
`mail.submission.AUTHENTICATE`: the accounts), and offers AUTH only over TLS (STARTTLS, when a
certificate is configured) or to a client on the loopback interface, so that a token
never crosses a network in clear. The envelope sender and the From must be addresses the
account confirmed. Then a recipient here goes the way it goes on the intake port (the
same routing, policies, rights and group-commit writer: a list gets a post), and one
elsewhere is relayed: the message is recorded in the outbox (`mail.outbox`) and workers
deliver it through `MAILYARD_RELAY_URL`.

Order of writes: the local recipients are stored first, the relayed copy recorded last,
and only if every local recipient was taken; a `451` before the relayed copy is committed
makes the client retry, and the retried post is dropped as a duplicate, so every
recipient gets the message once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession

from archive.parse import ParsedMessage
from core.db import new_session
from core.errors import UserError
from mail.outbox import send_on_commit
from mail.submission import AUTHENTICATE, SenderRefused, Submitter
from mta.handler import IntakeHandler, routes_of
from mta.replies import (
    ACCEPTED,
    MAX_RECIPIENTS,
    RECIPIENT_OK,
    TOO_MANY_RECIPIENTS,
    TRY_AGAIN,
    IntakeSMTP,
    address_refusal,
    reply_for,
    visible,
)
from mta.routing import is_local, split_address

log = logging.getLogger(__name__)

PURPOSE = "submission"


def relayed_of(envelope: Envelope) -> list[str]:
    """The envelope's accepted recipients elsewhere, in RCPT order."""
    return envelope.__dict__.setdefault("mailyard_relayed", [])


def submitter_of(session: SmtpSession) -> Submitter:
    submitter = session.auth_data
    assert isinstance(submitter, Submitter)  # aiosmtpd lets no MAIL through before AUTH
    return submitter


def is_loopback(peer: Any) -> bool:
    """A client on this machine: a loopback address, or a Unix socket (no host)."""
    if not isinstance(peer, tuple):
        return True
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        return False


class SubmissionSMTP(IntakeSMTP):
    """The submission protocol: AUTH required before MAIL, and offered only over TLS or
    on loopback. Credentials are checked off the event loop by the handler."""

    event_handler: SubmissionHandler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._original_transport is None:  # not the second call, after STARTTLS
            self._auth_require_tls = not is_loopback(transport.get_extra_info("peername"))

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        # aiosmtpd calls this synchronously; the check needs the database, so the
        # mechanisms below hand the decoded credentials to the handler instead.
        return AuthResult(success=False, handled=False, auth_data=auth_data)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._check(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._check(await super().auth_LOGIN(_, args))

    async def _check(self, result: AuthResult) -> AuthResult:
        credentials = result.auth_data
        if not isinstance(credentials, LoginPassword):
            return result  # aborted or malformed: aiosmtpd has answered
        assert self.session is not None
        peer = self.session.peer
        client = peer[0] if isinstance(peer, tuple) else "local"
        return await self.event_handler.authenticate(
            credentials.login.decode("utf-8", "replace"),
            credentials.password.decode("utf-8", "replace"),
            client,
        )


class SubmissionHandler(IntakeHandler):
    """The intake handler, for signed-in senders who may also write to other domains."""

    async def authenticate(self, login: str, token: str, client: str) -> AuthResult:
        try:
            submitter = await asyncio.to_thread(self._authenticate, login, token, client)
        except UserError as e:
            log.info("submission AUTH for %r from %s refused: %s", login, client, e)
            return AuthResult(success=False, handled=False, message=reply_for(e))
        except Exception:
            log.exception("submission AUTH for %r failed", login)
            return AuthResult(success=False, handled=False, message=TRY_AGAIN)
        log.info("submission AUTH: ~%s from %s", submitter.username, client)
        return AuthResult(success=True, auth_data=submitter)

    def _authenticate(self, login: str, token: str, client: str) -> Submitter:
        [authenticate] = AUTHENTICATE  # one sign-in rule, the accounts'
        with new_session(self.settings) as session:
            try:
                return authenticate(session, login, token, client)
            finally:
                session.commit()  # the attempt counts, whatever its outcome

    async def handle_MAIL(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        try:
            submitter_of(session).check_sender(address, "the envelope sender")
        except SenderRefused as e:
            return reply_for(e)
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if is_local(self.settings, split_address(address)[1]):
            return await super().handle_RCPT(server, session, envelope, address, rcpt_options)
        refusal = address_refusal(address, envelope.smtp_utf8)
        if refusal is not None:
            return refusal
        relayed = relayed_of(envelope)
        if len(relayed) + len(routes_of(envelope)) >= MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        relayed.append(address)
        return RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        envelope.__dict__["mailyard_submitter"] = submitter_of(session)
        envelope.__dict__["mailyard_trace"] = trace_header(session, self.settings.domain)
        return await super().handle_DATA(server, session, envelope)

    async def _deliver(self, envelope: Envelope, routes: list, *, lmtp: bool) -> list[str]:
        relayed = relayed_of(envelope)
        count = len(routes) + len(relayed)
        read = await self._read(envelope)
        if isinstance(read, str):
            return [read] * count
        raw, parsed = read
        refusal = _from_refusal(envelope.__dict__["mailyard_submitter"], parsed)
        if refusal is not None:
            return [refusal] * count
        # The From is the submitter's; "esmtpa" is RFC 3848's name for authenticated SMTP.
        parsed = replace(parsed, from_proven_by="esmtpa")
        replies = await self._deliver_parsed(raw, parsed, envelope, routes, lmtp=False)
        if not relayed:
            return replies
        if any(not reply.startswith("2") for reply in replies):
            # One reply for the whole message: it was not taken, so nobody gets it.
            return replies + [replies[0]] * len(relayed)
        relayed_raw = envelope.__dict__["mailyard_trace"] + raw
        ok = await asyncio.to_thread(self._relay, envelope.mail_from or "", relayed, relayed_raw)
        return replies + [ACCEPTED if ok else TRY_AGAIN] * len(relayed)

    def _relay(self, sender: str, recipients: list[str], raw: bytes) -> bool:
        """Record the message for the recipients elsewhere; delivered once committed."""
        try:
            with new_session(self.settings) as session:
                send_on_commit(
                    session, envelope_from=sender, recipients=recipients, raw=raw, purpose=PURPOSE
                )
                session.commit()
        except Exception:  # noqa: BLE001  the sender retries on 451
            log.exception("recording submitted mail for %s failed", ", ".join(recipients))
            return False
        log.info("submitted mail from %s queued for %s", sender, ", ".join(recipients))
        return True


def trace_header(session: SmtpSession, domain: str) -> bytes:
    """The `Received:` line a relay must put on what it passes on (RFC 5321 4.4), with
    RFC 3848's protocol names for authenticated mail. Only the relayed copy has it: what
    the archive keeps is the bytes as received."""
    peer = session.peer
    client = f"[{peer[0]}]" if isinstance(peer, tuple) else "local"
    helo = "".join(visible(session.host_name or "unknown").split())[:255]
    protocol = "ESMTPSA" if session.ssl else "ESMTPA"
    when = format_datetime(datetime.now(UTC))
    return (
        f"Received: from {helo} ({client})\r\n"
        f"\tby {domain} (Mailyard) with {protocol};\r\n\t{when}\r\n"
    ).encode()


def _from_refusal(submitter: Submitter, parsed: ParsedMessage) -> str | None:
    """The reply refusing a message whose From is not the signed-in account's, or None."""
    address = parsed.from_.addr if parsed.from_ is not None else ""
    try:
        submitter.check_sender(address, "From")
    except SenderRefused as e:
        return reply_for(e)
    return None
