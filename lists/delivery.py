"""The outbox kind of a list post's copies (`OUTBOX_KIND`): the copy each subscriber
gets, what becomes of recipients the relay refuses, and who hears when delivery gave up.

The copy is the archived bytes with the list's headers on top (`lists.list_copy`), DMARC
mitigation where the author's domain asks for it (`lists.dmarc`), and the list's DKIM
signature when a key is configured (`mail.dkim_sign`). A personalized list (the default)
sends each subscriber a transaction of their own: a VERP envelope sender that names them
when their copy bounces, and a one-click unsubscribe URL of their own (RFC 8058), both
covered by the signature. Otherwise one transaction carries the whole row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from email.utils import parseaddr

from sqlalchemy.orm import Session, undefer

from archive.models import MailingList, Message
from archive.urls import message_url
from core.settings import Settings
from lists.bounces import notify, record_bounce
from lists.dmarc import DmarcMode, mitigation_for
from lists.fanout import LIST_POST
from lists.list_copy import ListIdentity, add_unsubscribe_headers, list_copy
from lists.membership import list_delivery, one_click_url
from mail.addresses import list_addresses
from mail.delivery import Envelope, OutboxKind
from mail.dkim_sign import DkimSigner, dkim_signer, sign_message
from mail.models import OutboxMessage
from mail.verp import verp_address

log = logging.getLogger(__name__)


def list_identity(session: Session, settings: Settings, mlist: MailingList) -> ListIdentity:
    options = list_delivery(session, mlist.id)
    return ListIdentity(
        name=mlist.name,
        domain=settings.domain.lower(),
        description=mlist.description,
        base_url=settings.base_url.rstrip("/"),
        subject_prefix=options.subject_prefix,
        footer=options.footer,
    )


def list_envelopes(session: Session, row: OutboxMessage, settings: Settings) -> Iterator[Envelope]:
    """The transactions that send the row's post to its remaining recipients."""
    message = session.get(Message, row.message_pk, options=[undefer(Message.raw)])
    mlist = session.get(MailingList, row.list_id)
    if message is None or mlist is None:  # deleted since: nothing left to send
        return
    ident = list_identity(session, settings, mlist)
    options = list_delivery(session, mlist.id)
    mitigation = mitigation_for(DmarcMode(options.dmarc_mode), _from_domain(message.raw))
    common = list_copy(
        message.raw,
        ident,
        archived_at=message_url(settings.base_url, mlist.name, message.message_id),
        mitigation=mitigation,
    )
    signer = dkim_signer(settings)
    if not options.personalize:
        copy = add_unsubscribe_headers(common, ident, one_click_url=None)
        yield Envelope(ident.bounces_address, list(row.remaining), _signed(copy, signer))
        return
    for rcpt in list(row.remaining):
        url = one_click_url(settings, mlist.name, rcpt)
        copy = add_unsubscribe_headers(common, ident, one_click_url=url)
        sender = verp_address(mlist.name, rcpt, ident.domain) or ident.bounces_address
        yield Envelope(sender, [rcpt], _signed(copy, signer))


def _signed(copy: bytes, signer: DkimSigner | None) -> bytes:
    return sign_message(copy, signer) if signer is not None else copy


def _from_domain(raw: bytes) -> str:
    headers = BytesHeaderParser().parsebytes(raw)
    addr = parseaddr(str(headers.get("From", "")))[1]
    return addr.rpartition("@")[2].strip().lower()


def record_refusal(session: Session, row: OutboxMessage, rcpt: str, reply: str) -> None:
    """A subscriber refused with a 5xx when we delivered counts as a bounce."""
    if row.list_id is not None:
        record_bounce(
            session,
            row.list_id,
            rcpt,
            permanent=True,
            status=reply.split(" ", 1)[0],
            diagnostic=reply,
            source="smtp",
        )


def report_given_up(session: Session, row: OutboxMessage, settings: Settings) -> None:
    """Tell the list owner which copies could not be delivered in time."""
    mlist = session.get(MailingList, row.list_id)
    if mlist is None or not row.remaining:
        return
    domain = settings.domain.lower()
    message = session.get(Message, row.message_pk) if row.message_pk else None
    about = f"<{message.message_id}>" if message else f"outbox row {row.id}"
    body = (
        f"The post {about} to {list_addresses(mlist.name, domain).posting} could not be"
        " delivered to:\n\n"
        + "".join(f"  {rcpt}\n" for rcpt in row.remaining)
        + f"\nThe relay last said: {row.last_error or '(nothing)'}\n"
        "Delivery was retried until the give-up time and has stopped.\n"
    )
    notify(
        session,
        mlist,
        domain,
        mlist.owner_email,
        f"Undeliverable copies of a post to {mlist.name}",
        body,
        purpose="delivery-given-up",
    )


OUTBOX_KIND = OutboxKind(
    LIST_POST, envelopes=list_envelopes, on_refused=record_refusal, on_given_up=report_given_up
)
