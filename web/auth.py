"""Who is signed in: signed, expiring login links, the session cookie, and CSRF tokens.

Until accounts exist, a person signs in by opening a link an operator made for their
address (`login_link`). The link is an itsdangerous token: anyone holding it may sign in
as that address for an hour, so it is only ever sent to that address. Opening it shows
a confirmation form rather than signing in at once, because mail scanners and link
previews fetch every URL in a message; only the POST of that form signs in.

The session is Flask's signed cookie. Every form that changes something carries a token
kept in that cookie (`csrf_token`), which another site cannot read, so a page elsewhere
cannot post a form in a signed-in person's name.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from mailyard.settings import Settings, secret_key
from web.app import app_settings

bp = Blueprint("auth", __name__)

LOGIN_SALT = "login"
LOGIN_MAX_AGE = 3600  # seconds a login link stays valid


def login_link(settings: Settings, address: str) -> str:
    """A URL that signs in as `address` for the next hour."""
    token = _serializer(settings).dumps(address)
    return f"{settings.base_url.rstrip('/')}/login/{token}"


def current_address() -> str | None:
    """The signed-in address, or None for an anonymous visitor."""
    return session.get("address")


def is_owner(thing) -> bool:
    """Whether the signed-in address is `thing.owner_email` (a list's, a tracker's): the
    one rule for owners' pages until accounts and roles exist."""
    address = current_address()
    owner = getattr(thing, "owner_email", "") or ""
    return address is not None and address.strip().lower() == owner.strip().lower()


def csrf_token() -> str:
    """This browser session's form token, made on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """Refuse (400) a form post whose token is not this session's."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "This form did not come from this site or has expired; reload it and retry.")


@bp.app_context_processor
def _template_helpers() -> dict:
    return {"csrf_token": csrf_token, "current_address": current_address, "is_owner": is_owner}


@bp.get("/login/<token>")
def login_form(token: str):
    address = _address_in(token)
    return render_template("login.html", token=token, address=address)


@bp.post("/login/<token>")
def login(token: str):
    check_csrf()
    address = _address_in(token)
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
