"""Is the From address of a mail authenticated? The one answer every action by mail asks
(DESIGN: a DKIM signature that passes and is aligned with the From domain, or a PGP
signature by a key registered for the address)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mta.keys import registered_pgp_keys
from mta.pgp import verify_signature


def sender_authenticated(
    session: Session, address: str, raw: bytes, *, dkim_aligned_pass: bool
) -> str | None:
    """'dkim' or 'pgp' when `address` is authenticated by the mail `raw`, else None.

    With 'pgp' only the signed text is vouched for, never the headers: callers that act
    on a header must not trust it then.
    """
    if dkim_aligned_pass:
        return "dkim"
    keys = registered_pgp_keys(session, address) if address else []
    if keys and verify_signature(raw, keys):
        return "pgp"
    return None
