"""A PGP-signed command names what it acts on, and acts once.

A PGP signature covers the text of a mail, never its headers (`mail.pgp`): the address it
was sent to, its Message-ID, In-Reply-To and References can all be rewritten under the
same signature. So a signed `!status approved` taken from the archive could be pointed at
another patchset, or a signed `!resolve` sent to another ticket's address, and act there
as the signer. Moderation answers are safe because their signed text must carry the
held post's token (`lists.moderation_mail`); every other command keeps the same rule here:

1. the signed text names the command's target: one of the names the domain gives (the
   patchset's or ticket's URL, its Message-ID, `TRACKER#N`...), as a whole word;
2. the signed text has not acted before: its SHA-256 is kept (`UsedSignedText`) the first
   time it does, and a second mail with the same text is refused, whatever its headers.

DKIM-authenticated commands are not asked this: the signature covers the headers that
say where the mail is meant to go (In-Reply-To, To; the domains check those, e.g.
`trackers.mail` wants the ticket's address in To or Cc). The caller checks the signature
itself (`accounts.sender_auth`) and passes the text it covers (`mail.pgp.signed_text`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from sqlalchemy.orm import Session

from core.errors import UserError
from mail.models import UsedSignedText

# A name counts only as a whole word: "bugs#1" is not named by "bugs#12", nor
# "<a@b>" by "<xa@b>"; a full stop ending a sentence ends the word too.
_BEFORE = r"(?<![A-Za-z0-9@._%+#-])"
_AFTER = r"(?![A-Za-z0-9@_%+#-]|\.[A-Za-z0-9])"


class SignedCommandRefused(UserError):
    """A PGP-signed command that may not act; the message says why, for the signer."""


def names_target(text: str, names: Sequence[str]) -> bool:
    """Whether `text` holds one of `names` as a whole word (URLs with or without their
    final slash)."""
    for name in names:
        name = name.strip()
        if not name:
            continue
        forms = {name, name.rstrip("/")} if name.endswith("/") else {name}
        for form in forms:
            pattern = _BEFORE + re.escape(form) + _AFTER
            if re.search(pattern, text, re.IGNORECASE):
                return True
    return False


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def use_signed_command(
    session: Session,
    text: str | None,
    names: Sequence[str] | None,
    *,
    purpose: str,
    target: str,
    how_to_name: str,
) -> None:
    """Let the signed text `text` act once on `target`, or raise SignedCommandRefused.

    `names` are the ways the signed text may name the target (None: the mail itself makes
    the target, as a report opening a ticket does, so only reuse is checked);
    `how_to_name` tells the signer what to write. The caller commits (or, refusing, the
    text stays unused)."""
    if not text:
        raise SignedCommandRefused("the signed text of this mail cannot be read")
    if names is not None and not names_target(text, names):
        raise SignedCommandRefused(
            "a PGP signature does not cover the address or the thread a mail is sent to,"
            f" so a signed command must name what it acts on in the signed text: {how_to_name}"
        )
    digest = text_digest(text)
    if session.get(UsedSignedText, digest) is not None:
        raise SignedCommandRefused(
            "this signed text has already been used once, and a signed command acts only"
            " once: sign a new mail to do it again"
        )
    session.add(UsedSignedText(digest=digest, purpose=purpose[:32], target=target[:998]))
    session.flush()
