"""The mails an account gets (confirm the sign-up, confirm an added address, reset the
password, "this address already has an account") and the signed links in them.

A link is an itsdangerous token signed with the site's secret key, with a salt of its
own per kind, so a token made for one purpose never passes for another. Each holds only
ids and a check value; what it allows is decided when it comes back:

- sign-up: (user id, address id), valid two days;
- added address: (user id, address id, address), valid two days;
- password reset: (user id, a digest of the current password hash), valid an hour. Once
  the password changes the digest no longer matches, so a reset link works once, and
  any older link dies with it;
- "send the confirmation again": (user id,), valid a quarter hour, put in the form shown
  to an unconfirmed account after its password was given (not mailed).

Every mail goes through the outbox on commit, from account@DOMAIN (a name no list can
take) with a null envelope sender: nothing should answer a robot's mail with a bounce.
"""

from __future__ import annotations

import hashlib
from email.utils import formataddr

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from accounts.models import User, UserAddress
from core.errors import UserError
from core.settings import Settings, secret_key
from mail.compose import send_notice

SIGNUP_SALT = "mailyard.account.signup"
ADDRESS_SALT = "mailyard.account.address"
RESET_SALT = "mailyard.account.reset"
RESEND_SALT = "mailyard.account.resend"
SIGNUP_MAX_AGE = 2 * 24 * 3600
ADDRESS_MAX_AGE = 2 * 24 * 3600
RESET_MAX_AGE = 3600
RESEND_MAX_AGE = 15 * 60


class LinkRefused(UserError):
    """A link that is forged, damaged, expired or used up; the message says which."""


# --- links ---------------------------------------------------------------------------------


def signup_token(settings: Settings, user: User, address: UserAddress) -> str:
    return _serializer(settings, SIGNUP_SALT).dumps([user.id, address.id])


def read_signup_token(settings: Settings, token: str) -> tuple[int, int]:
    """(user id, address id) from a sign-up link."""
    user_id, address_id = _load(settings, SIGNUP_SALT, token, SIGNUP_MAX_AGE, "confirmation", 2)
    return int(user_id), int(address_id)


def address_token(settings: Settings, address: UserAddress) -> str:
    return _serializer(settings, ADDRESS_SALT).dumps(
        [address.user_id, address.id, address.address_key]
    )


def read_address_token(settings: Settings, token: str) -> tuple[int, int, str]:
    """(user id, address id, lower-cased address) from an added address's link."""
    user_id, address_id, key = _load(
        settings, ADDRESS_SALT, token, ADDRESS_MAX_AGE, "confirmation", 3
    )
    return int(user_id), int(address_id), str(key)


def reset_token(settings: Settings, user: User) -> str:
    return _serializer(settings, RESET_SALT).dumps([user.id, password_stamp(user)])


def read_reset_token(settings: Settings, token: str) -> tuple[int, str]:
    """(user id, password stamp) from a reset link; compare the stamp with
    `password_stamp(user)` to know it is still unused."""
    user_id, stamp = _load(settings, RESET_SALT, token, RESET_MAX_AGE, "password reset", 2)
    return int(user_id), str(stamp)


def password_stamp(user: User) -> str:
    """A short digest of the password hash: changes whenever the password does."""
    return hashlib.sha256(("reset:" + (user.password_hash or "")).encode()).hexdigest()[:24]


def resend_token(settings: Settings, user: User) -> str:
    """Put in the "send the confirmation again" form shown to an unconfirmed account
    after its password was given: only someone who knows the password may ask."""
    return _serializer(settings, RESEND_SALT).dumps([user.id])


def read_resend_token(settings: Settings, token: str) -> int:
    (user_id,) = _load(settings, RESEND_SALT, token, RESEND_MAX_AGE, "resend", 1)
    return int(user_id)


# --- mails ---------------------------------------------------------------------------------


def send_signup_confirmation(
    session: Session, settings: Settings, user: User, address: UserAddress
) -> None:
    link = _url(settings, f"/account/confirm/{signup_token(settings, user, address)}")
    _send(
        session,
        settings,
        address.address,
        f"Confirm your account ~{user.username}",
        f"Someone, probably you, signed up as ~{user.username} at {settings.base_url}\n"
        f"with this address. To confirm the account, open this link within two days:\n\n"
        f"  {link}\n\n"
        "If it was not you, ignore this mail: the account is never confirmed.\n",
        purpose="account-signup",
    )


def send_existing_account_notice(
    session: Session, settings: Settings, address: str, user: User
) -> None:
    """To an address someone signed up with that already belongs to an account: its
    owner hears about it, the person signing up learns nothing they should not."""
    _send(
        session,
        settings,
        address,
        "You already have an account",
        f"Someone, probably you, tried to sign up at {settings.base_url} with this\n"
        f"address, which already belongs to the account ~{user.username}.\n\n"
        f"Sign in:              {_url(settings, '/login')}\n"
        f"Forgot the password?  {_url(settings, '/account/reset')}\n\n"
        "If it was not you, ignore this mail: nothing changed.\n",
        purpose="account-exists",
    )


def send_address_confirmation(
    session: Session, settings: Settings, user: User, address: UserAddress
) -> None:
    link = _url(settings, f"/account/addresses/confirm/{address_token(settings, address)}")
    _send(
        session,
        settings,
        address.address,
        f"Confirm this address for ~{user.username}",
        f"The account ~{user.username} at {settings.base_url} asked to add this address.\n"
        "Once confirmed, mail from it counts as sent by that account. To confirm, open\n"
        f"this link within two days:\n\n  {link}\n\n"
        "If you did not ask for this, ignore this mail: nothing changes.\n",
        purpose="account-address",
    )


def send_password_reset(session: Session, settings: Settings, user: User, address: str) -> None:
    link = _url(settings, f"/account/reset/{reset_token(settings, user)}")
    _send(
        session,
        settings,
        address,
        f"Set a new password for ~{user.username}",
        f"Someone, probably you, asked to set a new password for ~{user.username} at\n"
        f"{settings.base_url}. To choose one, open this link within an hour:\n\n"
        f"  {link}\n\n"
        "The link works once. If you did not ask for this, ignore this mail: your\n"
        "password stays as it is.\n",
        purpose="account-reset",
    )


def _send(
    session: Session, settings: Settings, to: str, subject: str, body: str, *, purpose: str
) -> None:
    domain = settings.domain.lower()
    send_notice(
        session,
        to=[to],
        from_addr=formataddr(("Mailyard", f"account@{domain}")),
        subject=subject,
        body=body,
        envelope_from="",
        purpose=purpose,
        domain=domain,
    )


def _url(settings: Settings, path: str) -> str:
    return settings.base_url.rstrip("/") + path


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(settings), salt=salt)


def _load(settings: Settings, salt: str, token: str, max_age: int, what: str, size: int) -> list:
    try:
        value = _serializer(settings, salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkRefused(f"this {what} link has expired; ask for a new one") from None
    except BadSignature:
        raise LinkRefused(
            f"this {what} link is not valid; check that it was copied whole"
        ) from None
    if not isinstance(value, list) or len(value) != size:
        raise LinkRefused(f"this {what} link is not valid")
    return value
