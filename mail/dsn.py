"""Reading bounces: did a returned message report a failure, a delay, or nothing at all?

Bounces come back to a list's VERP address (`mail.verp`), which already names the
subscriber; this module reads the message itself, so that delay warnings and vacation
replies (which must never count against a subscriber) are told apart from real failures,
and so that the failed addresses and status codes can be shown in the bounce log.

Standard delivery status notifications (RFC 3464) are read field by field. The older
plain-text failure notices (qmail, Exim, sendmail, Exchange without a report part) are
read by heuristics: they are recognised by sender and subject, and their addresses are
found where each of those programs writes them. Bytes in, a `Bounce` out; never raises.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import parseaddr
from enum import StrEnum

log = logging.getLogger(__name__)

DIAGNOSTIC_MAX = 500
NOTICE_MAX = 200_000  # characters of a plain-text notice worth reading; the rest is a copy


class BounceKind(StrEnum):
    permanent = "permanent"  # delivery failed for good: counts against the subscriber
    temporary = "temporary"  # delayed (4.x.x): the MTA is still trying; counts for nothing
    not_a_bounce = "not_a_bounce"  # auto-replies, challenges, success reports, anything else


@dataclass(frozen=True)
class FailedRecipient:
    address: str  # Final-Recipient (else Original-Recipient), type stripped, lower-cased
    status: str  # "5.1.1"; for plain-text notices a 3-digit SMTP code may stand in; or ""
    diagnostic: str  # what the remote server said, one line, at most DIAGNOSTIC_MAX chars
    permanent: bool


@dataclass(frozen=True)
class Bounce:
    kind: BounceKind
    recipients: list[FailedRecipient]  # may be empty: a failure notice nobody could parse


def read_bounce(raw: bytes) -> Bounce:
    """What `raw`, received at a bounce address, says about delivery; never raises.

    Anything that cannot be read is `not_a_bounce`: a subscriber must not be removed on
    the strength of a message nobody understood.
    """
    try:
        return _read(raw)
    except Exception:  # noqa: BLE001  a hostile or broken message must not fail intake
        log.exception("could not read a bounce; counting it as not a bounce")
        return Bounce(BounceKind.not_a_bounce, [])


def _read(raw: bytes) -> Bounce:
    msg = message_from_bytes(raw, policy=compat32)
    parts = list(_own_parts(msg))
    reported = [
        pair for part in parts if part.get_content_type() in _STATUS_TYPES for pair in _report(part)
    ]
    if reported:
        return Bounce(_kind_of(reported), [recipient for recipient, _ in reported])

    subject = _header(msg, "subject")
    from_daemon = _is_daemon(msg)
    if not from_daemon and _is_auto_reply(msg, subject):
        return Bounce(BounceKind.not_a_bounce, [])
    failed_header = [_header_value(v) for v in msg.get_all("x-failed-recipients", [])]
    if not (from_daemon or failed_header or _FAILURE_SUBJECT.match(subject)):
        return Bounce(BounceKind.not_a_bounce, [])
    if _SUCCESS_SUBJECT.match(subject) and not failed_header:
        return Bounce(BounceKind.not_a_bounce, [])  # a success report without its report part

    text = _notice_text(parts)
    delayed = not _FAILURE_SUBJECT.match(subject) and bool(
        _DELAY_SUBJECT.search(subject) or _DELAY_TEXT.search(text)
    )
    recipients = _notice_recipients(text, failed_header, permanent=not delayed)
    return Bounce(BounceKind.temporary if delayed else BounceKind.permanent, recipients)


# --- Where to look -------------------------------------------------------------------------

_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# A returned copy of the original message: whatever it says is not about this delivery.
_RETURNED_TYPES = frozenset(
    {"message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"}
)


def _own_parts(msg: Message) -> Iterator[Message]:
    """Every MIME part of the notice itself, not descending into the returned message."""
    yield msg
    ctype = msg.get_content_type()
    if ctype in _RETURNED_TYPES or ctype in _STATUS_TYPES or not msg.is_multipart():
        return
    for sub in msg.get_payload():
        if isinstance(sub, Message):
            yield from _own_parts(sub)


# --- RFC 3464 reports ----------------------------------------------------------------------

_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient")


def _report(part: Message) -> list[tuple[FailedRecipient, bool]]:
    """One (recipient, delayed?) per per-recipient block of a delivery-status part.

    The first block is per-message. A block without a recipient field after a recipient
    block is taken for the rest of that recipient's fields, split off by a stray blank line.
    """
    recipients: list[dict[str, str]] = []
    for block in _status_blocks(part):
        if any(name in block for name in _RECIPIENT_FIELDS):
            recipients.append(dict(block))
        elif recipients:
            for name, value in block.items():
                recipients[-1].setdefault(name, value)
    return [pair for fields in recipients if (pair := _recipient(fields)) is not None]


def _recipient(fields: dict[str, str]) -> tuple[FailedRecipient, bool] | None:
    address = _report_address(fields.get("final-recipient", "")) or _report_address(
        fields.get("original-recipient", "")
    )
    if not address:
        return None
    action = fields.get("action", "").split("(")[0].strip().lower()
    diagnostic = _strip_type(fields.get("diagnostic-code", ""))
    status = _enhanced_code(fields.get("status", "")) or _smtp_code(diagnostic)
    if action in _ACTIONS:
        permanent, delayed = action == "failed", action == "delayed"
    else:  # no Action, or one nobody defined: the status class decides
        permanent, delayed = status.startswith("5"), status.startswith("4")
    return FailedRecipient(address, status, _one_line(diagnostic), permanent), delayed


def _kind_of(reported: Iterable[tuple[FailedRecipient, bool]]) -> BounceKind:
    pairs = list(reported)
    if any(recipient.permanent for recipient, _ in pairs):
        return BounceKind.permanent
    if any(delayed for _, delayed in pairs):
        return BounceKind.temporary
    return BounceKind.not_a_bounce  # delivered, relayed, expanded: a success report


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The header blocks of a delivery-status part, field names lower-cased."""
    payload = part.get_payload()
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    encoded = encoding in ("base64", "quoted-printable")
    if not isinstance(payload, list):
        text = _part_text(part)
    elif part.get_content_type() == "message/delivery-status" and not encoded:
        # The parser has already split message/delivery-status into header blocks.
        return [_fields(block.items()) for block in payload if isinstance(block, Message)]
    else:
        # The parser read encoded text as header blocks, or message/global-delivery-status
        # as a message: put the text back together.
        text = "\n".join(b.as_string(maxheaderlen=0) for b in payload if isinstance(b, Message))
        if encoded:
            decoder = Message()
            decoder["Content-Transfer-Encoding"] = encoding
            decoder.set_payload(text)
            text = _bytes_text(decoder.get_payload(decode=True), "utf-8")
    return [_fields(_header_lines(block)) for block in _blank_line_blocks(text)]


