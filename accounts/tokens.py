"""Personal API tokens: `Authorization: Bearer my_...` acts as the token's user.

A token is "my_" and 32 random bytes in URL-safe base64: the prefix lets secret
scanners and people recognise one. Only its SHA-256 is stored; a token is random enough
that no salt or slow hash is needed, and a plain digest can be looked up by index. The
token itself is shown once, when made. Every token expires; it can be revoked earlier.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import ratelimit
from accounts.models import ApiToken, User
from accounts.users import find_user_for_login
from core.db import utcnow
from core.errors import UserError

PREFIX = "my_"
TOKEN_BYTES = 32
NAME_MAX = 100
# The lifetimes offered (days); a token that never expires is one nobody remembers.
LIFETIMES_DAYS = (7, 30, 90, 365)
DEFAULT_LIFETIME_DAYS = 90
TOUCH_EVERY = timedelta(minutes=5)  # how stale last_used_at may get (saves a write a call)


class TokenRefused(UserError):
    """A bearer token that does not authenticate anyone; the message says why."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, user: User, name: str, lifetime: timedelta, now: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token for `user`: its row, and the plaintext to show once. The caller commits."""
    name = " ".join(name.split())[:NAME_MAX] or "token"
    if lifetime <= timedelta(0):
        raise TokenRefused("a token's lifetime must be positive")
    now = now or utcnow()
    plaintext = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(plaintext),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return row, plaintext


def user_for_token(session: Session, token: str, now: datetime | None = None) -> User:
    """The user a bearer token acts as, noting when it was used (the caller commits);
    TokenRefused for an unknown, revoked or expired token, or an unconfirmed user."""
    now = now or utcnow()
    token = token.strip()
    if not token.startswith(PREFIX):
        raise TokenRefused(f"not a Mailyard API token (they start with {PREFIX!r})")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        raise TokenRefused("unknown API token")
    if row.revoked_at is not None:
        raise TokenRefused(f"the API token {row.name!r} was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise TokenRefused(
            f"the API token {row.name!r} expired on {row.expires_at:%Y-%m-%d}; make a new one"
        )
    user = session.get(User, row.user_id)
    if user is None or user.confirmed_at is None:
        raise TokenRefused("the API token's account is not active")
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
    return user


def user_for_login_and_token(
    session: Session, login: str, token: str, client_ip: str, *, every_attempt_counts: bool
) -> User:
    """The account `login` names (a username or a confirmed address) when `token` is one
    of its API tokens, counted against the sign-in limits (`accounts.ratelimit`): failed
    attempts per account and per client address, and with `every_attempt_counts` every
    attempt per client address, as the sign-in form does. git over HTTP sends the
    credentials with every request of every fetch, so it counts only failures. Raises
    RateLimited or TokenRefused; the caller commits either way, so the attempt counts."""
    if every_attempt_counts:
        ratelimit.hit(session, ratelimit.LOGIN_PER_IP, client_ip)
    else:
        ratelimit.check(session, ratelimit.LOGIN_PER_IP, client_ip)
    login = login.strip()
    user = find_user_for_login(session, login) if login else None
    account = f"user:{user.id}" if user is not None else f"name:{login}"
    ratelimit.check(session, ratelimit.LOGIN_PER_ACCOUNT, account)
    try:
        token_user = user_for_token(session, token)
        if user is None or token_user.id != user.id:
            raise TokenRefused("the username and the API token do not belong together")
    except TokenRefused:
        ratelimit.record(session, ratelimit.LOGIN_PER_ACCOUNT, account)
        if not every_attempt_counts:
            ratelimit.record(session, ratelimit.LOGIN_PER_IP, client_ip)
        raise
    return user


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked ones included (they show as revoked)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens; revoking one already revoked changes nothing."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise TokenRefused("no such token on your account")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row
