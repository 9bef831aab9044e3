"""Storing a list post, as intake does before its `250` and as an approval does later.

One step for both, so that an approved post is stored exactly as one intake accepted: the
raw bytes linked to their lists (`archive.store`), a copy for each subscriber of each list
that did not have the post yet (`lists.fanout`), and the holds with the notices to their
moderators (`lists.moderation`), all in the caller's transaction. The caller commits, then
enqueues ingest of the new messages and delivery of the returned outbox rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from archive.parse import ParsedMessage
from archive.store import IncomingMessage, StoreResult, store_messages
from core.settings import Settings
from lists.fanout import Fanout, record_fanout
from lists.holding import Hold, hold_post
from lists.posting import ListTarget
from mail.address_kinds import Routed
from mail.dkim import verify_dkim
from mail.models import OutboxMessage
from mail.policy import Outcome


@dataclass
class PostRequest:
    """One post to store: its bytes and envelope, who gets copies, where it is held."""

    message: IncomingMessage
    fanout: Fanout | None = None  # who gets copies (see lists.fanout)
    holds: list[Hold] = field(default_factory=list)  # lists it waits on a moderator for


def store_posts(
    session: Session, settings: Settings, requests: list[PostRequest]
) -> tuple[list[StoreResult], list[OutboxMessage]]:
    """Store posts in the caller's transaction (see the module docstring); one result per
    request, and the outbox rows to deliver once committed."""
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
) -> PostRequest:
    """What is stored for a post to `lists` (id -> name), with its DKIM verdict (which
    asks DNS, so call it off the event loop). `holds` are the lists it is held on
    instead."""
    if not parsed.message_id:  # every posting policy requires one
        raise ValueError("accepted a message without a Message-ID")
    dkim = verify_dkim(raw, _from_domain(parsed)) if lists else None
    return PostRequest(
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


def prepare_post(
    raw: bytes, parsed: ParsedMessage, envelope_from: str, routed: list[Routed]
) -> PostRequest:
    """The post request for a message intake accepted or held on these lists."""
    sender = parsed.from_.addr if parsed.from_ else ""
    accepted = [r for r in routed if r.decision.outcome is Outcome.ACCEPT]
    holds = [
        Hold(
            list_id=_list(r).list_id,
            list_name=_list(r).name,
            rcpt_to=r.address,
            reason=r.decision.detail,
            from_address=sender,
            subject=parsed.subject,
        )
        for r in routed
        if r.decision.outcome is Outcome.HOLD
    ]
    return post_request(
        raw,
        parsed,
        envelope_from=envelope_from,
        envelope_to=[r.address for r in accepted],
        lists={_list(r).list_id: _list(r).name for r in accepted},
        holds=holds,
    )


def _list(routed: Routed) -> ListTarget:
    target = routed.target
    assert isinstance(target, ListTarget), f"{routed.address} is not a list post"
    return target


def _from_domain(msg: ParsedMessage) -> str:
    addr = msg.from_.addr if msg.from_ else ""
    return addr.rpartition("@")[2].strip().rstrip(">").lower()
