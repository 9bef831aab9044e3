"""Who is sending on the submission port: a username and one of its API tokens.

`git send-email` and mail clients authenticate with `AUTH PLAIN` or `AUTH LOGIN`; the
password is an API token (`accounts.tokens`), never the account's password, so a leaked
`sendemail.smtpPass` is revoked without changing the password. Attempts count against
the same limits as signing in on the web (`accounts.ratelimit`): every attempt per
client address, failed ones per account. A signed-in sender may use only the addresses
its account confirmed (`mail.submission.Submitter`). Connected to
`mail.submission.AUTHENTICATE` by `mailyard/wiring.py`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from accounts import ratelimit
from accounts.tokens import TokenRefused, user_for_token
from accounts.users import addresses_of, find_user_for_login
from mail.submission import CredentialsRefused, Submitter, TooManyAttempts


def authenticate_submitter(session: Session, login: str, token: str, client_ip: str) -> Submitter:
    """The account `login` (a username or a confirmed address) when `token` is one of its
    API tokens; CredentialsRefused or TooManyAttempts otherwise. The caller commits either
    way, so that the attempt counts."""
    try:
        ratelimit.hit(session, ratelimit.LOGIN_PER_IP, client_ip)
        login = login.strip()
        user = find_user_for_login(session, login) if login else None
        account = f"user:{user.id}" if user is not None else f"name:{login}"
        ratelimit.check(session, ratelimit.LOGIN_PER_ACCOUNT, account)
    except ratelimit.RateLimited as e:
        raise TooManyAttempts(str(e)) from None
    try:
        token_user = user_for_token(session, token)
        if user is None or token_user.id != user.id:
            raise TokenRefused("the username and the API token do not belong together")
    except TokenRefused as e:
        ratelimit.record(session, ratelimit.LOGIN_PER_ACCOUNT, account)
        raise CredentialsRefused(str(e)) from None
    confirmed = tuple(a.address for a in addresses_of(session, user) if a.confirmed_at)
    return Submitter(user.username, confirmed)
