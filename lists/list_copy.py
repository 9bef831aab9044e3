"""What a list subscriber receives, built from the bytes that were posted.

Every change is made on the posted bytes, and only where a rule asks for it: with no
option on, the header block and body the author signed go out byte for byte, below the
list's own headers, so the author's DKIM signature still verifies at every subscriber.
The options that must change signed bytes (subject tag, footer, DMARC mitigation) are
the list owner's choice. `list_copy` runs once per post; `add_unsubscribe_headers` runs
once per recipient, since one-click unsubscribe URLs are personal.

Nothing here raises on a malformed post: a rule that cannot be applied is skipped and
the rest still are, because a post is accepted before its copies are built.
"""

from __future__ import annotations

import email.policy
import enum
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.headerregistry import Address

from lists.list_copy_mime import (
    Field,
    SplitMessage,
    add_footer,
    fold_field,
    line_ending,
    phrase_words,
    split_message,
    text_words,
)
from mail.addresses import ListAddresses

log = logging.getLogger(__name__)


class Mitigation(enum.Enum):
    """The DMARC mitigation actually applied to one copy (`lists.dmarc` chooses it)."""

    none = "none"
    munge_from = "munge_from"
    wrap = "wrap"


@dataclass(frozen=True)
class ListIdentity:
    """What a list copy says about the list it came through."""

    name: str  # "dev"
    domain: str  # "lists.example.org"
    description: str  # one line, may be ""
    base_url: str  # "https://lists.example.org", no trailing slash
    subject_prefix: str = ""  # "" = no subject tag; "dev" -> "[dev] "
    footer: str = ""  # "" = no footer

    @property
    def addresses(self) -> ListAddresses:
        return ListAddresses(self.name, self.domain)

    @property
    def posting_address(self) -> str:
        return self.addresses.posting

    @property
    def bounces_address(self) -> str:
        return self.addresses.bounces

    @property
    def list_id(self) -> str:
        """The List-Id (RFC 2919) without its angle brackets."""
        return self.addresses.list_id

    @property
    def archive_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/{self.name}/"

    def command_address(self, command: str) -> str:
        """NAME+COMMAND@DOMAIN, the address mail asking for `command` goes to."""
        return self.addresses.at(command)


# Fields a copy must not carry over from the post (Mailman's cleanse): the list headers
# of a list the post came through, and requests for receipts every subscriber would send.
CLEANSED_FIELDS = frozenset(
    {
        "list-id",
        "list-post",
        "list-archive",
        "list-help",
        "list-subscribe",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-owner",
        "archived-at",
        "sender",
        "precedence",
        "return-path",
        "return-receipt-to",
        "disposition-notification-to",
        "x-confirm-reading-to",
        "x-pmrqc",
    }
)

# Fields the outer message of a wrapped post copies from it, in this order.
WRAP_COPIED_FIELDS = ("to", "cc", "subject", "date", "message-id", "in-reply-to", "references")

_UNSAFE_URL = re.compile(r"[^\x21-\x7e]|[<>\"]")


def list_copy(
    raw: bytes, ident: ListIdentity, *, archived_at: str, mitigation: Mitigation
) -> bytes:
    """The copy every subscriber gets, before the per-recipient unsubscribe headers."""
    try:
        msg = split_message(raw).without(CLEANSED_FIELDS)
    except Exception:  # noqa: BLE001  cannot happen on bytes; never worth losing the post
        log.exception("could not split a post; its copy carries it unchanged")
        return _list_headers(ident, archived_at, line_ending(raw)) + raw
    if mitigation is Mitigation.wrap:
        msg = _applied(_wrap, msg, raw, ident)
    elif mitigation is Mitigation.munge_from:
        msg = _applied(_munge_from, msg, ident)
    prefix = ident.subject_prefix.strip().strip("[]").strip()  # "[dev]" means "dev" too
    if prefix:
        msg = _applied(_tag_subject, msg, prefix)
    if ident.footer.strip():
        msg = add_footer(msg, ident.footer)
    return _list_headers(ident, archived_at, msg.eol) + msg.to_bytes()


def add_unsubscribe_headers(
    copy: bytes, ident: ListIdentity, *, one_click_url: str | None
) -> bytes:
    """Adds List-Unsubscribe (and List-Unsubscribe-Post when one_click_url is given).

    A separate step because the one-click URL (RFC 8058) is personal, while the rest of
    the copy is the same for every subscriber.
    """
    eol = line_ending(copy)
    mailto = f"<mailto:{ident.command_address('unsubscribe')}>"
    if one_click_url is None:
        return fold_field("List-Unsubscribe", [mailto], eol).raw + copy
    words = [f"<{_clean_url(one_click_url)}>,", mailto]
    return (
        fold_field("List-Unsubscribe", words, eol).raw
        + fold_field("List-Unsubscribe-Post", ["List-Unsubscribe=One-Click"], eol).raw
        + copy
    )


def _list_headers(ident: ListIdentity, archived_at: str, eol: bytes) -> bytes:
    """The list's own headers (RFC 2369, 2919, 5064), which go on top of every copy."""
    list_id = [f"<{ident.list_id}>"]
    if ident.description.strip():
        list_id = phrase_words(ident.description) + list_id
    fields = [
        ("List-Id", list_id),
        ("List-Post", [f"<mailto:{ident.posting_address}>"]),
        ("List-Help", [f"<mailto:{ident.command_address('help')}>"]),
        ("List-Archive", [f"<{_clean_url(ident.archive_url)}>"]),
        ("Archived-At", [f"<{_clean_url(archived_at)}>"] if archived_at.strip() else []),
        ("List-Subscribe", [f"<mailto:{ident.command_address('subscribe')}>"]),
        ("Sender", [ident.bounces_address]),
        ("Precedence", ["list"]),
    ]
    return b"".join(fold_field(name, words, eol).raw for name, words in fields if words)


