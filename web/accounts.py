"""Getting into an account: sign up, confirm, sign in, reset a password; and the public
key files. Looking after an account once signed in is `web.account_settings`; both use
the refusals, notices and error pages of `web.forms`.

    /signup                              GET form, POST makes an unconfirmed account
    /account/confirm/<token>             GET a button, POST confirms the account
    /account/confirm/resend              POST mails the confirmation again
    /login                               GET form, POST signs in (name or address)
    /account/reset                       GET form, POST mails a reset link
    /account/reset/<token>               GET form, POST sets the new password
    /~USER.keys, /~USER.pgp              the user's SSH / OpenPGP public keys, text/plain

A link from a mail never acts on a GET (mail scanners fetch every URL): it shows a form
whose POST acts. Sign-in, sign-up, resending and resets are rate-limited per IP and per
address or account (`accounts.ratelimit`); over the limit the answer is 429 with
Retry-After. The client IP is `request.remote_addr`: behind a reverse proxy, set
MAILYARD_TRUSTED_PROXIES (`web.app` then applies werkzeug's ProxyFix) so that it is the
client's and not the proxy's.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy.exc import IntegrityError

from accounts import ratelimit
from accounts.mail import (
    LinkRefused,
    password_stamp,
    read_resend_token,
    read_reset_token,
    read_signup_token,
    resend_token,
    send_existing_account_notice,
    send_password_reset,
    send_signup_confirmation,
)
from accounts.models import User
from accounts.names import NameRefused
from accounts.passwords import PasswordRefused, check_password, set_password
from accounts.pgp_keys import armored_keys_text
from accounts.ssh_keys import authorized_keys_text
from accounts.users import (
    AccountError,
    confirm_sign_up,
    confirmed_address,
    find_user,
    find_user_for_login,
    normalize_address,
    sign_up,
    signup_address_of,
)
from web.context import (
    app_settings,
    check_csrf,
    current_user,
    db_session,
    local_path,
    sign_in,
)
from web.forms import (
    ACCOUNT_REFUSALS,
    NO_STORE,
    add_account_error_pages,
    check_repeated_password,
    commit_confirmation,
    form_error,
    notice_page,
    read_link,
)

bp = Blueprint("accounts", __name__)
add_account_error_pages(bp)
REFUSALS = ACCOUNT_REFUSALS


# --- sign-up and confirmation --------------------------------------------------------------


@bp.get("/signup")
def signup_form():
    if current_user() is not None:
        return redirect(url_for("account_settings.overview"), 303)
    return render_template("account_signup.html", form={})


@bp.post("/signup")
def signup():
    check_csrf()
    db, settings = db_session(), app_settings()
    form = {k: request.form.get(k, "") for k in ("username", "address")}
    ratelimit.check(db, ratelimit.SIGNUP_PER_IP, _client_ip())
    ratelimit.check(db, ratelimit.SIGNUP_PER_ADDRESS, form["address"])
    try:
        done = sign_up(db, form["username"], form["address"], request.form.get("password", ""))
    except REFUSALS as e:
        db.rollback()
        return form_error("account_signup.html", e, field=_signup_field(e), form=form)
    except IntegrityError:  # someone took the name in the meantime
        db.rollback()
        error = NameRefused(f"the name {form['username'].strip().lower()!r} is taken")
        return form_error("account_signup.html", error, field="username", form=form)
    ratelimit.record(db, ratelimit.SIGNUP_PER_IP, _client_ip())
    ratelimit.record(db, ratelimit.SIGNUP_PER_ADDRESS, form["address"])
    if done.existing is not None:
        send_existing_account_notice(db, settings, done.address, done.existing)
    else:
        send_signup_confirmation(db, settings, done.user, done.pending)
    db.commit()
    return notice_page(
        "Check your mail",
        f"A message to {done.address} holds a link that confirms the account. The link"
        " lasts two days; until then the account cannot sign in.",
    )


@bp.get("/account/confirm/<token>")
def confirm_form(token: str):
    read_link(read_signup_token, token)
    return render_template(
        "account_confirm.html",
        heading="Confirm your account",
        text="Confirm the account you signed up for?",
        action=url_for("accounts.confirm", token=token),
    )


@bp.post("/account/confirm/<token>")
def confirm(token: str):
    check_csrf()
    user_id, address_id = read_link(read_signup_token, token)
    db = db_session()
    user = commit_confirmation(db, lambda: confirm_sign_up(db, user_id, address_id))
    return notice_page(
        "Account confirmed",
        f"The account ~{user.username} is ready: sign in with its name or address.",
        link=(url_for("accounts.login_form"), "Sign in"),
    )


@bp.post("/account/confirm/resend")
def resend_confirmation():
    check_csrf()
    db, settings = db_session(), app_settings()
    try:
        user = db.get(User, read_resend_token(settings, request.form.get("token", "")))
    except LinkRefused as e:
        abort(400, f"{e}; sign in again to get a fresh form.")
    pending = signup_address_of(db, user) if user is not None else None
    if user is None or pending is None or user.confirmed_at is not None:
        return redirect(url_for("accounts.login_form"), 303)
    ratelimit.hit(db, ratelimit.RESEND_PER_ACCOUNT, str(user.id))
    send_signup_confirmation(db, settings, user, pending)
    db.commit()
    return notice_page(
        "Check your mail", f"The confirmation link was sent again to {pending.address}."
    )


# --- signing in ----------------------------------------------------------------------------


@bp.get("/login")
def login_form():
    if current_user() is not None:
        return redirect(_next_page(), 303)
    return render_template("account_login.html", login="", next=request.args.get("next", ""))


@bp.post("/login")
def login():
    check_csrf()
    db, settings = db_session(), app_settings()
    typed = request.form.get("login", "").strip()
    password = request.form.get("password", "")
    ratelimit.hit(db, ratelimit.LOGIN_PER_IP, _client_ip())
    user = find_user_for_login(db, typed) if typed else None
    account = f"user:{user.id}" if user is not None else f"name:{typed}"
    ratelimit.check(db, ratelimit.LOGIN_PER_ACCOUNT, account)
    if not check_password(user, password):
        ratelimit.record(db, ratelimit.LOGIN_PER_ACCOUNT, account)
        db.commit()
        error = "That name or address and password do not match an account."
        page = render_template(
            "account_login.html", login=typed, next=request.form.get("next", ""), error=error
        )
        return page, 401
    db.commit()  # the attempt, and a hash upgraded to the current parameters
    if user.confirmed_at is None:
        return render_template(
            "account_unconfirmed.html", user=user, token=resend_token(settings, user)
        ), 403
    sign_in(user)
    return redirect(_next_page(request.form.get("next", "")), 303)


# --- password reset ------------------------------------------------------------------------


@bp.get("/account/reset")
def reset_form():
    return render_template("account_reset.html", address="")


@bp.post("/account/reset")
def reset():
    """Mails a reset link if the address is a confirmed one; answers the same either way,
    so the form cannot be used to learn who has an account."""
    check_csrf()
    db, settings = db_session(), app_settings()
    typed = request.form.get("address", "")
    try:
        address = normalize_address(typed)
    except AccountError as e:
        return form_error("account_reset.html", e, field="address", address=typed)
    ratelimit.hit(db, ratelimit.RESET_PER_IP, _client_ip())
    ratelimit.hit(db, ratelimit.RESET_PER_ADDRESS, address)
    row = confirmed_address(db, address)
    user = db.get(User, row.user_id) if row is not None else None
    if user is not None and user.confirmed_at is not None:
        send_password_reset(db, settings, user, row.address)
    db.commit()
    return notice_page(
        "Check your mail",
        f"If {address} is a confirmed address of an account, a message to it holds a link"
        " to set a new password. The link lasts an hour and works once.",
    )


@bp.get("/account/reset/<token>")
def new_password_form(token: str):
    user = _reset_link(token)
    return render_template("account_new_password.html", user=user, token=token), 200, NO_STORE


@bp.post("/account/reset/<token>")
def new_password(token: str):
    check_csrf()
    db = db_session()
    user = _reset_link(token)
    try:
        check_repeated_password()
        set_password(user, request.form.get("password", ""))
    except PasswordRefused as e:
        page = form_error("account_new_password.html", e, field="password", user=user, token=token)
        return *page, NO_STORE
    db.commit()
    sign_in(user, end_other_sessions=True)
    flash("Your new password is set, and every other session is signed out.")
    return redirect(url_for("account_settings.overview"), 303)


# --- public key files ----------------------------------------------------------------------


@bp.get("/~<username>.keys")
def ssh_keys_file(username: str):
    """The user's SSH public keys, as SourceHut and GitHub serve them."""
    user = _public_user(username)
    return authorized_keys_text(db_session(), user), 200, _TEXT


