"""The kinds of address a domain answers at, declared by the domain and walked by the SMTP
face (`mta.routing`), which knows no domain.

Like lists.sr.ht's dispatch table, one `AddressKind` says everything about one form of
address: the pattern of its local part, how to find what it names, who may not even learn
that it exists, what is asked of a message at DATA, and what is done with the mail. A
domain lists its kinds in its `addresses.py`; `mailyard/wiring.py` puts them in the order
they are tried.

At RCPT: for each kind in order whose `pattern` fully matches the lower-cased local part,
`screen` may refuse the envelope sender, then `find_target` returns the target (a plain
object that outlives the session), a refusal, or None to let later kinds try.

At DATA, for each recipient: `judge` (the message alone: robots, loops, posting policy),
then, if it accepted, `judge_rights` (the database: who may). Accepted mail is then either
stored through the group-commit writer (`store`: archived before the answer, many
messages per transaction) or handled (`handle`: in one transaction of its own, committed
before the answer). A kind has exactly one of the two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from archive.parse import ParsedMessage
from archive.store import StoreResult
from core.settings import Settings
from mail.models import OutboxMessage
from mail.policy import Decision

# (session, settings, the pattern's match) -> target | refusal | None (let later kinds try)
FindTarget = Callable[[Session, Settings, re.Match[str]], Any]
# (session, settings, the RCPT address, the match, the envelope sender) -> refusal | None
Screen = Callable[[Session, Settings, str, re.Match[str], str], Decision | None]
Judge = Callable[[ParsedMessage, Any], Decision]
JudgeRights = Callable[[Session, Settings, ParsedMessage, bytes, Any], Decision]
Handle = Callable[[Session, Settings, ParsedMessage, bytes, Any], None]


@dataclass(frozen=True)
class Routed:
    """One recipient of a message to store, as routing and judging left it."""

    address: str  # as the client gave it in RCPT TO
    target: Any
    decision: Decision  # accepted, or held


# (raw, parsed, envelope sender, the message's recipients of this kind) -> what `store`
# takes; runs off the event loop (it may ask DNS).
PrepareStore = Callable[[bytes, ParsedMessage, str, list[Routed]], Any]
# (session, settings, payloads) -> (one result per payload, the outbox rows it made); in the
# writer's transaction, which the writer commits.
StoreBatch = Callable[[Session, Settings, list[Any]], tuple[list[StoreResult], list[OutboxMessage]]]


@dataclass(frozen=True)
class Stored:
    """How a kind's mail is stored by the group-commit writer."""

    prepare: PrepareStore
    store: StoreBatch


@dataclass(frozen=True)
class AddressKind:
    name: str  # for logs and tests: 'list-post', 'tracker'...
    pattern: re.Pattern[str]  # full match on the lower-cased local part
    find_target: FindTarget
    judge: Judge
    screen: Screen | None = None
    judge_rights: JudgeRights | None = None
    handle: Handle | None = None
    stored: Stored | None = None

    def __post_init__(self) -> None:
        if (self.handle is None) == (self.stored is None):
            raise ValueError(f"address kind {self.name!r} needs one of handle and stored")

    def __repr__(self) -> str:
        return f"<AddressKind {self.name}>"
