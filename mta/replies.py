"""The one place that turns decisions into SMTP replies (`reply_for`), and the rewording
of aiosmtpd's own refusals into the same shape.

Domains decide (`mail.policy.Decision`: accept, drop, hold or refuse, with a reason);
nothing below this module knows a reply code.
"""

from __future__ import annotations

import unicodedata

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope

from core.errors import UserError
from mail.policy import Decision, Outcome, Reason, reject
from mail.submission import CredentialsRefused, SenderRefused, TooManyAttempts

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

# Refusals of signing in, or of sending as someone, on the submission port -> (reply code,
# enhanced status code), as RFC 4954 words them for AUTH.
_ERRORS: dict[type[UserError], tuple[str, str]] = {
    CredentialsRefused: ("535", "5.7.8"),
    TooManyAttempts: ("454", "4.7.0"),
    SenderRefused: ("550", "5.7.1"),
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


def reply_for(decision: Decision | UserError) -> str:
    """The SMTP reply for a decision or a refusal: the one mapping from reasons to codes."""
    if isinstance(decision, UserError):
        code, status = next(
            (v for k, v in _ERRORS.items() if isinstance(decision, k)), ("550", "5.7.1")
        )
        if code == "535":
            return format_reply(code, status, [f"Authentication credentials invalid: {decision}"])
        return format_reply(code, status, [_sentence(str(decision))])
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


def address_refusal(address: str, smtputf8: bool) -> str | None:
    """The refusal of an envelope address that cannot be taken as sent, or None: one with
    control characters or bytes that are not UTF-8, or non-ASCII without the SMTPUTF8
    parameter (RFC 6531 3.4: the client must ask for it in MAIL FROM)."""
    if any(_is_hidden(c) for c in address):
        return "553 5.1.7 The address contains control characters or bytes that are not UTF-8"
    if not address.isascii() and not smtputf8:
        return (
            "553 5.6.7 Non-ASCII address without SMTPUTF8 (RFC 6531):"
            " give the SMTPUTF8 parameter in MAIL FROM"
        )
    return None


def _is_hidden(char: str) -> bool:
    """A control character, or a byte that was not UTF-8 (aiosmtpd decodes arguments with
    surrogateescape): never written into a reply as it is."""
    return unicodedata.category(char) in ("Cc", "Cs")


def visible(line: str) -> str:
    """`line` with every control character and stray byte shown as `\\xNN`, so that what
    a client sent is never echoed raw (a NUL, a CR that would split the reply)."""
    if not any(_is_hidden(c) for c in line):
        return line
    return "".join(
        f"\\x{(ord(c) - 0xDC00 if 0xDC80 <= ord(c) <= 0xDCFF else ord(c)):02x}"
        if _is_hidden(c)
        else c
        for c in line
    )


def too_big(limit: int) -> Decision:
    return reject(Reason.TOO_BIG, f"Message too big: the limit is {limit} bytes")


# aiosmtpd's own size refusals (at MAIL FROM SIZE= and at the end of DATA), and its
# refusals that end a DATA phase.
_BUILTIN_SIZE_REFUSALS = ("552 Error: message size exceeds", "552 Error: Too much mail data")
_BUILTIN_DATA_ENDINGS = ("552 Error: Too much mail data", "500 Line too long")


class _IntakeReplies:
    """Rewords aiosmtpd's built-in size refusals as `552 5.3.4`, in LMTP repeats a
    refusal that ends DATA once per recipient, as RFC 2033 wants, and shows control
    characters in every reply as escapes (`visible`)."""

    data_size_limit: int | None
    envelope: Envelope | None

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str):
            status = "\r\n".join(visible(line) for line in status.split("\r\n"))
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
