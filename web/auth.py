"""Who is signed in: the session cookie, the request's actor, signed login links, and CSRF
tokens.

People sign in to their account (`web.accounts`), which puts their user id in the
session (`sign_in`). An operator can also make a link that signs in as an address
(`login_link`, `mailyard login-link`), for someone without an account (or into the
account that confirmed the address). The link is an itsdangerous token: anyone holding
it may sign in as that address for an hour, so it is only ever sent to that address.
Opening it shows a confirmation form rather than signing in at once, because mail
scanners and link previews fetch every URL in a message; only the POST signs in.

The session is Flask's signed cookie. Every form that changes something carries a token
kept in that cookie (`csrf_token`), which another site cannot read, so a page elsewhere
cannot post a form in a signed-in person's name. The cookie also holds a digest of the
user's password hash: changing the password (or resetting it) signs out every other
browser. Sessions last `SESSION_LIFETIME`, renewed on each visit.

A request with `Authorization: Bearer my_...` (an API token, `mailyard.accounts.tokens`)
acts as the token's user and ignores the cookie; a bad token gets 401 at once, saying
why. Such a request needs no CSRF token: another site cannot make a browser send that
header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from mailyard.accounts.access import ANONYMOUS, Actor, actor_for_user, user_for_address
from mailyard.accounts.models import User
from mailyard.accounts.tokens import TokenRefused, user_for_token
from mailyard.accounts.users import primary_address_of
from mailyard.settings import Settings, secret_key
from web.app import app_settings, db_session

bp = Blueprint("auth", __name__)

LOGIN_SALT = "login"
LOGIN_MAX_AGE = 3600  # seconds a login link stays valid
SESSION_LIFETIME = timedelta(days=14)  # since the last visit


@bp.record_once
def _session_lifetime(state) -> None:
    """How long a signed-in session lasts without a visit: auth's own setting."""
    state.app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME


def login_link(settings: Settings, address: str) -> str:
    """A URL that signs in as `address` for the next hour."""
    token = _serializer(settings).dumps(address)
    return f"{settings.base_url.rstrip('/')}/login/{token}"


def sign_in(user: User) -> None:
    """Start a fresh session (and so a fresh CSRF token) for `user`. Also after a
    password change: the session then carries the new password's stamp."""
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    session["stamp"] = _session_stamp(user)
    g.pop("current_user", None)
    g.pop("current_actor", None)


def current_user() -> User | None:
    """The signed-in user (by session cookie or API token), or None (anonymous, or
    signed in by an address link)."""
    if "current_user" not in g:
        user_id = session.get("user_id")
        user = db_session().get(User, user_id) if user_id is not None else None
        if user is not None and user.confirmed_at is None:
            user = None
        if user is not None and not hmac.compare_digest(
            str(session.get("stamp", "")), _session_stamp(user)
        ):
            user = None  # the password changed since this session began
        g.current_user = user
    return g.current_user


def by_api_token() -> bool:
    """Whether this request was authenticated by an API token rather than a cookie."""
    return bool(g.get("bearer"))


@bp.before_app_request
def _authenticate_bearer():
    """`Authorization: Bearer TOKEN` makes the token's user this request's user; a token
    that authenticates nobody ends the request with 401 and the reason."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    db = db_session()
    try:
        user = user_for_token(db, token)
    except TokenRefused as e:
        db.rollback()
        return (
            f"{e}\n",
            401,
            {
                "Content-Type": "text/plain; charset=utf-8",
                "WWW-Authenticate": f'Bearer realm="mailyard", error="invalid_token", '
                f'error_description="{_quoted(str(e))}"',
            },
        )
    db.commit()  # the token's last use
    g.bearer = True
    g.current_user = user
    return None


def current_actor() -> Actor:
    """Who this request acts as, for `mailyard.accounts.access`."""
    if "current_actor" not in g:
        user = current_user()
        if user is not None:
            g.current_actor = actor_for_user(db_session(), user)
        elif session.get("address"):
            g.current_actor = Actor(addresses=frozenset({session["address"].lower()}))
        else:
            g.current_actor = ANONYMOUS
    return g.current_actor


def current_address() -> str | None:
    """The signed-in user's primary address, or the address a login link signed in as;
    None for an anonymous visitor."""
    user = current_user()
    if user is not None:
        return primary_address(db_session(), user)
    return session.get("address")


def is_owner(thing) -> bool:
    """Whether the signed-in person manages `thing` (a list, a tracker): its owner, an
    admin, or an owner or maintainer of the group that owns it."""
    from archive.models import MailingList

    actor = current_actor()
    if isinstance(thing, MailingList):
        from archive.access import may_manage
    else:
        from trackers.access import may_manage
    return may_manage(thing, actor)


def csrf_token() -> str:
    """This browser session's form token, made on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """Refuse (400) a form post whose token is not this session's. A request made with
    an API token has no session to protect and passes."""
    if by_api_token():
        return
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "This form did not come from this site or has expired; reload it and retry.")


@bp.app_context_processor
def _template_helpers() -> dict:
    return {
        "csrf_token": csrf_token,
        "current_address": current_address,
        "current_user": current_user,
        "is_owner": is_owner,
        "may_on_list": may_on_list,
    }


def may_on_list(mlist, right: str) -> bool:
    """Whether the signed-in person has `right` on `mlist` (for what a page offers)."""
    from archive.access import may

    return may(db_session(), mlist, current_actor(), right)


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


def primary_address(db, user: User) -> str | None:
    """The user's primary confirmed address (the first confirmed one if none is marked)."""
    return primary_address_of(db, user)


def _session_stamp(user: User) -> str:
    """A digest of the password hash, kept in the session: a new password ends the
    sessions begun with the old one."""
    digest = hmac.new(
        secret_key(app_settings()).encode(),
        ("session:" + (user.password_hash or "")).encode(),
        hashlib.sha256,
    )
    return digest.hexdigest()[:32]


def _quoted(text: str) -> str:
    """`text` safe inside a quoted header parameter."""
    return "".join(c for c in text if c.isprintable() and c not in '"\\')
