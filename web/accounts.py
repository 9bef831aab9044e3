"""Account pages: sign up, confirm, sign in, reset a password, and the account itself
(addresses, password, SSH and OpenPGP keys, API tokens); and the public key files.

    /signup                              GET form, POST makes an unconfirmed account
    /account/confirm/<token>             GET a button, POST confirms the account
    /account/confirm/resend              POST mails the confirmation again
    /login                               GET form, POST signs in (name or address)
    /account                             the overview, and the forms below it:
    POST /account/addresses              add an address (mails a confirmation link)
    /account/addresses/confirm/<token>   GET a button, POST confirms the address
    POST /account/addresses/<id>/primary, /account/addresses/<id>/remove
    POST /account/password               change the password
    POST /account/ssh-keys, /account/ssh-keys/<id>/remove
    POST /account/pgp-keys, /account/pgp-keys/<id>/remove
    POST /account/tokens                 make an API token, shown once on the answer
    POST /account/tokens/<id>/revoke
    /account/reset                       GET form, POST mails a reset link
    /account/reset/<token>               GET form, POST sets the new password
    /~USER.keys, /~USER.pgp              the user's SSH / OpenPGP public keys, text/plain

A link from a mail never acts on a GET (mail scanners fetch every URL): it shows a form
whose POST acts. Sign-in, sign-up, resending and resets are rate-limited per IP and per
address or account (`mailyard.accounts.ratelimit`); over the limit the answer is 429 with
Retry-After. The client IP is `request.remote_addr`: behind a reverse proxy, wrap the app
in werkzeug's ProxyFix so that it is the client's and not the proxy's.
"""

from __future__ import annotations

from datetime import timedelta

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

from mailyard.accounts import ratelimit
from mailyard.accounts.models import User
from mailyard.accounts.names import NameRefused
from mailyard.accounts.passwords import (
    PasswordRefused,
    change_password,
    check_password,
    set_password,
)
from mailyard.accounts.ratelimit import RateLimited
from mailyard.accounts.ssh_keys import (
    SshKeyRefused,
    add_ssh_key,
    authorized_keys_text,
    remove_ssh_key,
    ssh_keys_of,
)
from mailyard.accounts.tokens import (
    DEFAULT_LIFETIME_DAYS,
    LIFETIMES_DAYS,
    TokenRefused,
    create_token,
    revoke_token,
    tokens_of,
)
from mailyard.accounts.users import (
    AccountError,
    add_address,
    addresses_of,
    confirm_address,
    confirm_sign_up,
    confirmed_address,
    find_user,
    find_user_for_login,
    normalize_address,
    remove_address,
    set_primary,
    sign_up,
    signup_address_of,
)
from mailyard.db import utcnow
from mta.account_mail import (
    LinkRefused,
    password_stamp,
    read_address_token,
    read_resend_token,
    read_reset_token,
    read_signup_token,
    resend_token,
    send_address_confirmation,
    send_existing_account_notice,
    send_password_reset,
    send_signup_confirmation,
)
from mta.keys import (
    KeyRefused,
    add_user_pgp_key,
    armored_keys_text,
    pgp_keys_of,
    remove_pgp_key,
)
from web.app import app_settings, db_session
from web.auth import check_csrf, current_user, sign_in

bp = Blueprint("accounts", __name__)

# What the forms may refuse; each message is for the person who filled the form.
REFUSALS = (AccountError, NameRefused, PasswordRefused, SshKeyRefused, KeyRefused, TokenRefused)
NO_STORE = {"Cache-Control": "no-store"}


@bp.errorhandler(RateLimited)
def _rate_limited(error: RateLimited):
    """429 with Retry-After, and a page saying how long to wait. Attempts counted in the
    request are kept: that is what makes the limit hold."""
    db_session().commit()
    return (
        render_template("account_limited.html", message=str(error)),
        429,
        {"Retry-After": str(error.retry_after)},
    )


@bp.errorhandler(IntegrityError)
def _changed_meanwhile(_error: IntegrityError):
    """Two requests racing (a double click, two tabs): the database kept one; the other
    hears so instead of an error page."""
    db_session().rollback()
    return _notice(
        "Changed meanwhile",
        "Another request changed the same thing at the same moment; reload the page and"
        " check whether what you asked for is done.",
        status=409,
    )


# --- sign-up and confirmation --------------------------------------------------------------


