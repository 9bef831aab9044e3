"""The SMTP/LMTP side of intake: a thin aiosmtpd handler over the address kinds it is given.

RCPT routes each recipient (`mta.routing`); DATA judges the message for each of them and
either hands it to the group-commit writer (kinds whose mail is stored, `mta.writer`) or
handles it in one transaction (the others), and answers `250` only once the raw bytes
or the change they caused are committed (DESIGN, "the path of one message"). Answers are
worded in one place, `mta.replies`.

A recipient is judged twice at DATA: by its kind's policy on the message alone (`judge`),
then by what the From may do (`judge_rights`, with the database), which may hold a post
for the moderators. A held post goes through the writer like an accepted one, before
the `250` that says it is held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.orm import Session

from archive.parse import ParsedMessage, parse_message
from core.db import new_session
from core.settings import Settings
from mail.address_kinds import AddressKind, Routed, Stored
from mail.policy import Decision, Outcome, check_size
from mta.replies import (
    ACCEPTED,
    MAX_RECIPIENTS,
    RECIPIENT_OK,
    TOO_MANY_RECIPIENTS,
    TRY_AGAIN,
    address_refusal,
    reply_for,
)
from mta.routing import Route, route
from mta.writer import GroupCommitWriter, StoreRequest

log = logging.getLogger(__name__)


def routes_of(envelope: Envelope) -> list[Route]:
    """The routes of the envelope's accepted recipients, in RCPT order (aiosmtpd makes a
    fresh Envelope after each message and RSET, so they never leak between messages)."""
    return envelope.__dict__.setdefault("mailyard_routes", [])


class IntakeHandler:
    """aiosmtpd handler for both SMTP and LMTP; RCPT routes, DATA judges and stores."""

    def __init__(
        self, settings: Settings, writer: GroupCommitWriter, kinds: Sequence[AddressKind]
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.kinds = tuple(kinds)
        self.active = 0  # DATA handlers not yet answered; shutdown waits for them

    async def wait_idle(self, timeout: float) -> None:
        """Wait until no DATA handler is between its message and its answer."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.active and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        refusal = address_refusal(address, envelope.smtp_utf8)
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = address_refusal(address, envelope.smtp_utf8)
        if refusal is not None:
            return refusal
        routes = routes_of(envelope)
        if len(routes) >= MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        try:
            found = await asyncio.to_thread(self._route, address, envelope.mail_from or "")
        except Exception:
            log.exception("routing %s failed", address)
            return TRY_AGAIN
        if isinstance(found, Decision):
            log.info("refused recipient %s: %s", address, found.detail)
            return reply_for(found)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        routes.append(found)
        return RECIPIENT_OK

    def _route(self, address: str, sender: str) -> Route | Decision:
        with new_session(self.settings) as session:
            return route(session, self.settings, self.kinds, address, sender)

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        routes = routes_of(envelope)
        self.active += 1
        try:
            replies = await self._deliver(envelope, routes, lmtp=isinstance(server, LMTP))
        except Exception:
            log.exception("intake of a message from %s failed", envelope.mail_from)
            replies = [TRY_AGAIN] * len(routes)
        finally:
            # aiosmtpd writes the answer in the same step as this returns.
            self.active -= 1
        if isinstance(server, LMTP):
            return "\r\n".join(replies)
        return _one_reply(replies)

    async def handle_exception(self, error: Exception) -> str:
        log.exception("SMTP session failed", exc_info=error)
        return TRY_AGAIN

    async def _deliver(self, envelope: Envelope, routes: list[Route], *, lmtp: bool) -> list[str]:
        """One reply per recipient, in RCPT order."""
        read = await self._read(envelope)
        if isinstance(read, str):
            return [read] * len(routes)
        raw, parsed = read
        return await self._deliver_parsed(raw, parsed, envelope, routes, lmtp=lmtp)

    async def _read(self, envelope: Envelope) -> tuple[bytes, ParsedMessage] | str:
        """The message and its parse, or the reply refusing it for its size."""
        raw = envelope.original_content or b""
        size_check = check_size(len(raw), self.settings.max_message_size)
        if not size_check.accepted:  # aiosmtpd's limit counts bytes a little differently
            return reply_for(size_check)
        return raw, await asyncio.to_thread(parse_message, raw)

    async def _deliver_parsed(
        self,
        raw: bytes,
        parsed: ParsedMessage,
        envelope: Envelope,
        routes: list[Route],
        *,
        lmtp: bool,
    ) -> list[str]:
        """`_deliver`, once the message is parsed."""
        if not routes:
            return []
        decisions = [r.kind.judge(parsed, r.target) for r in routes]
        pairs = zip(routes, decisions, strict=True)
        if any(r.kind.judge_rights is not None and d.accepted for r, d in pairs):
            decisions = await asyncio.to_thread(self._judge_rights, raw, parsed, routes, decisions)
        for r, d in zip(routes, decisions, strict=True):
            if not d.accepted:
                log.info("%s for %s: %s", d.outcome.value, r.address, d.detail)
        refusals = [d for d in decisions if d.outcome is Outcome.REJECT]
        if refusals and not lmtp:
            # One reply cannot say "archived on A, refused on B"; a clear refusal the
            # sender can fix beats silently archiving on some of the lists.
            return [reply_for(refusals[0])] * len(routes)
        done: dict[AddressKind, bool] = {}
        for kind, routed in to_store(routes, decisions).items():
            assert kind.stored is not None
            done[kind] = await self._store(kind.stored, raw, parsed, envelope, routed)
        handled = [
            r for r, d in zip(routes, decisions, strict=True) if d.accepted and r.kind.handle
        ]
        if handled:
            ok = await asyncio.to_thread(self._handle, raw, parsed, handled)
            done.update({r.kind: ok for r in handled})
        return [
            reply_for(d)
            if d.outcome in (Outcome.REJECT, Outcome.DROP) or done.get(r.kind, True)
            else TRY_AGAIN
            for r, d in zip(routes, decisions, strict=True)
        ]

    def _judge_rights(
        self, raw: bytes, parsed: ParsedMessage, routes: list[Route], decisions: list[Decision]
    ) -> list[Decision]:
        """Rights for what the policies accepted (posting and moderation on lists, opening
        tickets on trackers). They need the database, so they come second."""
        with new_session(self.settings) as session:
            return judge_rights(session, self.settings, raw, parsed, routes, decisions)

    def _handle(self, raw: bytes, parsed: ParsedMessage, routes: list[Route]) -> bool:
        """Mail whose kind handles it (commands, bounces, tickets...), done and committed
        in one transaction: mail and changes go together into the outbox."""
        try:
            with new_session(self.settings) as session:
                for r in routes:
                    assert r.kind.handle is not None
                    r.kind.handle(session, self.settings, parsed, raw, r.target)
                session.commit()
        except Exception:  # noqa: BLE001  the sender retries on 451
            log.exception("handling mail to %s failed", ", ".join(r.address for r in routes))
            return False
        return True

    async def _store(
        self,
        stored: Stored,
        raw: bytes,
        parsed: ParsedMessage,
        envelope: Envelope,
        routed: list[Routed],
    ) -> bool:
        """The message, for these recipients, in the writer's next batch."""
        payload = await asyncio.to_thread(
            stored.prepare, raw, parsed, envelope.mail_from or "", routed
        )
        label = parsed.message_id or ""
        request = StoreRequest(stored.store, payload, len(raw), label)
        try:
            result = await self.writer.store(request)
        except Exception as e:  # noqa: BLE001  the sender retries on 451
            log.error("not stored <%s>: %s", label, e)
            return False
        if result.dropped:
            log.info("duplicate <%s> dropped", label)
        return True