def _blank_line_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def _header_lines(lines: list[str]) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name.strip(), value.strip()))
    return fields


def _fields(items: Iterable[tuple[str, object]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in items:
        fields.setdefault(name.strip().lower(), " ".join(str(value).split()))
    return fields


def _report_address(value: str) -> str:
    """'rfc822; <Alice@Example.org>' -> 'alice@example.org'."""
    kind, semi, rest = value.partition(";")
    if semi and re.fullmatch(r"\s*[A-Za-z][\w.-]*\s*", kind):
        value = rest
    value = re.sub(r"\([^()]*\)", " ", value).strip()  # comments
    bracketed = re.search(r"<([^<>]*)>", value)
    if bracketed:
        value = bracketed.group(1)
    return value.strip().strip("<>").strip().lower()


def _strip_type(diagnostic: str) -> str:
    """'smtp; 550 5.1.1 No such user' -> '550 5.1.1 No such user'."""
    return re.sub(r"^\s*[A-Za-z][\w-]*\s*;\s*", "", diagnostic)


# --- Auto-replies --------------------------------------------------------------------------

_AUTO_REPLY_SUBJECT = re.compile(
    r"\s*+(out of (the )?office|automatic reply|auto(matic)?[ -]?reply|autoreply|auto:|"
    r"auto-response|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|"
    r"respuesta autom[áa]tica|risposta automatica|automatisch antwoord|autosvar|"
    r"on vacation|vacation reply|away from (the )?office)",
    re.IGNORECASE,
)


def _is_auto_reply(msg: Message, subject: str) -> bool:
    if any(name in msg for name in ("x-autoreply", "x-autorespond")):
        return True
    if _header(msg, "precedence").lower() == "auto_reply":
        return True
    if _header(msg, "x-autogenerated").lower() == "reply":
        return True
    if _AUTO_REPLY_SUBJECT.match(subject):
        return True
    # Auto-Submitted alone decides nothing more: Postfix and Exim put it on bounces too,
    # and a message without bounce evidence is not a bounce either way.
    return False


# --- Plain-text failure notices ------------------------------------------------------------

_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster"})
_DAEMON_NAMES = re.compile(r"mail delivery (subsystem|system)|mailer-daemon", re.IGNORECASE)
_FAILURE_SUBJECT = re.compile(
    r"\s*+(undelivered mail|undeliverable|undeliverable mail|mail delivery failed|"
    r"failure notice|delivery status notification \(failure\)|returned mail\b|"
    r"mail delivery failure|delivery failure|delivery has failed|message not delivered|"
    r"non-?delivery|nondeliverable|unzustellbar|non remis|onbestelbaar|non recapitabile|"
    r"no se puede entregar)",
    re.IGNORECASE,
)
_SUCCESS_SUBJECT = re.compile(
    r"\s*+(delivery status notification \((success|relay)\)|delivered:|relayed:|"
    r"successful mail delivery report)",
    re.IGNORECASE,
)
_DELAY_SUBJECT = re.compile(
    r"\bdelay(ed)?\b|could not send message for past|still trying|not yet delivered",
    re.IGNORECASE,
)
_DELAY_TEXT = re.compile(
    r"has not yet been delivered|will (continue to|keep) try(ing)?|this is a warning only|"
    r"no action is required on your part",
    re.IGNORECASE,
)
# Where the notice ends and its copy of the returned message begins.
_RETURNED_MARKER = re.compile(
    r"^[ \t]*+-{2,}+[^\n]*?\b(copy of the message|original message|returned message|"
    r"message headers|header of the original|body of the message|undelivered message|"
    r"message follows)\b",
    re.IGNORECASE | re.MULTILINE,
)
_ATEXT = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]"
# The lookbehind starts a match only where a run of address characters starts: linear time.
_ADDRESS = rf"(?<!{_ATEXT}){_ATEXT}+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_QMAIL_LINE = re.compile(rf"^<({_ADDRESS})>:(.*)$")
_EXIM_INTRO = re.compile(
    r"(could\s+not|has\s+not\s+yet)\s+be(en)?\s+delivered\s+to\s+one\s+or\s+more", re.IGNORECASE
)
_EXIM_LINE = re.compile(rf"^[ \t]{{1,3}}<?({_ADDRESS})>?\s*$")
_SENDMAIL_INTRO = re.compile(r"the following addresses? had permanent", re.IGNORECASE)
_SENDMAIL_LINE = re.compile(rf"^\s*<({_ADDRESS})>\s*$")
_ANY_ADDRESS = re.compile(_ADDRESS)
_BARE_ADDRESS = re.compile(rf"<?{_ADDRESS}>?(\s*<mailto:{_ADDRESS}>)?")
_ENHANCED = re.compile(r"(?<![\w.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
_REPLY_CODE = re.compile(r"(?<![\w.-])([45]\d\d)(?![\w-]|\.\d)")
# A failure code on a line of its own kind: 4.x.x / 5.x.x, or a 4xx / 5xx reply.
_FAILURE_CODE = re.compile(rf"(?<![\w.])[45]\.\d{{1,3}}\.\d{{1,3}}(?!\.?\d)|{_REPLY_CODE.pattern}")


def _is_daemon(msg: Message) -> bool:
    raw_from = str(msg.get("from", ""))
    _, address = parseaddr(raw_from)
    if address.rpartition("@")[0].lower() in _DAEMON_LOCAL_PARTS:
        return True
    return bool(_DAEMON_NAMES.search(_header(msg, "from")))


def _notice_text(parts: list[Message]) -> str:
    """The human-readable text of the notice, cut before any copy of the returned mail."""
    texts = [_part_text(p)[:NOTICE_MAX] for p in parts if p.get_content_type() == "text/plain"]
    if not any(t.strip() for t in texts):
        texts = [
            _html_text(_part_text(p)[:NOTICE_MAX])
            for p in parts
            if p.get_content_type() == "text/html"
        ]
    text = "\n".join(texts)[:NOTICE_MAX]
    marker = _RETURNED_MARKER.search(text)
    return text[: marker.start()] if marker else text


def _notice_recipients(
    text: str, failed_header: list[str], *, permanent: bool
) -> list[FailedRecipient]:
    """The failed addresses as qmail, Postfix, Exim or sendmail write them, else any line
    naming an address beside a failure code; then Exim's X-Failed-Recipients."""
    lines = text.splitlines()
    found = _qmail_style(lines) or _exim_style(lines) or _sendmail_style(lines)
    found = found or _generic_style(lines)
    for value in failed_header:
        found += [(m.group(0), []) for m in _ANY_ADDRESS.finditer(value)]

    recipients: dict[str, FailedRecipient] = {}
    for address, window in found:
        key = address.lower()
        if key in recipients:
            continue
        diagnostic = _one_line(" ".join(window))
        status = _enhanced_code(diagnostic) or _smtp_code(diagnostic)
        recipients[key] = FailedRecipient(key, status, diagnostic, permanent)
    return list(recipients.values())


def _qmail_style(lines: list[str]) -> list[tuple[str, list[str]]]:
    """qmail and Postfix: '<addr>:' opens a paragraph about that address."""
    found: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in lines:
        match = _QMAIL_LINE.match(line.strip())
        if match:
            current = [match.group(2)]
            found.append((match.group(1), current))
        elif current is not None and line.strip():
            current.append(line)
        else:
            current = None
    return found


def _exim_style(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Exim: after its intro, each failed address indented two spaces, details below."""
    start = next((i for i, line in enumerate(lines) if _EXIM_INTRO.search(line)), None)
    if start is None:
        joined = " ".join(lines)
        if not _EXIM_INTRO.search(joined):
            return []
        start = -1  # the intro is wrapped across lines: look at every line
    found: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in lines[start + 1 :]:
        match = _EXIM_LINE.match(line)
        if match:
            current = []
            found.append((match.group(1), current))
        elif current is not None and line[:4].isspace() and line.strip():
            current.append(line)
        else:
            current = None
    return found


def _sendmail_style(lines: list[str]) -> list[tuple[str, list[str]]]:
    """sendmail: '<addr>' lines under 'The following addresses had permanent fatal errors',
    each followed by an indented '(reason: ...)'."""
    start = next((i for i, line in enumerate(lines) if _SENDMAIL_INTRO.search(line)), None)
    if start is None:
        return []
    found: list[tuple[str, list[str]]] = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        match = _SENDMAIL_LINE.match(line)
        if match:
            found.append((match.group(1), []))
        elif found:
            found[-1][1].append(line)
    return found


def _generic_style(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Any address on a line with a failure code, or alone on a line above one (Exchange)."""
    found: list[tuple[str, list[str]]] = []
    for i, line in enumerate(lines):
        addresses = _ANY_ADDRESS.findall(line)
        if not addresses:
            continue
        window = [line]
        if _BARE_ADDRESS.fullmatch(line.strip()):
            window += [following for following in lines[i + 1 :] if following.strip()][:1]
        if _FAILURE_CODE.search(" ".join(window)):
            found += [(address, window) for address in addresses]
    return found


# --- Small readers -------------------------------------------------------------------------


def _enhanced_code(text: str) -> str:
    match = _ENHANCED.search(text)
    return match.group(1) if match else ""


def _smtp_code(text: str) -> str:
    """An enhanced status code in `text`, else a 3-digit failure reply code, else ''."""
    return _enhanced_code(text) or ((m := _REPLY_CODE.search(text)) and m.group(1)) or ""


def _one_line(text: str) -> str:
    return " ".join(text.split())[:DIAGNOSTIC_MAX]


def _header(msg: Message, name: str) -> str:
    """A header decoded from RFC 2047 and unfolded; '' when missing or unreadable."""
    value = msg.get(name)
    return "" if value is None else _one_line(_header_value(value))


def _header_value(value: object) -> str:
    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # noqa: BLE001  a bad encoded-word: keep the text as it came
        return str(value)


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return _bytes_text(payload, part.get_content_charset() or "utf-8")


def _bytes_text(data: object, charset: str) -> str:
    if not isinstance(data, bytes):
        return ""
    try:
        return data.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", "replace")


def _html_text(markup: str) -> str:
    markup = _drop_elements(_drop_elements(markup, "script"), "style")
    markup = re.sub(r"(?i)<br\s*/?>|</(p|div|tr|li|h\d)\s*>", "\n", markup)
    return html.unescape(re.sub(r"<[^<>]*>", " ", markup))


def _drop_elements(markup: str, tag: str) -> str:
    """`markup` without its <tag>...</tag> elements, in linear time (a regex backtracks over
    a hostile run of unclosed tags)."""
    lower = markup.lower()
    kept: list[str] = []
    pos = 0
    while (start := lower.find(f"<{tag}", pos)) != -1:
        kept.append(markup[pos:start])
        end = lower.find(f"</{tag}", start)
        close = lower.find(">", end) if end != -1 else -1
        pos = close + 1 if close != -1 else len(markup)
    kept.append(markup[pos:])
    return "".join(kept)
