"""How often someone may try to sign in, sign up or ask for mail (sign-up and reset
links, subscription confirmations), per address and per IP.

Each attempt is a row (`RateLimitHit`) keyed by the action and who it is about
("login:ip:192.0.2.1", "reset:address:ada@example.com"), so the count is shared by every
web worker and survives restarts. An attempt over the limit raises `RateLimited` with the
seconds until the oldest counted attempt leaves the window (for Retry-After).

Counting then recording is not one atomic step: workers racing on one key may let a
couple of attempts more through. That is the price of needing no lock, and a few extra
tries do not change what a limit of ten per quarter hour protects against.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from accounts.models import RateLimitHit
from core.db import utcnow
from core.errors import UserError

KEY_MAX = 300  # RateLimitHit.key's length


@dataclass(frozen=True)
class Limit:
    action: str  # "login:ip": what is limited, and by whom it is counted
    count: int  # attempts allowed...
    seconds: int  # ...within this sliding window

    def key(self, subject: str) -> str:
        return f"{self.action}:{subject.strip().lower()}"[:KEY_MAX]

    def describe(self) -> str:
        minutes = self.seconds // 60
        window = f"{minutes // 60} hour" if minutes % 60 == 0 else f"{minutes} minutes"
        return f"{self.count} per {window}"


# Sign-in: every attempt counts per IP; failed attempts count per account (or per name
# typed, when it names nobody), so a known password still works from a fresh IP.
LOGIN_PER_IP = Limit("login:ip", 10, 15 * 60)
LOGIN_PER_ACCOUNT = Limit("login:account", 5, 15 * 60)
# Sign-up sends a confirmation mail: limited per IP and per address it is sent to.
SIGNUP_PER_IP = Limit("signup:ip", 5, 3600)
SIGNUP_PER_ADDRESS = Limit("signup:address", 3, 3600)
# Password reset mails.
RESET_PER_ADDRESS = Limit("reset:address", 3, 3600)
RESET_PER_IP = Limit("reset:ip", 10, 3600)
# Confirmation mails sent again, and mails asking to confirm an added address.
RESEND_PER_ACCOUNT = Limit("resend:account", 3, 3600)
ADDRESS_MAIL_PER_USER = Limit("address:user", 5, 3600)
# Mails asking to confirm a subscription or a follow (lists and trackers, by mail or on
# the web): per address they go to, so forged requests cannot flood a mailbox, and per
# web client.
CONFIRMATION_PER_ADDRESS = Limit("confirm:address", 5, 3600)
CONFIRMATION_PER_IP = Limit("confirm:ip", 10, 3600)

ALL_LIMITS = (
    LOGIN_PER_IP,
    LOGIN_PER_ACCOUNT,
    SIGNUP_PER_IP,
    SIGNUP_PER_ADDRESS,
    RESET_PER_ADDRESS,
    RESET_PER_IP,
    RESEND_PER_ACCOUNT,
    ADDRESS_MAIL_PER_USER,
    CONFIRMATION_PER_ADDRESS,
    CONFIRMATION_PER_IP,
)
LONGEST = max(limit.seconds for limit in ALL_LIMITS)
PRUNE_ONE_IN = 50  # how often a recorded hit also sweeps everyone's old hits


class RateLimited(UserError):
    """Too many attempts; `retry_after` seconds until the next one is allowed."""

    def __init__(self, limit: Limit, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = max(1, retry_after)
        minutes = math.ceil(self.retry_after / 60)
        super().__init__(
            f"too many attempts ({limit.describe()}); try again in"
            f" {minutes} minute{'s' if minutes != 1 else ''}"
        )


def check(session: Session, limit: Limit, subject: str, now: datetime | None = None) -> None:
    """Raise RateLimited if `subject` has used up `limit`; record nothing."""
    now = now or utcnow()
    times = list(
        session.scalars(
            select(RateLimitHit.at)
            .where(RateLimitHit.key == limit.key(subject))
            .where(RateLimitHit.at > now - timedelta(seconds=limit.seconds))
            .order_by(RateLimitHit.at)
        )
    )
    if len(times) >= limit.count:
        # Allowed again once enough of the oldest have left the window.
        frees_at = times[len(times) - limit.count] + timedelta(seconds=limit.seconds)
        raise RateLimited(limit, math.ceil((frees_at - now).total_seconds()))


def record(session: Session, limit: Limit, subject: str, now: datetime | None = None) -> None:
    """Count one attempt by `subject` (the caller commits), forgetting its expired ones."""
    now = now or utcnow()
    key = limit.key(subject)
    session.execute(
        delete(RateLimitHit)
        .where(RateLimitHit.key == key)
        .where(RateLimitHit.at <= now - timedelta(seconds=limit.seconds))
    )
    session.add(RateLimitHit(key=key, at=now))
    if secrets.randbelow(PRUNE_ONE_IN) == 0:
        prune_hits(session, now)


def hit(session: Session, limit: Limit, subject: str, now: datetime | None = None) -> None:
    """`check`, then `record`: an attempt that counts whatever its outcome."""
    check(session, limit, subject, now)
    record(session, limit, subject, now)


def prune_hits(session: Session, now: datetime | None = None) -> int:
    """Forget every hit older than the longest window (keys that never came back)."""
    now = now or utcnow()
    result = session.execute(
        delete(RateLimitHit).where(RateLimitHit.at <= now - timedelta(seconds=LONGEST))
    )
    return cast(CursorResult, result).rowcount or 0