@bp.get("/~<username>.pgp")
def pgp_keys_file(username: str):
    """The user's OpenPGP public keys, armored: `curl .../~USER.pgp | gpg --import`."""
    user = _public_user(username)
    return armored_keys_text(db_session(), user), 200, _TEXT


_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


# --- helpers -------------------------------------------------------------------------------


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _reset_link(token: str) -> User:
    """The user a reset link is for, while it is unused."""
    user_id, stamp = read_link(read_reset_token, token)
    user = db_session().get(User, user_id)
    if user is None or user.confirmed_at is None:
        abort(400, "This link is for an account that no longer exists.")
    if stamp != password_stamp(user):
        abort(400, "This link was used already (the password changed since); ask for a new one.")
    return user


def _signup_field(error: Exception) -> str:
    """The sign-up field a refusal is about, by its kind."""
    if isinstance(error, NameRefused):
        return "username"
    if isinstance(error, PasswordRefused):
        return "password"
    return "address"


def _public_user(username: str) -> User:
    user = find_user(db_session(), username)
    if user is None or user.confirmed_at is None:
        abort(_plain_404(f"no user named ~{username}"))
    return user


def _plain_404(text: str):
    return make_response((f"{text}\n", 404, _TEXT))


def _next_page(wanted: str = "") -> str:
    """Where to go after signing in: a path on this site, never another site."""
    wanted = wanted or request.args.get("next", "")
    return local_path(wanted) or url_for("account_settings.overview")
