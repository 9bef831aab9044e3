"""What intake accepts, drops or refuses, as pure functions over a parsed message.

Each check returns a `Decision`; none of them knows SMTP. `mta.replies.reply_for` is the
one place that turns a decision's reason into a reply code, so that the rules here can be
read (and tested on the corpus) without a server. The domains' address kinds
(`mail.address_kinds`) combine these checks into their posting policies.

Drop versus refuse: mail from a machine (auto-replies, our own list mail coming back) is
accepted and thrown away, because a refusal would bounce to a robot and could start a
loop; mail from a person that breaks a rule is refused, with a reason they can act on.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from archive.parse import ParsedMessage


class Outcome(enum.Enum):
    ACCEPT = "accept"
    DROP = "drop"  # answer 250, store nothing
    REJECT = "reject"  # answer 5xx with the reason
    HOLD = "hold"  # answer 250, keep it for the list's moderators (lists.moderation)


class Reason(enum.Enum):
    UNKNOWN_RECIPIENT = "unknown_recipient"
    TOO_BIG = "too_big"
    MISSING_HEADER = "missing_header"
    LIST_NOT_ADDRESSED = "list_not_addressed"
    HTML = "html"
    NO_PLAIN_TEXT = "no_plain_text"
    AUTO_SUBMITTED = "auto_submitted"
    LOOP = "loop"
    NOT_ALLOWED = "not_allowed"  # the sender lacks the right (lists.post_rights, trackers)
    MODERATED = "moderated"  # held until a moderator decides


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: Reason | None = None
    detail: str = ""  # for the person reading the bounce (or the log, for drops)

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPT


ACCEPT = Decision(Outcome.ACCEPT)


def drop(reason: Reason, detail: str) -> Decision:
    return Decision(Outcome.DROP, reason, detail)


def reject(reason: Reason, detail: str) -> Decision:
    return Decision(Outcome.REJECT, reason, detail)


def hold(detail: str) -> Decision:
    return Decision(Outcome.HOLD, Reason.MODERATED, detail)


def unknown_address(domain: str, address: str) -> Decision:
    """The refusal of an address that is nothing here (or nothing the sender may know)."""
    return reject(
        Reason.UNKNOWN_RECIPIENT,
        f"<{address}>: no such list here (lists are at NAME@{domain})",
    )


def first_objection(decisions: Iterable[Decision]) -> Decision:
    """The first decision that is not ACCEPT, else ACCEPT: checks are listed in order of
    precedence, drops before refusals."""
    for decision in decisions:
        if not decision.accepted:
            return decision
    return ACCEPT


def check_size(size: int, limit: int) -> Decision:
    if limit and size > limit:
        return reject(Reason.TOO_BIG, f"message too big: {size} bytes, the limit is {limit} bytes")
    return ACCEPT


def check_auto_submitted(msg: ParsedMessage) -> Decision:
    """RFC 3834: anything but `Auto-Submitted: no` was sent by a machine."""
    if msg.auto_submitted not in (None, "no"):
        return drop(Reason.AUTO_SUBMITTED, f"Auto-Submitted: {msg.auto_submitted}")
    return ACCEPT


def check_loop(msg: ParsedMessage, list_id: str) -> Decision:
    """Mail that already carries this list's List-Id went through the list once."""
    wanted = list_id.lower()
    if any(value.lower() == wanted for value in msg.list_ids):
        return drop(Reason.LOOP, f"already carries List-Id <{list_id}>")
    return ACCEPT


def check_required_headers(msg: ParsedMessage) -> Decision:
    """From, Subject and a usable Message-ID: the archive cannot thread, show or
    de-duplicate a message without them. A Message-ID that is there but cannot be used is
    called that, with what is wrong with it, not missing."""
    unusable_id = next(
        (
            p
            for p in msg.problems
            if p.startswith(("unusable Message-ID", "Message-ID too long"))
            and p != "unusable Message-ID: ''"  # an empty one is missing
        ),
        None,
    )
    missing = [
        name
        for name, present in (
            ("From", msg.from_ is not None and bool(msg.from_.addr)),
            ("Subject", bool(msg.subject.strip())),
            ("Message-ID", bool(msg.message_id) or unusable_id is not None),
        )
        if not present
    ]
    reasons = []
    if missing:
        reasons.append(
            f"missing or empty {', '.join(missing)} header{'s' if len(missing) > 1 else ''}"
        )
    if not msg.message_id and unusable_id is not None:
        # Quoted back in an SMTP reply, which is ASCII without SMTPUTF8.
        reasons.append(unusable_id.encode("ascii", "backslashreplace").decode("ascii"))
    if reasons:
        return reject(Reason.MISSING_HEADER, "; ".join(reasons))
    return ACCEPT


def check_list_addressed(msg: ParsedMessage, list_address: str) -> Decision:
    """The list's address must be in To or Cc: mail that reached the list by Bcc would
    produce replies that never come back to it."""
    wanted = list_address.lower()
    if any(a.addr.lower() == wanted for a in (*msg.to, *msg.cc)):
        return ACCEPT
    return reject(
        Reason.LIST_NOT_ADDRESSED, f"the list address <{list_address}> must be in To or Cc"
    )


def check_plain_text(msg: ParsedMessage) -> Decision:
    """SourceHut's rule: plain text only; an HTML part is refused even beside a text one,
    since readers in `mutt` or `aerc` and patch tools would see a different message."""
    if msg.has_html:
        return reject(Reason.HTML, "HTML email is not accepted on this list")
    if not msg.has_plain:
        return reject(Reason.NO_PLAIN_TEXT, "the message has no text/plain part")
    return ACCEPT