@bp.get("/signup")
def signup_form():
    if current_user() is not None:
        return redirect(url_for("accounts.overview"), 303)
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
        return render_template("account_signup.html", form=form, error=str(e)), 400
    except IntegrityError:  # someone took the name in the meantime
        db.rollback()
        error = f"the name {form['username'].strip().lower()!r} is taken"
        return render_template("account_signup.html", form=form, error=error), 400
    ratelimit.record(db, ratelimit.SIGNUP_PER_IP, _client_ip())
    ratelimit.record(db, ratelimit.SIGNUP_PER_ADDRESS, form["address"])
    if done.existing is not None:
        send_existing_account_notice(db, settings, done.address, done.existing)
    else:
        send_signup_confirmation(db, settings, done.user, done.pending)
    db.commit()
    return _notice(
        "Check your mail",
        f"A message to {done.address} holds a link that confirms the account. The link"
        " lasts two days; until then the account cannot sign in.",
    )


@bp.get("/account/confirm/<token>")
def confirm_form(token: str):
    _signup_link(token)
    return render_template(
        "account_confirm.html",
        heading="Confirm your account",
        text="Confirm the account you signed up for?",
        action=url_for("accounts.confirm", token=token),
    )


@bp.post("/account/confirm/<token>")
def confirm(token: str):
    check_csrf()
    user_id, address_id = _signup_link(token)
    db = db_session()
    try:
        user = confirm_sign_up(db, user_id, address_id)
        db.commit()
    except AccountError as e:
        db.rollback()
        abort(400, str(e))
    except IntegrityError:
        db.rollback()
        abort(400, "This address was confirmed by another account meanwhile.")
    return _notice(
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
    return _notice("Check your mail", f"The confirmation link was sent again to {pending.address}.")


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
        return render_template("account_reset.html", address=typed, error=str(e)), 400
    ratelimit.hit(db, ratelimit.RESET_PER_IP, _client_ip())
    ratelimit.hit(db, ratelimit.RESET_PER_ADDRESS, address)
    row = confirmed_address(db, address)
    user = db.get(User, row.user_id) if row is not None else None
    if user is not None and user.confirmed_at is not None:
        send_password_reset(db, settings, user, row.address)
    db.commit()
    return _notice(
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
        _check_repeated()
        set_password(user, request.form.get("password", ""))
    except PasswordRefused as e:
        page = render_template("account_new_password.html", user=user, token=token, error=str(e))
        return page, 400, NO_STORE
    db.commit()
    sign_in(user)
    flash("Your new password is set, and every other session is signed out.")
    return redirect(url_for("accounts.overview"), 303)


# --- the account ---------------------------------------------------------------------------


@bp.get("/account")
def overview():
    user = _signed_in()
    return _account_page(user)


@bp.post("/account/addresses")
def address_add():
    user, db = _form_user()
    ratelimit.check(db, ratelimit.ADDRESS_MAIL_PER_USER, str(user.id))
    try:
        row = add_address(db, user, request.form.get("address", ""))
    except REFUSALS as e:
        return _refused(user, e)
    ratelimit.record(db, ratelimit.ADDRESS_MAIL_PER_USER, str(user.id))
    send_address_confirmation(db, app_settings(), user, row)
    return _done(f"A message to {row.address} holds a link that adds it to your account.")


@bp.get("/account/addresses/confirm/<token>")
def address_confirm_form(token: str):
    _address_link(token)
    return render_template(
        "account_confirm.html",
        heading="Confirm your address",
        text="Add this address to your account? Mail from it will count as sent by you.",
        action=url_for("accounts.address_confirm", token=token),
    )


@bp.post("/account/addresses/confirm/<token>")
def address_confirm(token: str):
    check_csrf()
    db = db_session()
    try:
        row = confirm_address(db, *_address_link(token))
        db.commit()
    except AccountError as e:
        db.rollback()
        abort(400, str(e))
    except IntegrityError:
        db.rollback()
        abort(400, "This address was confirmed by another account meanwhile.")
    return _notice(
        "Address confirmed",
        f"{row.address} is now an address of your account.",
        link=(url_for("accounts.overview"), "Your account"),
    )


@bp.post("/account/addresses/<int:address_id>/primary")
def address_primary(address_id: int):
    user, db = _form_user()
    try:
        row = set_primary(db, user, address_id)
    except REFUSALS as e:
        return _refused(user, e)
    return _done(f"Mail for you now goes to {row.address}.")


@bp.post("/account/addresses/<int:address_id>/remove")
def address_remove(address_id: int):
    user, db = _form_user()
    try:
        address = remove_address(db, user, address_id)
    except REFUSALS as e:
        return _refused(user, e)
    return _done(f"{address} was removed from your account.")


@bp.post("/account/password")
def password_change():
    user, db = _form_user()
    try:
        _check_repeated()
        change_password(user, request.form.get("current", ""), request.form.get("password", ""))
    except REFUSALS as e:
        return _refused(user, e)
    db.commit()
    sign_in(user)  # this session carries on; the others end
    return _done("Your password is changed, and every other session is signed out.")


@bp.post("/account/ssh-keys")
def ssh_key_add():
    user, db = _form_user()
    try:
        row = add_ssh_key(db, user, request.form.get("key", ""))
    except REFUSALS as e:
        return _refused(user, e)
    return _done(f"The SSH key {row.fingerprint} was added.")


@bp.post("/account/ssh-keys/<int:key_id>/remove")
def ssh_key_remove(key_id: int):
    user, db = _form_user()
    try:
        fingerprint = remove_ssh_key(db, user, key_id)
    except REFUSALS as e:
        return _refused(user, e)
    return _done(f"The SSH key {fingerprint} was removed.")


@bp.post("/account/pgp-keys")
def pgp_key_add():
    user, db = _form_user()
    try:
        row = add_user_pgp_key(db, user, request.form.get("key", ""))
    except REFUSALS as e:
        return _refused(user, e)
    return _done(f"The OpenPGP key {row.fingerprint} was added.")


@bp.post("/account/pgp-keys/<int:key_id>/remove")
def pgp_key_remove(key_id: int):
    user, db = _form_user()
    try:
        fingerprint = remove_pgp_key(db, user, key_id)
    except REFUSALS as e:
        return _refused(user, e)
    return _done(f"The OpenPGP key {fingerprint} was removed.")


@bp.post("/account/tokens")
def token_create():
    user, db = _form_user()
    days = request.form.get("days", DEFAULT_LIFETIME_DAYS, type=int)
    if days not in LIFETIMES_DAYS:
        return _refused(user, TokenRefused(f"choose a lifetime of {LIFETIMES_DAYS} days"))
    row, plaintext = create_token(db, user, request.form.get("name", ""), timedelta(days=days))
    db.commit()
    page = render_template(
        "account_token.html",
        token=row,
        plaintext=plaintext,
        base_url=app_settings().base_url.rstrip("/"),
    )
    return page, 200, NO_STORE


@bp.post("/account/tokens/<int:token_id>/revoke")
def token_revoke(token_id: int):
    user, db = _form_user()
    try:
        row = revoke_token(db, user, token_id)
    except REFUSALS as e:
        return _refused(user, e)
    return _done(f"The token {row.name!r} is revoked.")


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


def _signed_in() -> User:
    """The signed-in user; anyone else is sent to the sign-in form (a GET) or refused."""
    user = current_user()
    if user is None:
        if request.method == "GET":
            abort(redirect(url_for("accounts.login_form", next=request.path), 303))
        abort(403, "Sign in to your account first.")
    return user


def _form_user() -> tuple[User, object]:
    """For the account's forms: the CSRF check, then the signed-in user and the session."""
    check_csrf()
    return _signed_in(), db_session()


def _account_page(user: User, error: str | None = None):
    db = db_session()
    now = utcnow()
    page = render_template(
        "account.html",
        user=user,
        addresses=addresses_of(db, user),
        ssh_keys=ssh_keys_of(db, user),
        pgp_keys=pgp_keys_of(db, user),
        tokens=tokens_of(db, user),
        lifetimes=LIFETIMES_DAYS,
        default_lifetime=DEFAULT_LIFETIME_DAYS,
        now=now,
        error=error,
    )
    return page, 400 if error else 200, NO_STORE


def _refused(user: User, error: Exception):
    """The account page again with the reason a form was refused; nothing is kept."""
    db_session().rollback()
    return _account_page(user, str(error))


def _done(message: str):
    """Commit the form's change and go back to the account page, which says `message`."""
    db_session().commit()
    flash(message)
    return redirect(url_for("accounts.overview"), 303)


def _notice(heading: str, text: str, link: tuple[str, str] | None = None, status: int = 200):
    page = render_template("account_notice.html", heading=heading, text=text, link=link)
    return page, status


def _check_repeated() -> None:
    if request.form.get("password", "") != request.form.get("repeat", ""):
        raise PasswordRefused("the two passwords differ; type the same one twice")


def _signup_link(token: str) -> tuple[int, int]:
    try:
        return read_signup_token(app_settings(), token)
    except LinkRefused as e:
        abort(400, f"{str(e).capitalize()}.")


def _address_link(token: str) -> tuple[int, int, str]:
    try:
        return read_address_token(app_settings(), token)
    except LinkRefused as e:
        abort(400, f"{str(e).capitalize()}.")


def _reset_link(token: str) -> User:
    """The user a reset link is for, while it is unused."""
    try:
        user_id, stamp = read_reset_token(app_settings(), token)
    except LinkRefused as e:
        abort(400, f"{str(e).capitalize()}.")
    user = db_session().get(User, user_id)
    if user is None or user.confirmed_at is None:
        abort(400, "This link is for an account that no longer exists.")
    if stamp != password_stamp(user):
        abort(400, "This link was used already (the password changed since); ask for a new one.")
    return user


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
    if wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return url_for("accounts.overview")
