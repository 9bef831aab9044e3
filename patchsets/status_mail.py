"""Status changes asked for by mail: a reply in a patchset's thread carrying an
`X-Mailyard-Patchset-Update: STATUS` header or a `!status STATUS` line of its own.

The request acts only when the From address is authenticated (DESIGN: DKIM pass
aligned with the From domain, or a PGP signature by a key registered for the address;
a PGP-signed request must also name its patchset in the signed text and acts once,
`mail.signed_commands`) and whoever that address stands for (the user who confirmed it,
with their groups and access entries; else the bare address) may set the status
(`patchsets.status`).
Anything else changes nothing, and the sender gets a reply saying why. Every request is
recorded once by its Message-ID, so `reindex` neither applies it twice nor answers it
twice.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.sender_auth import MailSender, Proof, mail_sender
from archive.headers import bytes_to_text, find_first_header, unfold
from archive.models import MailingList, Message
from core.settings import get_settings
from mail.compose import reply_to
from mail.signed_commands import SignedCommandRefused, use_signed_command
from patchsets.models import Patchset, StatusRequest
from patchsets.series import patchset_replied_to
from patchsets.status import StatusRefused, change_status, parse_status

HEADER = b"x-mailyard-patchset-update"
_STATUS_LINE = re.compile(r"^!status[ \t]+(\S.*?)[ \t]*$", re.MULTILINE | re.IGNORECASE)


def find_status_request(header: str | None, body: str) -> str | None:
    """The status asked for, as written; the header wins over a body line."""
    if header and header.strip():
        return header.strip()
    found = _STATUS_LINE.search(body)
    return found.group(1) if found else None


def handle_status_request(session: Session, list_id: int, message: Message) -> None:
    """Apply or refuse the status request in `message`, if it holds one (see module)."""
    header = find_first_header(bytes(message.raw or b"").replace(b"\r\n", b"\n"), HEADER)
    in_body = find_status_request(None, message.body or "")
    wanted = find_status_request(
        unfold(bytes_to_text(header)) if header is not None else None, message.body or ""
    )
    if wanted is None or _already_handled(session, message.message_id):
        return
    request = StatusRequest(message_id=message.message_id, requested=wanted[:64])
    session.add(request)
    patchset = patchset_replied_to(session, list_id, message)
    mlist = session.get(MailingList, list_id)
    assert mlist is not None  # the list the message was just archived on
    try:
        if patchset is None:
            raise StatusRefused("this mail does not answer a patch or cover letter of a patchset")
        request.patchset_first_message_id = patchset.first_message_id
        status = parse_status(wanted)
        proven = proven_sender(session, message)
        how = proven.how
        if how is None:
            raise StatusRefused(
                f"{message.from_addr} is not authenticated: status changes by mail need a "
                "DKIM signature that passes and is aligned with the From domain, or a PGP "
                "signature by a key registered for that address"
            )
        if how is Proof.pgp:
            # A PGP signature covers the text, never the headers: only a line in the
            # signed text counts, or anyone could add a header to a signed mail.
            if in_body is None:
                raise StatusRefused(
                    "a PGP signature does not cover mail headers: write the request as a "
                    "'!status STATUS' line in the signed text"
                )
            status = parse_status(in_body)
            url = patchset_url(mlist, patchset)
            use_signed_command(
                session,
                proven.signed_text,
                [url, *patchset_message_ids(patchset)],
                purpose="patchset-status",
                target=url,
                how_to_name=f"the patchset's address {url}, or the Message-ID of one of its mails",
            )
        who = proven.actor  # authenticated: the account that confirmed the address
        changed = change_status(
            session,
            mlist,
            patchset,
            status,
            actor=who,
            via="email",
            message_pk=message.id,
            label=message.from_addr,
        )
        request.outcome = f"applied ({how})" if changed else f"unchanged ({how})"
    except (StatusRefused, SignedCommandRefused) as refused:
        request.outcome = f"refused: {refused}"
        _reply_refused(session, mlist, message, patchset, wanted, str(refused))


def patchset_url(mlist: MailingList, patchset: Patchset) -> str:
    return f"{get_settings().base_url.rstrip('/')}/{mlist.name}/patches/{patchset.id}/"


def patchset_message_ids(patchset: Patchset) -> list[str]:
    """The Message-IDs of the patchset's mails, as `<id>` and bare: what a signed request
    may name its patchset by."""
    ids = {patchset.first_message_id, *(patch.message_id for patch in patchset.patches)}
    return [form for mid in sorted(ids) if mid for form in (f"<{mid}>", mid)]


def proven_sender(session: Session, message: Message) -> MailSender:
    """Who the archived message's From acts as (DKIM was verified at ingest)."""
    return mail_sender(
        session,
        message.from_addr,
        bytes(message.raw or b""),
        dkim_aligned_pass=message.dkim_result == "pass" and message.dkim_aligned,
    )


def _already_handled(session: Session, message_id: str) -> bool:
    return (
        session.scalar(select(StatusRequest.id).where(StatusRequest.message_id == message_id))
        is not None
    )


def _reply_refused(
    session: Session,
    mlist: MailingList,
    message: Message,
    patchset: Patchset | None,
    wanted: str,
    reason: str,
) -> None:
    """Tell the sender why nothing changed, through the outbox (sent after the commit)."""
    if not message.from_addr or message.from_addr.lower() == mailer_address().lower():
        return
    settings = get_settings()
    about, link = "", ""
    if patchset is not None:
        about = f" of patchset {patchset.id} ({patchset.name})"
        link = f"Patchset: {patchset_url(mlist, patchset)}\n"
    body = (
        f"Your request to set the status{about} to {wanted!r} changed nothing:\n"
        f"{reason}.\n\nList: {mlist.name}\n{link}\n-- \nMailyard\n"
    )
    reply_to(
        session,
        message,
        to=message.from_addr,
        from_addr=mailer_address(),
        body=body,
        envelope_from="",
        purpose="patchset-status-reply",
        domain=settings.domain,
    )


def mailer_address() -> str:
    """The address Mailyard's own notices come from."""
    return f"mailyard@{get_settings().domain}"