def _clean_url(url: str) -> str:
    """`url` as one ASCII token that cannot end the <...> around it or the header line."""

    def escaped(match: re.Match[str]) -> str:
        return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "replace"))

    return _UNSAFE_URL.sub(escaped, url)


def _applied(rule: Callable[..., SplitMessage], msg: SplitMessage, *args: object) -> SplitMessage:
    """`rule(msg, ...)`, or `msg` unchanged when the rule fails on this post."""
    try:
        return rule(msg, *args)
    except Exception:  # noqa: BLE001  one rule failing must not cost the copy
        log.exception("list copy: %s failed; skipped for this post", rule.__name__)
        return msg


def _authors(field: Field) -> list[Address]:
    """The addresses in a From field (only those with a local part)."""
    header = email.policy.default.header_factory("from", field.text())
    return [a for a in header.addresses if a.username]


def _munged_from(authors: list[Address], ident: ListIdentity, eol: bytes) -> Field:
    """From: "Author via list" <list address>, so DMARC looks at the list's domain."""
    author = authors[0].display_name.strip() or authors[0].username
    words = [*phrase_words(f"{author} via {ident.name}"), f"<{ident.posting_address}>"]
    return fold_field("From", words, eol)


def _with_value(name: str, value: bytes, eol: bytes) -> Field:
    """A field carrying another field's raw value, folding and all."""
    return Field(name.lower(), f"{name}:".encode() + value + eol)


def _munge_from(msg: SplitMessage, ident: ListIdentity) -> SplitMessage:
    """Mailman's munge_from: the list in From, the author in Reply-To (or Cc, when the
    author already chose a Reply-To). Only From, Reply-To and Cc change."""
    original = msg.first("from")
    authors = _authors(original) if original else []
    if original is None or not authors:
        return msg
    eol = msg.eol
    added = [_munged_from(authors, ident, eol)]
    fields = list(msg.fields)
    cc = msg.first("cc")
    if msg.first("reply-to") is None:
        added.append(_with_value("Reply-To", original.value, eol))
    elif cc is None:
        added.append(_with_value("Cc", original.value, eol))
    elif not {a.addr_spec.lower() for a in authors} <= _addr_specs(cc):
        existing = cc.value.rstrip()
        joined = existing + b"," + eol if existing.strip() else b""
        fields[fields.index(cc)] = _with_value("Cc", joined + b" " + original.value.strip(), eol)
    at = fields.index(original)
    fields = (
        [f for f in fields[:at] if f.name != "from"]
        + added
        + [f for f in fields[at + 1 :] if f.name != "from"]
    )
    return replace(msg, fields=tuple(fields))


def _addr_specs(field: Field) -> set[str]:
    try:
        header = email.policy.default.header_factory("cc", field.text())
        return {a.addr_spec.lower() for a in header.addresses}
    except Exception:  # noqa: BLE001  an unreadable Cc holds nobody we can recognize
        return set()


def _wrap(msg: SplitMessage, raw: bytes, ident: ListIdentity) -> SplitMessage:
    """Mailman's wrap_message: the post, untouched, inside a message/rfc822 from the list.

    The inner message is the post as it arrived, so the author's signature still
    verifies on it; the outer copies the headers a reader needs to sort and reply.
    """
    eol = msg.eol
    original = msg.first("from")
    authors = _authors(original) if original else []
    fields: list[Field] = [_munged_from(authors, ident, eol)] if authors else []
    reply_to = msg.first("reply-to") or original
    if reply_to is not None:
        fields.append(_with_value("Reply-To", reply_to.value, eol))
    for name in WRAP_COPIED_FIELDS:
        field = msg.first(name)
        if field is not None:
            fields.append(field)
    fields.append(fold_field("MIME-Version", ["1.0"], eol))
    fields.append(fold_field("Content-Type", ["message/rfc822"], eol))
    fields.append(fold_field("Content-Disposition", ["inline"], eol))
    if not raw.isascii():  # RFC 2046: message/rfc822 is 7bit unless declared otherwise
        fields.append(fold_field("Content-Transfer-Encoding", ["8bit"], eol))
    return SplitMessage(tuple(fields), eol, raw, eol)


def _tag_subject(msg: SplitMessage, prefix: str) -> SplitMessage:
    """Subject: [prefix] subject, unless the tag is in it already (a reply's "Re: [dev]
    x" keeps its one tag). Only the Subject field changes."""
    field = msg.first("subject")
    if field is None:
        return msg
    subject = str(email.policy.default.header_factory("subject", field.text())).strip()
    tag = f"[{prefix}]"
    if tag.lower() in subject.lower():
        return msg
    subject = subject.encode("utf-8", "replace").decode("utf-8")  # undecodable bytes -> ?
    new = fold_field("Subject", [tag, *text_words(subject)] if subject else [tag], msg.eol)
    fields = tuple(new if f is field else f for f in msg.fields)
    return replace(msg, fields=fields)
