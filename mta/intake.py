"""The SMTP/LMTP side of intake: a thin aiosmtpd handler and the group-commit writer.

The handler routes recipients at RCPT, judges the message at DATA, and hands accepted
mail to the writer; it answers `250` only once the writer says the raw bytes are
committed (DESIGN, "the path of one message"). This module is also the one place that
turns decisions into SMTP reply codes.

A list post is judged twice at DATA: by the list's policy on the message alone
(`mta.post`), then by what its From may do on the list (`mta.post_rights`), which may
hold it for the moderators. A held post goes through the writer like an accepted one:
its `HeldMessage` row and the moderators' notice are committed with the batch, before
the `250` that says it is held (`mta.moderation`). `store_posts` is that storing step,
shared with the approval of a held post, so that an approved post is stored exactly as
one intake accepted.

Group commit: with SQLite in `synchronous=FULL`, every commit is an fsync, and one fsync
per message caps intake at a few hundred messages a second on a good disk. DATA
handlers therefore queue their message and wait; one writer thread takes everything
queued, stores it in one transaction and commits once, then wakes every waiting
handler. Under load the batch grows by itself; alone, a message waits for one commit.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive.parse import ParsedMessage, parse_message
from archive.store import IncomingMessage, StoreResult, store_messages
from archive.tasks import enqueue_ingest
from mailyard.db import new_session
from mailyard.settings import Settings
from mta import bounces, moderation_mail, post, subscribe
from mta.dkim import verify_dkim
from mta.fanout import Fanout, record_fanout
from mta.models import OutboxMessage
from mta.moderation import Hold, hold_post
from mta.policy import Decision, Outcome, Reason, check_size, reject
from mta.post_rights import judge_rights
from mta.routing import Route, RouteKind, route
from trackers import mail as tracker_mail

log = logging.getLogger(__name__)

# RFC 5321 4.5.3.1.8: a server must take at least 100 recipients per message.
MAX_RECIPIENTS = 100

PLAINTEXT_HINT = (
    "Please send plain text only; https://useplaintext.email/ shows how to set up your mail client"
)

# Reason -> (reply code, enhanced status code, extra lines). Refusals only: a drop is
# answered like an acceptance, so that a robot has nothing to bounce.
_REFUSALS: dict[Reason, tuple[str, str, tuple[str, ...]]] = {
    Reason.UNKNOWN_RECIPIENT: ("550", "5.1.1", ()),
    Reason.TOO_BIG: ("552", "5.3.4", ()),
    Reason.MISSING_HEADER: ("550", "5.6.0", ()),
    Reason.LIST_NOT_ADDRESSED: ("550", "5.7.1", ()),
    Reason.NOT_ALLOWED: ("550", "5.7.1", ()),
    Reason.HTML: ("550", "5.7.1", (PLAINTEXT_HINT,)),
    Reason.NO_PLAIN_TEXT: ("550", "5.7.1", (PLAINTEXT_HINT,)),
}

ACCEPTED = "250 2.0.0 OK"
RECIPIENT_OK = "250 2.1.5 OK"
TRY_AGAIN = "451 4.3.0 Temporary failure storing the message; please try again later"
TOO_MANY_RECIPIENTS = f"452 4.5.3 Too many recipients (at most {MAX_RECIPIENTS} per message)"


def format_reply(code: str, status: str, lines: list[str]) -> str:
    """One SMTP reply, multi-line when there are several lines (`550-5.7.1 ...`)."""
    last = len(lines) - 1
    return "\r\n".join(
        f"{code}{' ' if i == last else '-'}{status} {line}" for i, line in enumerate(lines)
    )


def reply_for(decision: Decision) -> str:
    """The SMTP reply for a decision: the one mapping from reasons to codes."""
    if decision.outcome is Outcome.HOLD:
        return f"250 2.0.0 Held for moderation: {decision.detail}"
    if decision.outcome is not Outcome.REJECT or decision.reason is None:
        return ACCEPTED
    code, status, extra = _REFUSALS[decision.reason]
    detail = decision.detail or decision.reason.value.replace("_", " ")
    return format_reply(code, status, [_sentence(detail), *extra])


def _sentence(detail: str) -> str:
    """The detail with a capital first letter, unless it starts with an address (which
    must read as it is written)."""
    if "@" in detail.split(" ", 1)[0]:
        return detail
    return detail[:1].upper() + detail[1:]


def too_big(limit: int) -> Decision:
    return reject(Reason.TOO_BIG, f"Message too big: the limit is {limit} bytes")


# aiosmtpd's own size refusals (at MAIL FROM SIZE= and at the end of DATA), and its
# refusals that end a DATA phase.
_BUILTIN_SIZE_REFUSALS = ("552 Error: message size exceeds", "552 Error: Too much mail data")
_BUILTIN_DATA_ENDINGS = ("552 Error: Too much mail data", "500 Line too long")


class _IntakeReplies:
    """Rewords aiosmtpd's built-in size refusals as `552 5.3.4`, and in LMTP repeats a
    refusal that ends DATA once per recipient, as RFC 2033 wants."""

    data_size_limit: int | None
    envelope: Envelope | None

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str):
            ends_data = status.startswith(_BUILTIN_DATA_ENDINGS)
            if status.startswith(_BUILTIN_SIZE_REFUSALS):
                status = reply_for(too_big(self.data_size_limit or 0))
            if ends_data and isinstance(self, LMTP) and self.envelope and self.envelope.rcpt_tos:
                status = "\r\n".join([status] * len(self.envelope.rcpt_tos))
        await super().push(status)  # type: ignore[misc]


class IntakeSMTP(_IntakeReplies, SMTP):
    # Raw bytes are archived unchanged, so a line over RFC 5321's 1000 octets (which
    # Postfix passes on) is kept rather than refused.
    line_length_limit = 64 * 1024


class IntakeLMTP(_IntakeReplies, LMTP):
    line_length_limit = 64 * 1024


# --- the writer -----------------------------------------------------------------------


@dataclass
class StoreRequest:
    """One accepted message on its way to the database, and the handler waiting for it."""

    message: IncomingMessage
    fanout: Fanout | None = None  # a list post: who gets copies (see mta.fanout)
    holds: list[Hold] = field(default_factory=list)  # lists it waits on a moderator for
    future: Future[StoreResult] = field(default_factory=Future, repr=False)


def store_posts(
    session: Session, settings: Settings, requests: list[StoreRequest]
) -> tuple[list[StoreResult], list[OutboxMessage]]:
    """Store list posts in the caller's transaction, as intake does before its `250`: the
    raw bytes linked to their lists (`archive.store`), a copy for each subscriber of each
    list that did not have the post yet (`mta.fanout`), and the holds with the notices to
    their moderators (`mta.moderation`). The caller commits, then enqueues ingest of the
    new messages and delivery of the returned outbox rows."""
    results = store_messages(session, [request.message for request in requests])
    rows: list[OutboxMessage] = []
    domain = settings.domain.lower()
    for request, result in zip(requests, results, strict=True):
        if request.fanout is not None and result.message_pk is not None:
            for list_id in result.new_list_ids:
                rows += record_fanout(
                    session,
                    result.message_pk,
                    list_id,
                    list_name=request.fanout.list_names[list_id],
                    domain=domain,
                    fanout=request.fanout,
                )
        for held in request.holds:
            rows += hold_post(session, settings, request.message, held)
    session.flush()
    return results, rows


def post_request(
    raw: bytes,
    parsed: ParsedMessage,
    *,
    envelope_from: str,
    envelope_to: list[str],
    lists: dict[int, str],
    holds: list[Hold] | None = None,
) -> StoreRequest:
    """What the writer stores for a post to `lists` (id -> name), with its DKIM verdict
    (which asks DNS, so call it off the event loop). `holds` are the lists it is held
    on instead."""
    if not parsed.message_id:  # every posting policy requires one
        raise ValueError("accepted a message without a Message-ID")
    dkim = verify_dkim(raw, from_domain(parsed)) if lists else None
    return StoreRequest(
        IncomingMessage(
            raw=raw,
            message_id=parsed.message_id,
            list_ids=list(lists),
            envelope_from=envelope_from,
            envelope_to=envelope_to,
            dkim_result=dkim.result.value if dkim else "none",
            dkim_domain=dkim.domain if dkim else "",
            dkim_aligned=dkim.aligned if dkim else False,
        ),
        fanout=Fanout(
            sender=parsed.from_.addr if parsed.from_ else "",
            addressed=frozenset(a.addr.lower() for a in (*parsed.to, *parsed.cc)),
            list_names=dict(lists),
        ),
        holds=list(holds or []),
    )


class WriterStopped(RuntimeError):
    """The writer no longer takes messages (intake is shutting down)."""


class GroupCommitWriter:
    """One thread that stores queued messages, many per transaction.

    `store()` is what DATA handlers await. A batch is everything queued when the thread
    comes back for more (up to `max_batch` messages or `max_bytes`); it is stored in one
    transaction and committed once. If that transaction fails, each message is tried in
    a transaction of its own (a unique-key race is retried once, and then finds the
    winner's row: a duplicate, dropped), so one bad message cannot fail the others.
    Ingest is enqueued once per batch, after the commit and before the answers.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        max_batch: int = 200,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.settings = settings
        self.max_batch = max_batch
        self.max_bytes = max_bytes
        self._queue: queue.SimpleQueue[StoreRequest | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        # The stored messages are safe once committed; telling the broker is not part of
        # the answer, so it happens on a thread of its own (inline when tasks run eagerly,
        # so that in tests a 250 means "archived").
        if settings.tasks_eager:
            self._ingest, self._enqueue_outbox = enqueue_ingest, _enqueue_delivery
        else:
            self._ingest = BackgroundEnqueuer(enqueue_ingest).submit
            self._enqueue_outbox = BackgroundEnqueuer(_enqueue_delivery).submit
        self.batches = 0  # committed batches, for tests and logs

    def start(self) -> GroupCommitWriter:
        self._thread.start()
        return self

    def submit(self, request: StoreRequest) -> Future[StoreResult]:
        with self._lock:
            if self._stopped:
                raise WriterStopped("intake is shutting down")
            self._queue.put(request)
        return request.future

    async def store(self, request: StoreRequest) -> StoreResult:
        """Store `request` with the next batch; returns once it is committed."""
        return await asyncio.wrap_future(self.submit(request))

    def stop(self, timeout: float | None = 30) -> None:
        """Store what is queued, then end the thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        running = True
        while running:
            first = self._queue.get()
            if first is None:
                break
            batch, size = [first], len(first.message.raw)
            while len(batch) < self.max_batch and size < self.max_bytes:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    running = False
                    break
                batch.append(item)
                size += len(item.message.raw)
            try:
                self._write_batch(batch)
            except BaseException as e:  # noqa: BLE001  never leave a handler waiting
                log.exception("intake writer failed a batch of %d", len(batch))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(e)

    def _write_batch(self, batch: list[StoreRequest]) -> None:
        outcomes: list[StoreResult | BaseException]
        outbox_ids: list[int] = []  # copies of list posts to deliver, once committed
        try:
            outcomes = self._store_together(batch, outbox_ids)
        except Exception:
            if len(batch) > 1:
                log.warning("batch of %d failed; storing one by one", len(batch), exc_info=True)
            else:
                log.warning("storing a message failed", exc_info=True)
            outbox_ids.clear()
            outcomes = [self._store_alone(request, outbox_ids) for request in batch]
        else:
            self.batches += 1
        new_pks = [
            o.message_pk
            for o in outcomes
            if isinstance(o, StoreResult) and o.message_pk is not None
        ]
        self._ingest(list(dict.fromkeys(new_pks)))
        self._enqueue_outbox(outbox_ids)
        for request, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)

    def _store_together(
        self, batch: list[StoreRequest], outbox_ids: list[int]
    ) -> list[StoreResult]:
        """Store the batch (`store_posts`) in one transaction; the outbox ids of its
        copies and notices are added to `outbox_ids` once committed."""
        with new_session(self.settings) as session:  # closing rolls back what failed
            results, rows = store_posts(session, self.settings, batch)
            ids = [row.id for row in rows]
            session.commit()
        outbox_ids += ids
        return results

    def _store_alone(
        self, request: StoreRequest, outbox_ids: list[int]
    ) -> StoreResult | BaseException:
        for attempt in (1, 2):
            try:
                [result] = self._store_together([request], outbox_ids)
                return result
            except IntegrityError as e:
                # Another process stored the same Message-ID on the same list between our
                # check and our insert; the second attempt sees its row and drops ours.
                if attempt == 2:
                    return e
            except Exception as e:  # noqa: BLE001  answered with 451 by the handler
                log.error("could not store <%s>: %s", request.message.message_id, e)
                return e
        raise AssertionError("unreachable")


def _enqueue_delivery(row_ids: list[int]) -> None:
    from mta.tasks import enqueue_delivery  # here: mta.tasks imports the Celery app

    enqueue_delivery(row_ids)


class BackgroundEnqueuer:
    """Hands stored ids to the broker from its own thread, merging whatever piled up
    while it was busy into one call."""

    def __init__(self, enqueue: Callable[[list[int]], None]) -> None:
        self._enqueue = enqueue
        self._queue: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="intake-enqueue", daemon=True).start()

    def submit(self, pks: list[int]) -> None:
        if pks:
            self._queue.put(pks)

    def _run(self) -> None:
        while True:
            pks = list(self._queue.get())
            while True:
                try:
                    pks += self._queue.get_nowait()
                except queue.Empty:
                    break
            self._enqueue(pks)


# --- the handler ----------------------------------------------------------------------


def routes_of(envelope: Envelope) -> list[Route]:
    """The routes of the envelope's accepted recipients, in RCPT order (aiosmtpd makes a
    fresh Envelope after each message and RSET, so they never leak between messages)."""
    return envelope.__dict__.setdefault("mailyard_routes", [])


def from_domain(msg: ParsedMessage) -> str:
    addr = msg.from_.addr if msg.from_ else ""
    return addr.rpartition("@")[2].strip().rstrip(">").lower()


# What each kind of address asks of a message at DATA.
_JUDGES: dict[RouteKind, Callable[[ParsedMessage, Any], Decision]] = {
    RouteKind.POST: post.judge_post,
    RouteKind.COMMAND: subscribe.judge_command,
    RouteKind.BOUNCE: bounces.judge_bounce,
    RouteKind.TRACKER: tracker_mail.judge_tracker_mail,
    RouteKind.MODERATE: moderation_mail.judge_moderation_reply,
}

# What is done at DATA with mail to an address that is not a list: in one transaction,
# committed before the answer (mail and changes go together into the outbox).
_HANDLERS: dict[RouteKind, Callable[..., None]] = {
    RouteKind.COMMAND: subscribe.handle_command,
    RouteKind.BOUNCE: bounces.handle_bounce,
    RouteKind.TRACKER: tracker_mail.handle_tracker_mail,
    RouteKind.MODERATE: moderation_mail.handle_moderation_reply,
}


def list_id_of(route: Route) -> int:
    target = route.target
    assert isinstance(target, post.ListTarget), f"{route.kind} is not a list post"
    return target.list_id


class IntakeHandler:
    """aiosmtpd handler for both SMTP and LMTP; RCPT routes, DATA judges and stores."""

    def __init__(self, settings: Settings, writer: GroupCommitWriter) -> None:
        self.settings = settings
        self.writer = writer
        self.active = 0  # DATA handlers not yet answered; shutdown waits for them

    async def wait_idle(self, timeout: float) -> None:
        """Wait until no DATA handler is between its message and its answer."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.active and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
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
            return route(session, self.settings, address, sender)

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
        raw = envelope.original_content or b""
        size_check = check_size(len(raw), self.settings.max_message_size)
        if not size_check.accepted:  # aiosmtpd's limit counts bytes a little differently
            return [reply_for(size_check)] * len(routes)
        parsed = await asyncio.to_thread(parse_message, raw)
        decisions = [_JUDGES[r.kind](parsed, r.target) for r in routes]
        pairs = zip(routes, decisions, strict=True)
        if any(r.kind in _NEEDS_RIGHTS and d.accepted for r, d in pairs):
            decisions = await asyncio.to_thread(self._judge_rights, raw, parsed, routes, decisions)
        for r, d in zip(routes, decisions, strict=True):
            if not d.accepted:
                log.info("%s for %s: %s", d.outcome.value, r.address, d.detail)
        refusals = [d for d in decisions if d.outcome is Outcome.REJECT]
        if refusals and not lmtp:
            # One reply cannot say "archived on A, refused on B"; a clear refusal the
            # sender can fix beats silently archiving on some of the lists.
            return [reply_for(refusals[0])] * len(routes)
        accepted = [r for r, d in zip(routes, decisions, strict=True) if d.accepted]
        posts = [r for r in accepted if r.kind is RouteKind.POST]
        others = [r for r in accepted if r.kind is not RouteKind.POST]
        held = [(r, d) for r, d in zip(routes, decisions, strict=True) if d.outcome is Outcome.HOLD]
        stored = handled = True
        if posts or held:
            stored = await self._store(raw, parsed, envelope, posts, held)
        if others:
            handled = await asyncio.to_thread(self._handle, raw, parsed, others)
        return [
            _reply(r, d, stored=stored, handled=handled)
            for r, d in zip(routes, decisions, strict=True)
        ]

    def _judge_rights(
        self, raw: bytes, parsed: ParsedMessage, routes: list[Route], decisions: list[Decision]
    ) -> list[Decision]:
        """Rights for what the policies accepted: posting and moderation on lists
        (`mta.post_rights`), opening tickets on trackers (`trackers.mail`). They need the
        database, so they come second."""
        with new_session(self.settings) as session:
            return [
                self._rights_of(session, raw, parsed, r, d)
                for r, d in zip(routes, decisions, strict=True)
            ]

    def _rights_of(
        self, session: Session, raw: bytes, parsed: ParsedMessage, route: Route, decision: Decision
    ) -> Decision:
        if not decision.accepted:
            return decision
        if route.kind is RouteKind.POST:
            target = route.target
            return judge_rights(session, target.list_id, target.posting_address, parsed, raw)
        if route.kind is RouteKind.TRACKER:
            return tracker_mail.judge_tracker_rights(
                session, self.settings, parsed, raw, route.target
            )
        return decision

    def _handle(self, raw: bytes, parsed: ParsedMessage, routes: list[Route]) -> bool:
        """Command and bounce mail, done and committed in one transaction."""
        try:
            with new_session(self.settings) as session:
                for r in routes:
                    _HANDLERS[r.kind](session, self.settings, parsed, raw, r.target)
                session.commit()
        except Exception:  # noqa: BLE001  the sender retries on 451
            log.exception("handling mail to %s failed", ", ".join(r.address for r in routes))
            return False
        return True

    async def _store(
        self,
        raw: bytes,
        parsed: ParsedMessage,
        envelope: Envelope,
        accepted: list[Route],
        held: list[tuple[Route, Decision]],
    ) -> bool:
        """Posts to archive and posts to hold, in the writer's next batch."""
        sender = parsed.from_.addr if parsed.from_ else ""
        holds = [
            Hold(
                list_id=list_id_of(r),
                list_name=r.target.name,
                rcpt_to=r.address,
                reason=d.detail,
                from_address=sender,
                subject=parsed.subject,
            )
            for r, d in held
        ]
        request = await asyncio.to_thread(
            post_request,
            raw,
            parsed,
            envelope_from=envelope.mail_from or "",
            envelope_to=[r.address for r in accepted],
            lists={list_id_of(r): r.target.name for r in accepted},
            holds=holds,
        )
        try:
            result = await self.writer.store(request)
        except Exception as e:  # noqa: BLE001  the sender retries on 451
            log.error("not stored <%s>: %s", parsed.message_id, e)
            return False
        if result.dropped and request.message.list_ids:
            log.info(
                "duplicate <%s> on list(s) %s dropped", parsed.message_id, request.message.list_ids
            )
        return True


def _reply(route_: Route, decision: Decision, *, stored: bool, handled: bool) -> str:
    """One recipient's answer, once its message was stored (posts, holds) or handled."""
    if decision.outcome in (Outcome.REJECT, Outcome.DROP):
        return reply_for(decision)
    done = stored if route_.kind is RouteKind.POST else handled
    return reply_for(decision) if done else TRY_AGAIN


# The routes whose rights `_judge_rights` checks once the policies accepted the mail.
_NEEDS_RIGHTS = frozenset({RouteKind.POST, RouteKind.TRACKER})


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
