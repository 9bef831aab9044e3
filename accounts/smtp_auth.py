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
from accounts.tokens import TokenRefused, user_for_login_and_token
from accounts.users import addresses_of
from mail.submission import CredentialsRefused, Submitter, TooManyAttempts


def authenticate_submitter(session: Session, login: str, token: str, client_ip: str) -> Submitter:
    """The account `login` (a username or a confirmed address) when `token` is one of its
    API tokens; CredentialsRefused or TooManyAttempts otherwise. The caller commits either
    way, so that the attempt counts."""
    try:
        user = user_for_login_and_token(session, login, token, client_ip, every_attempt_counts=True)
    except ratelimit.RateLimited as e:
        raise TooManyAttempts(str(e)) from None
    except TokenRefused as e:
        raise CredentialsRefused(str(e)) from None
    confirmed = tuple(a.address for a in addresses_of(session, user) if a.confirmed_at)
    return Submitter(user.username, confirmed)
