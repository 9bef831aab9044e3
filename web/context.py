"""What every blueprint shares, as Flask keeps its `globals.py`: the request's settings
and database session, who is signed in and what they may do, and the form token.

`web/app.py` imports the blueprints (through `mailyard/wiring.py`) and installs the hooks
below; no blueprint imports `app.py`, and none imports another blueprint.

Who is signed in: people sign in to their account (`web.accounts`), which puts their user
id in the session (`sign_in`); a signed login link (`web.auth`) signs in as an address.
The session is Flask's signed cookie holding the key of a session row on the server
(`accounts.sessions`): signing out ends the row, so a copied cookie opens nothing after.
The cookie also holds a digest of the user's password hash: changing the password (or
resetting it) signs out every other browser. A request
with `Authorization: Bearer my_...` (an API token, `accounts.tokens`) acts as the token's
user and ignores the cookie; a bad token gets 401 at once, saying why. Such a request
needs no CSRF token: another site cannot make a browser send that header.

Every form that changes something carries a token kept in the session (`csrf_token`),
which another site cannot read, so a page elsewhere cannot post a form in a signed-in
person's name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, current_app, g, request, session
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

from accounts.access import ANONYMOUS, Actor, actor_for_user
from accounts.groups import groups_acted_for
from accounts.models import Group, SignInSession, User
from accounts.sessions import begin_session, end_session, live_session
from accounts.sessions import end_other_sessions as end_others
from accounts.tokens import TokenRefused, user_for_token
from accounts.users import primary_address_of
from archive.lists import get_list
from archive.models import MailingList
from core.db import new_session
from core.params import ID_MAX, ParameterError, parse_id, parse_optional_int, shown
from core.settings import Settings, secret_key
from lists.access import ListRight
from lists.access import may as may_on
from lists.access import may_manage as may_manage_list
from mail.addresses import ListAddresses, list_addresses
from patchsets.models import Patchset
from patchsets.queries import get_patchset
from trackers.access import TrackerRight
from trackers.access import may as may_on_tracker
from trackers.access import may_manage as may_manage_tracker
from trackers.models import Tracker
from trackers.tickets import get_tracker

SESSION_LIFETIME = timedelta(days=14)  # since the last visit


def app_settings() -> Settings:
    return current_app.config["MAILYARD_SETTINGS"]


def db_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = new_session(app_settings())
    return g.db_session


def close_db_session(_error: BaseException | None) -> None:
    session_ = g.pop("db_session", None)
    if session_ is not None:
        session_.close()


# -- who is signed in ------------------------------------------------------------------


def sign_in(user: User, *, link: str = "", end_other_sessions: bool = False) -> None:
    """Start a fresh session (and so a fresh CSRF token) for `user`, recorded on the
    server (`accounts.sessions`) and committed. `link`: the login link used, which
    then signs in no more. After a password change, `end_other_sessions` signs out
    every other browser of the user."""
    _begin_session(user=user, link=link)
    session["stamp"] = _session_stamp(user)
    if end_other_sessions:
        end_others(db_session(), user, session["sid"])
    db_session().commit()


def sign_in_address(address: str, *, link: str) -> None:
    """Start a fresh session acting as the bare `address` a login link was made for."""
    _begin_session(address=address, link=link)
    db_session().commit()


def sign_out() -> None:
    """End this browser's session on the server too: a copy of its cookie opens nothing."""
    end_session(db_session(), str(session.get("sid", "")))
    db_session().commit()
    session.clear()
    _forget_who()


def _begin_session(*, user: User | None = None, address: str | None = None, link: str) -> None:
    key = begin_session(db_session(), user=user, address=address, link=link)
    session.clear()
    session.permanent = True
    session["sid"] = key
    _forget_who()


def _forget_who() -> None:
    for name in ("current_user", "current_actor", "signed_in_session"):
        g.pop(name, None)


def _signed_in_session() -> SignInSession | None:
    """This browser's live session on the server, if its cookie holds one."""
    if "signed_in_session" not in g:
        g.signed_in_session = live_session(db_session(), str(session.get("sid", "")))
    return g.signed_in_session