def judge_rights(
    session: Session,
    settings: Settings,
    raw: bytes,
    parsed: ParsedMessage,
    routes: Sequence[Route],
    decisions: Sequence[Decision],
) -> list[Decision]:
    """The decisions after each accepted recipient's kind judged what the From may do."""
    return [
        r.kind.judge_rights(session, settings, parsed, raw, r.target)
        if d.accepted and r.kind.judge_rights is not None
        else d
        for r, d in zip(routes, decisions, strict=True)
    ]


def to_store(
    routes: Sequence[Route], decisions: Sequence[Decision]
) -> dict[AddressKind, list[Routed]]:
    """The recipients accepted or held, by the kind that stores their mail."""
    stored: dict[AddressKind, list[Routed]] = {}
    for r, d in zip(routes, decisions, strict=True):
        if r.kind.stored is not None and d.outcome in (Outcome.ACCEPT, Outcome.HOLD):
            stored.setdefault(r.kind, []).append(Routed(r.address, r.target, d))
    return stored


def _one_reply(replies: list[str]) -> str:
    """SMTP has one reply for all recipients: a refusal if any, else a retry if any, else
    a hold if any (still a `250`, but the sender should know)."""
    for prefix in ("5", "4"):
        for reply in replies:
            if reply.startswith(prefix):
                return reply
    for reply in replies:
        if reply != ACCEPTED:
            return reply
    return ACCEPTED
