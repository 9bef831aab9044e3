"""Signed login links: a link that signs in as an address, for someone without an
account (or into the account that confirmed the address), and signing out.

An operator makes the link (`login_link`, `mailyard login-link`). It is an itsdangerous
token: whoever holds it may sign in as that address, once, within the hour, so it is
only ever sent to that address. Opening it shows a confirmation form rather than signing in at
once, because mail scanners and link previews fetch every URL in a message; only the
POST signs in. Who is signed in, sessions and form tokens are `web.context`.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, redirect, render_template, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from accounts.access import user_for_address
from accounts.mail import LinkRefused
from core.settings import Settings, secret_key
from web.context import (
    app_settings,
    check_csrf,
    db_session,
    sign_in,
    sign_in_address,
    sign_out,
)
from web.forms import sentence

bp = Blueprint("auth", __name__)

LOGIN_SALT = "login"
LOGIN_MAX_AGE = 3600  # seconds a login link stays valid


def login_link(settings: Settings, address: str) -> str:
    """A URL that signs in as `address` for the next hour."""
    # The nonce makes every link its own, so using one (which spends it) leaves another
    # made in the same second for the same address usable.
    token = _serializer(settings).dumps([address, secrets.token_urlsafe(8)])
    return f"{settings.base_url.rstrip('/')}/login/{token}"


@bp.get("/login/<token>")
def login_form(token: str):
    address = _address_in(token)
    return render_template("login.html", token=token, address=address)


@bp.post("/login/<token>")
def login(token: str):
    check_csrf()
    address = _address_in(token)
    user = user_for_address(db_session(), address)
    try:
        if user is not None and user.confirmed_at is not None:
            sign_in(user, link=token)
        else:
            sign_in_address(address, link=token)
    except LinkRefused as e:
        db_session().rollback()
        abort(400, sentence(e))
    return redirect(url_for("archive.index"), 303)


@bp.post("/logout")
def logout():
    check_csrf()
    sign_out()
    return redirect(url_for("archive.index"), 303)


def _address_in(token: str) -> str:
    try:
        address, _nonce = _serializer(app_settings()).loads(token, max_age=LOGIN_MAX_AGE)
    except SignatureExpired:
        abort(400, "This sign-in link has expired (links last an hour); ask for a new one.")
    except (BadSignature, TypeError, ValueError):
        abort(400, "This sign-in link is not valid; check that it was copied whole.")
    return str(address)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(settings), salt=LOGIN_SALT)
