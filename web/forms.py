"""What the form pages share: reading text fields, answering a refused form with the form
again, and the account pages' notices, links and error pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from flask import Blueprint, abort, render_template, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.mail import LinkRefused
from accounts.models import AccessEntry
from accounts.names import NameRefused
from accounts.passwords import PasswordRefused
from accounts.ratelimit import RateLimited
from accounts.ssh_keys import SshKeyRefused
from accounts.tokens import TokenRefused
from accounts.users import AccountError
from core.errors import UserError
from core.settings import Settings
from mail.keys import KeyRefused
from web.context import app_settings, db_session

FORM_MAX = 100_000  # characters of a text field sent from the web
# What the account forms may refuse; each message is for the person who filled the form.
ACCOUNT_REFUSALS = (
    AccountError,
    NameRefused,
    PasswordRefused,
    SshKeyRefused,
    KeyRefused,
    TokenRefused,
)
NO_STORE = {"Cache-Control": "no-store"}
T = TypeVar("T")


def form_text(key: str, limit: int = FORM_MAX) -> str:
    """A form field with browsers' CRLF made LF; NULs and oversize text refused with a
    `FieldRefused` (a view shows it beside the field; else it is a 400)."""
    text = request.form.get(key, "").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise FieldRefused(key, "NUL characters are not allowed")
    if len(text) > limit:
        raise FieldRefused(key, f"that is too long for the web form ({limit} characters at most)")
    return text


class FieldRefused(UserError):
    """A form's value that cannot be used, and the field it is in: the form is shown
    again with the message beside that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def entry_to_revoke(entries: Iterable[AccessEntry]) -> AccessEntry:
    """The access entry a settings page's "remove" form names (its `entry` field)."""
    wanted = request.form.get("entry")
    entry = next((e for e in entries if str(e.id) == wanted), None)
    if entry is None:
        raise FieldRefused("entries", "there is no such access entry; reload the page")
    return entry


def form_error(template: str, error: Exception, *, field: str = "", **values):
    """The form again (400), filled in as sent, with what is wrong: beside `field` (or
    the field a `FieldRefused` names), else above the form.

    Every refusable form answers through this, so what was typed is never lost. The
    template gets `error`, `error_field` and `form` (what was sent, unless `values`
    gives it); `_forms.html` has the macros that show the message where it belongs.
    """
    values.setdefault("form", request.form)
    field = field or getattr(error, "field", "")
    return render_template(template, error=sentence(error), error_field=field, **values), 400


def sentence(error: Exception | str) -> str:
    """A refusal's message as a sentence: capitalised, ending in a full stop."""
    text = str(error).strip()
    if text and text[-1] not in ".?!":
        text += "."
    return f"{text[:1].upper()}{text[1:]}"


# -- the account pages -----------------------------------------------------------------


def add_account_error_pages(blueprint: Blueprint) -> None:
    """Make `blueprint` answer a rate limit and a racing request as every account page
    does (Flask's error handlers belong to one blueprint)."""
    blueprint.register_error_handler(RateLimited, _rate_limited)
    blueprint.register_error_handler(IntegrityError, _changed_meanwhile)


def _rate_limited(error: RateLimited):
    """429 with Retry-After, and a page saying how long to wait. Attempts counted in the
    request are kept: that is what makes the limit hold."""
    db_session().commit()
    return (
        render_template("account_limited.html", message=str(error)),
        429,
        {"Retry-After": str(error.retry_after)},
    )


def _changed_meanwhile(_error: IntegrityError):
    """Two requests racing (a double click, two tabs): the database kept one; the other
    hears so instead of an error page."""
    db_session().rollback()
    return notice_page(
        "Changed meanwhile",
        "Another request changed the same thing at the same moment; reload the page and"
        " check whether what you asked for is done.",
        status=409,
    )


def notice_page(heading: str, text: str, link: tuple[str, str] | None = None, status: int = 200):
    page = render_template("account_notice.html", heading=heading, text=text, link=link)
    return page, status


def check_repeated_password() -> None:
    if request.form.get("password", "") != request.form.get("repeat", ""):
        raise PasswordRefused("the two passwords differ; type the same one twice")


def read_link(read: Callable[[Settings, str], T], token: str) -> T:
    """What the token of a mailed link says, read by `read`; 400 with the reason when it
    is not valid or has expired."""
    try:
        return read(app_settings(), token)
    except LinkRefused as e:
        abort(400, f"{str(e).capitalize()}.")


def commit_confirmation(db: Session, confirm: Callable[[], T]) -> T:
    """Run `confirm` and commit, or answer 400 saying why not: the link is stale, or
    someone else confirmed the address first (the unique index tells)."""
    try:
        done = confirm()
        db.commit()
    except AccountError as e:
        db.rollback()
        abort(400, str(e))
    except IntegrityError:
        db.rollback()
        abort(400, "This address was confirmed by another account meanwhile.")
    return done
