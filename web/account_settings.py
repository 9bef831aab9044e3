"""The signed-in person's own account page and its forms.

Getting into an account (`web.accounts`) and looking after one are different visitors'
business: these pages are only ever for someone already signed in, and each form ends
back on the account page, saying what it did or why it was refused.

    /account                             the overview, and the forms below it:
    POST /account/addresses              add an address (mails a confirmation link)
    /account/addresses/confirm/<token>   GET a button, POST confirms the address
    POST /account/addresses/<id>/primary, /account/addresses/<id>/remove
    POST /account/password               change the password
    POST /account/ssh-keys, /account/ssh-keys/<id>/remove
    POST /account/pgp-keys, /account/pgp-keys/<id>/remove
    POST /account/tokens                 make an API token, shown once on the answer
    POST /account/tokens/<id>/revoke
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from accounts import ratelimit
from accounts.mail import read_address_token, send_address_confirmation
from accounts.models import User
from accounts.passwords import change_password
from accounts.pgp_keys import add_user_pgp_key, pgp_keys_of, remove_pgp_key
from accounts.ssh_keys import add_ssh_key, remove_ssh_key, ssh_keys_of
from accounts.tokens import (
    DEFAULT_LIFETIME_DAYS,
    LIFETIMES_DAYS,
    TokenRefused,
    create_token,
    revoke_token,
    tokens_of,
)
from accounts.users import add_address, addresses_of, confirm_address, remove_address, set_primary
from core.db import utcnow
from web.context import app_settings, check_csrf, current_user, db_session, sign_in
from web.forms import ACCOUNT_REFUSALS as REFUSALS
from web.forms import (
    NO_STORE,
    add_account_error_pages,
    check_repeated_password,
    commit_confirmation,
    form_error,
    notice_page,
    read_link,
)

bp = Blueprint("account_settings", __name__)
add_account_error_pages(bp)


@bp.get("/account")
def overview():
    user = _signed_in()
    return _account_page(user)


# --- addresses -----------------------------------------------------------------------------


@bp.post("/account/addresses")
def address_add():
    user, db = _form_user()
    ratelimit.check(db, ratelimit.ADDRESS_MAIL_PER_USER, str(user.id))
    try:
        row = add_address(db, user, request.form.get("address", ""))
    except REFUSALS as e:
        return _refused(user, e, "address")
    ratelimit.record(db, ratelimit.ADDRESS_MAIL_PER_USER, str(user.id))
    send_address_confirmation(db, app_settings(), user, row)
    return _done(f"A message to {row.address} holds a link that adds it to your account.")


@bp.get("/account/addresses/confirm/<token>")
def address_confirm_form(token: str):
    read_link(read_address_token, token)
    return render_template(
        "account_confirm.html",
        heading="Confirm your address",
        text="Add this address to your account? Mail from it will count as sent by you.",
        action=url_for("account_settings.address_confirm", token=token),
    )


@bp.post("/account/addresses/confirm/<token>")
def address_confirm(token: str):
    check_csrf()
    db = db_session()
    row = commit_confirmation(
        db, lambda: confirm_address(db, *read_link(read_address_token, token))
    )
    return notice_page(
        "Address confirmed",
        f"{row.address} is now an address of your account.",
        link=(url_for("account_settings.overview"), "Your account"),
    )


@bp.post("/account/addresses/<id('address'):address_id>/primary")
def address_primary(address_id: int):
    user, db = _form_user()
    try:
        row = set_primary(db, user, address_id)
    except REFUSALS as e:
        return _refused(user, e, "addresses")
    return _done(f"Mail for you now goes to {row.address}.")


@bp.post("/account/addresses/<id('address'):address_id>/remove")
def address_remove(address_id: int):
    user, db = _form_user()
    try:
        address = remove_address(db, user, address_id)
    except REFUSALS as e:
        return _refused(user, e, "addresses")
    return _done(f"{address} was removed from your account.")


# --- password ------------------------------------------------------------------------------


@bp.post("/account/password")
def password_change():
    user, db = _form_user()
    try:
        check_repeated_password()
        change_password(user, request.form.get("current", ""), request.form.get("password", ""))
    except REFUSALS as e:
        return _refused(user, e, "password")
    db.commit()
    sign_in(user, end_other_sessions=True)  # this session carries on; the others end
    return _done("Your password is changed, and every other session is signed out.")


# --- keys ----------------------------------------------------------------------------------


@bp.post("/account/ssh-keys")
def ssh_key_add():
    user, db = _form_user()
    try:
        row = add_ssh_key(db, user, request.form.get("key", ""))
    except REFUSALS as e:
        return _refused(user, e, "ssh-key")
    return _done(f"The SSH key {row.fingerprint} was added.")


@bp.post("/account/ssh-keys/<id('key'):key_id>/remove")
def ssh_key_remove(key_id: int):
    user, db = _form_user()
    try:
        fingerprint = remove_ssh_key(db, user, key_id)
    except REFUSALS as e:
        return _refused(user, e, "ssh-keys")
    return _done(f"The SSH key {fingerprint} was removed.")


@bp.post("/account/pgp-keys")
def pgp_key_add():
    user, db = _form_user()
    try:
        row = add_user_pgp_key(db, user, request.form.get("key", ""))
    except REFUSALS as e:
        return _refused(user, e, "pgp-key")
    return _done(f"The OpenPGP key {row.fingerprint} was added.")


@bp.post("/account/pgp-keys/<id('key'):key_id>/remove")
def pgp_key_remove(key_id: int):
    user, db = _form_user()
    try:
        fingerprint = remove_pgp_key(db, user, key_id)
    except REFUSALS as e:
        return _refused(user, e, "pgp-keys")
    return _done(f"The OpenPGP key {fingerprint} was removed.")


# --- API tokens ----------------------------------------------------------------------------


@bp.post("/account/tokens")
def token_create():
    user, db = _form_user()
    days = request.form.get("days", DEFAULT_LIFETIME_DAYS, type=int)
    if days not in LIFETIMES_DAYS:
        return _refused(user, TokenRefused(f"choose a lifetime of {LIFETIMES_DAYS} days"), "token")
    row, plaintext = create_token(db, user, request.form.get("name", ""), timedelta(days=days))
    db.commit()
    page = render_template(
        "account_token.html",
        token=row,
        plaintext=plaintext,
        base_url=app_settings().base_url.rstrip("/"),
    )
    return page, 200, NO_STORE


@bp.post("/account/tokens/<id('token'):token_id>/revoke")
def token_revoke(token_id: int):
    user, db = _form_user()
    try:
        row = revoke_token(db, user, token_id)
    except REFUSALS as e:
        return _refused(user, e, "tokens")
    return _done(f"The token {row.name!r} is revoked.")


# --- helpers -------------------------------------------------------------------------------


def _signed_in() -> User:
    """The signed-in user; anyone else is sent to the sign-in form (a GET) or refused."""
    user = current_user()
    if user is None:
        if request.method == "GET":
            abort(redirect(url_for("accounts.login_form", next=request.path), 303))
        abort(403, "Sign in to your account first.")
    return user


def _form_user() -> tuple[User, Session]:
    """For the account's forms: the CSRF check, then the signed-in user and the session."""
    check_csrf()
    return _signed_in(), db_session()


def _account_page(user: User):
    return render_template("account.html", **_account_values(user)), 200, NO_STORE


def _account_values(user: User) -> dict:
    db = db_session()
    return dict(
        user=user,
        addresses=addresses_of(db, user),
        ssh_keys=ssh_keys_of(db, user),
        pgp_keys=pgp_keys_of(db, user),
        tokens=tokens_of(db, user),
        lifetimes=LIFETIMES_DAYS,
        default_lifetime=DEFAULT_LIFETIME_DAYS,
        now=utcnow(),
    )


def _refused(user: User, error: Exception, field: str):
    """The account page again (400) with the refused form as it was sent (passwords
    excepted) and the reason beside `field`; nothing the form asked for is kept."""
    db_session().rollback()
    return *form_error("account.html", error, field=field, **_account_values(user)), NO_STORE


def _done(message: str):
    """Commit the form's change and go back to the account page, which says `message`."""
    db_session().commit()
    flash(message)
    return redirect(url_for("account_settings.overview"), 303)
