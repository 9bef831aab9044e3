"""Who sent a mail, and is it proven? The one answer every action by mail asks (DESIGN:
a DKIM signature that passes and is aligned with the From domain, or a PGP signature by
a key registered for the address).

A mail acts as an account only when it proves its From address: then that address, if
one of the account's confirmed addresses, brings the account's group roles and access
entries with it (`mail_sender(...).actor`). Unproven mail acts as its bare address
(`bare_actor`): the defaults, and entries naming that address, but never the owner of a
list or tracker, even when the From is the owner's address. So "is this mail
authenticated as user U?" is `mail_sender(...).actor.user_id == U.id`, and the patch
status, ticket, moderation and posting paths all ask it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from accounts.access import Actor, actor_for_address, bare_actor
from accounts.pgp_keys import registered_pgp_keys
from mail.dkim import DkimResult, verify_dkim
from mail.pgp import signed_text, verify_signature


class Proof(StrEnum):
    """How a mail proved its From address."""

    dkim = "dkim"  # a passing DKIM signature aligned with the From domain
    pgp = "pgp"  # a PGP signature by a key registered for the address: the text only
    # Its sender signed in on the submission port: RFC 3848's "with ESMTPA", and short
    # enough for the columns that record how a ticket event was proven.
    submission = "esmtpa"
    web = "web"  # Mailyard sent it for a user signed in on the web (a series from a repository)


@dataclass(frozen=True)
class MailSender:
    address: str  # the From address, as written
    how: Proof | None  # None when unproven
    actor: Actor  # the account when proven (and confirmed), else the bare address
    # With 'pgp', the text the signature covers: all a signed command may act on
    # (`mail.signed_commands`); None otherwise.
    signed_text: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.how is not None


def mail_sender(
    session: Session,
    address: str,
    raw: bytes,
    *,
    dkim_aligned_pass: bool | None = None,
    proven_by: str | None = None,
) -> MailSender:
    """Who the mail `raw` from `address` acts as. DKIM is verified here unless the
    caller already knows the aligned result (ingest stores it). `proven_by` names how
    intake proved the From itself (`ParsedMessage.from_proven_by`: 'esmtpa' from the
    submission port)."""
    if proven_by:
        return MailSender(address, Proof(proven_by), actor_for_address(session, address))
    if dkim_aligned_pass is None:
        verdict = verify_dkim(raw, address.rpartition("@")[2].lower())
        dkim_aligned_pass = verdict.result is DkimResult.PASS and verdict.aligned
    how = sender_authenticated(session, address, raw, dkim_aligned_pass=dkim_aligned_pass)
    actor = actor_for_address(session, address) if how else bare_actor(address)
    return MailSender(address, how, actor, signed_text(raw) if how is Proof.pgp else None)


def sender_authenticated(
    session: Session, address: str, raw: bytes, *, dkim_aligned_pass: bool
) -> Proof | None:
    """How the mail `raw` proves `address` (DKIM or PGP), or None.

    With 'pgp' only the signed text is vouched for, never the headers: callers that act
    on a header must not trust it then.
    """
    if dkim_aligned_pass:
        return Proof.dkim
    keys = registered_pgp_keys(session, address) if address else []
    if keys and verify_signature(raw, keys):
        return Proof.pgp
    return None