def current_user() -> User | None:
    """The signed-in user (by session cookie or API token), or None (anonymous, or
    signed in by an address link)."""
    if "current_user" not in g:
        row = _signed_in_session()
        user = db_session().get(User, row.user_id) if row and row.user_id is not None else None
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


def authenticate_bearer():
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
    """Who this request acts as, for `accounts.access`."""
    if "current_actor" not in g:
        user = current_user()
        if user is not None:
            g.current_actor = actor_for_user(db_session(), user)
        elif address := _session_address():
            g.current_actor = Actor(addresses=frozenset({address.lower()}))
        else:
            g.current_actor = ANONYMOUS
    return g.current_actor


def current_address() -> str | None:
    """The signed-in user's primary address, or the address a login link signed in as;
    None for an anonymous visitor."""
    user = current_user()
    if user is not None:
        return primary_address_of(db_session(), user)
    return _session_address()


def _session_address() -> str | None:
    """The bare address a login link signed this browser in as, while that lasts."""
    if by_api_token():
        return None
    row = _signed_in_session()
    return row.address if row is not None else None


def client_ip() -> str:
    """The client's address, for the rate limits (the proxy's, unless
    MAILYARD_TRUSTED_PROXIES says to read X-Forwarded-For)."""
    return request.remote_addr or "unknown"


def user_or_403(what: str) -> User:
    """The signed-in user; 403 saying an account is needed to do `what`."""
    user = current_user()
    if user is None:
        abort(403, f"Sign in to your account to {what}.")
    return user


# -- what they may do ------------------------------------------------------------------


def list_or_404(name: str, right: str = ListRight.browse) -> MailingList:
    """The list called `name` if the signed-in person has `right` on it; else a 404 that
    says there is none (a list someone may not browse does not exist for them)."""
    mlist = get_list(db_session(), name)
    if mlist is None or not may_on(db_session(), mlist, current_actor(), ListRight.browse):
        abort(404, f"There is no list named {name!r} here.")
    if right != ListRight.browse and not may_on(db_session(), mlist, current_actor(), right):
        abort(403, f"You may not {right} on {name}.")
    return mlist


def patchset_or_404(name: str, patchset_id: int) -> tuple[MailingList, Patchset]:
    """The list (as `list_or_404`) and its patchset `patchset_id`, or a 404 naming both."""
    mlist = list_or_404(name)
    patchset = get_patchset(db_session(), patchset_id, mlist.name)
    if patchset is None:
        abort(404, f"There is no patchset {patchset_id} on the list {mlist.name}.")
    return mlist, patchset


def tracker_or_404(name: str) -> Tracker:
    """The tracker, if the visitor may browse it: else it does not exist for them."""
    tracker = get_tracker(db_session(), name)
    if tracker is None or not may_on_tracker(
        db_session(), tracker, current_actor(), TrackerRight.browse
    ):
        abort(404, f"There is no tracker named {name!r} here.")
    return tracker


def is_owner(thing: MailingList | Tracker) -> bool:
    """Whether the signed-in person manages `thing` (a list, a tracker): its owner, an
    admin, or an owner or maintainer of the group that owns it."""
    if isinstance(thing, MailingList):
        return may_manage_list(thing, current_actor())
    return may_manage_tracker(thing, current_actor())


def may_on_list(mlist: MailingList, right: str) -> bool:
    """Whether the signed-in person has `right` on `mlist` (for what a page offers)."""
    return may_on(db_session(), mlist, current_actor(), right)


def groups_offered(current_group_id: int | None) -> list[Group]:
    """The owning groups a settings form offers: those the visitor is an owner or
    maintainer of, and the current one."""
    session = db_session()
    groups = groups_acted_for(session, current_actor())
    current = session.get(Group, current_group_id) if current_group_id else None
    if current is not None and current not in groups:
        groups = [current, *groups]
    return groups


