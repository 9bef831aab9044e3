"""Signed login links: a link that signs in as an address, for someone without an
account (or into the account that confirmed the address), and signing out.

An operator makes the link (`login_link`, `mailyard login-link`). It is an itsdangerous
token: anyone holding it may sign in as that address for an hour, so it is only ever
sent to that address. Opening it shows a confirmation form rather than signing in at
once, because mail scanners and link previews fetch every URL in a message; only the
POST signs in. Who is signed in, sessions and form tokens are `web.context`.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, session, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from accounts.access import user_for_address
from core.settings import Settings, secret_key
from web.context import app_settings, check_csrf, db_session, sign_in

bp = Blueprint("auth", __name__)

LOGIN_SALT = "login"
LOGIN_MAX_AGE = 3600  # seconds a login link stays valid


def login_link(settings: Settings, address: str) -> str:
    """A URL that signs in as `address` for the next hour."""
    token = _serializer(settings).dumps(address)
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
    if user is not None and user.confirmed_at is not None:
        sign_in(user)
        return redirect(url_for("archive.index"), 303)
    session.clear()  # a fresh session, and with it a fresh CSRF token
    session["address"] = address
    return redirect(url_for("archive.index"), 303)


@bp.post("/logout")
def logout():
    check_csrf()
    session.clear()
    return redirect(url_for("archive.index"), 303)


def _address_in(token: str) -> str:
    try:
        return _serializer(app_settings()).loads(token, max_age=LOGIN_MAX_AGE)
    except SignatureExpired:
        abort(400, "This sign-in link has expired (links last an hour); ask for a new one.")
    except BadSignature:
        abort(400, "This sign-in link is not valid; check that it was copied whole.")


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(settings), salt=LOGIN_SALT)
