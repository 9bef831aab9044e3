"""Sign-in sessions kept on the server, so that signing out means it.

The browser's cookie holds a random key; the database holds its SHA-256 in a
`SignInSession` row that says who is signed in. Signing out ends the row (a copy of the
cookie opens nothing any more), a new password ends every other row of the user, and a
session begun by a login link records the link's digest, unique: a link signs in once.
Ended rows are kept a day (longer than a link lives, so a used link stays used), then
pruned.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.mail import LinkRefused
from accounts.models import SignInSession, User
from core.db import utcnow

ENDED_KEPT = timedelta(days=1)


def begin_session(
    db: Session, *, user: User | None = None, address: str | None = None, link: str = ""
) -> str:
    """A new session for `user` (or a bare `address`) and the key for its cookie. With
    `link`, the login link it was begun by: refused if that link began one already."""
    key = secrets.token_urlsafe(32)
    row = SignInSession(
        key_hash=_digest(key),
        user_id=user.id if user is not None else None,
        address=address,
        link_hash=_digest(link) if link else None,
    )
    if link and db.scalar(select(SignInSession.id).where(SignInSession.link_hash == row.link_hash)):
        raise LinkRefused(_LINK_USED)
    try:
        with db.begin_nested():  # two posts of one link at once: the second is refused
            db.add(row)
    except IntegrityError:
        raise LinkRefused(_LINK_USED) from None
    return key


def live_session(db: Session, key: str) -> SignInSession | None:
    """The session a cookie's key opens, or None if it never existed or has ended."""
    if not key:
        return None
    return db.scalar(
        select(SignInSession).where(
            SignInSession.key_hash == _digest(key), SignInSession.ended_at.is_(None)
        )
    )


def end_session(db: Session, key: str) -> None:
    """Sign out the browser holding `key`."""
    if key:
        db.execute(
            update(SignInSession)
            .where(SignInSession.key_hash == _digest(key), SignInSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )


def end_other_sessions(db: Session, user: User, keep_key: str) -> int:
    """Sign out every browser of `user` but the one holding `keep_key`; how many."""
    result = db.execute(
        update(SignInSession)
        .where(
            SignInSession.user_id == user.id,
            SignInSession.ended_at.is_(None),
            SignInSession.key_hash != _digest(keep_key),
        )
        .values(ended_at=utcnow())
    )
    return cast(CursorResult, result).rowcount or 0


def prune_ended_sessions(db: Session, now: datetime | None = None) -> int:
    """Forget sessions that ended more than a day ago."""
    now = now or utcnow()
    result = db.execute(delete(SignInSession).where(SignInSession.ended_at <= now - ENDED_KEPT))
    return cast(CursorResult, result).rowcount or 0


_LINK_USED = "this sign-in link was used already (a link signs in once); ask for a new one"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