def chosen_group(name: str, current_group_id: int | None) -> Group | None:
    """The owning group picked in a settings form: none (''), the current one, or one
    the visitor is an owner or maintainer of (403 for any other)."""
    if not name:
        return None
    allowed = {g.name: g for g in groups_offered(current_group_id)}
    if name not in allowed:
        abort(403, f"You are not an owner or maintainer of ~{name}.")
    return allowed[name]


# -- forms -----------------------------------------------------------------------------


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


def addresses(name: str) -> ListAddresses:
    """The addresses of the list or tracker `name` here."""
    return list_addresses(name, app_settings().domain)


def template_helpers() -> dict:
    """What every template may call."""
    return {
        "addresses": addresses,
        "csrf_token": csrf_token,
        "current_address": current_address,
        "current_user": current_user,
        "is_owner": is_owner,
        "may_on_list": may_on_list,
    }


class OwnerNameConverter(BaseConverter):
    """A username or group name: no '.', so /~USER.keys is not taken for /~USER."""

    regex = r"[A-Za-z][A-Za-z0-9_-]{1,31}"


class ProjectNameConverter(BaseConverter):
    """A project's or repository's name under an owner (they share the names)."""

    regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


def add_project_converter(state) -> None:
    """Give the app the `projectname` converter (as `add_owner_converter`)."""
    state.app.url_map.converters.setdefault("projectname", ProjectNameConverter)


def add_owner_converter(state) -> None:
    """Give the app the `ownername` converter (recorded by every blueprint that uses it,
    before its routes: a rule finds its converters when it is added)."""
    state.app.url_map.converters.setdefault("ownername", OwnerNameConverter)


# -- numbers in paths and parameters (read by `core.params`) ---------------------------


class IdConverter(BaseConverter):
    """A row id in a path, `<id('patchset'):patchset_id>` (with a maximum for ticket
    numbers: `<id('ticket', 2147483647):number>`). Any segment that is not such a
    number answers 404 naming what was asked for, here rather than by falling through to
    a later rule (`/bugs/tickets/abc/` would reach the archive and speak of a list)."""

    regex = r"[^/]+"
    weight = 50  # as werkzeug's int: tried before a rule's plain string segments

    def __init__(self, url_map, what: str = "item", maximum: int = ID_MAX) -> None:
        super().__init__(url_map)
        self.what = what
        self.maximum = maximum

    def to_python(self, value: str) -> int:
        try:
            return parse_id(self.what, value, self.maximum)
        except ParameterError:
            raise NotFound(f"There is no {self.what} {shown(value)} here.") from None

    def to_url(self, value: int) -> str:
        return str(value)


def int_arg(name: str, default: int = 0, *, minimum: int = 0, maximum: int = ID_MAX) -> int:
    """The query parameter `name` as a number (`default` when absent or empty); a 400
    naming it otherwise."""
    value = parse_optional_int(
        arg_label(name), request.args.get(name), minimum=minimum, maximum=maximum
    )
    return default if value is None else value


def optional_int_arg(name: str, *, minimum: int = 0, maximum: int = ID_MAX) -> int | None:
    """As `int_arg`, with None when the parameter is absent or empty."""
    return parse_optional_int(
        arg_label(name), request.args.get(name), minimum=minimum, maximum=maximum
    )


def arg_label(name: str) -> str:
    """How a refusal names the query parameter `name`: as it is written in the URL."""
    return f"?{name}="


# -- where a redirect may go ---------------------------------------------------------------

LOCAL_PATH_MAX = 2000


def local_path(value: str) -> str | None:
    """`value` if it is a path on this site ('/...'), else None. Nothing a browser could
    read as another site's address passes: browsers drop tabs and newlines from a URL and
    read '\\' as '/', so '/\t/evil.example' or '/\\evil.example' would be
    '//evil.example', another host; a control character would also break the header."""
    if not value.startswith("/") or value.startswith("//") or len(value) > LOCAL_PATH_MAX:
        return None
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in value):
        return None
    parts = urlsplit(value)
    return value if not (parts.scheme or parts.netloc) else None


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
