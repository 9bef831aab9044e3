"""Membership pages: the one-click unsubscribe link every list copy carries, and the list
owner's view of who is subscribed and how delivery goes.

    /<list>/unsubscribe/<token>        a form that unsubscribes the token's address
    POST /<list>/unsubscribe/<token>   RFC 8058 one-click: unsubscribes, no login
    /<list>/members                    members, recent bounces, undelivered copies
                                       (the list owner only; ?after=<id> pages)
    POST /<list>/subscribe             the list page's form: mails a confirmation request
    /<list>/confirm/<token>            a form completing a request, as replying would

The signed token is the credential for unsubscribing: mail providers POST
`List-Unsubscribe=One-Click` to it without cookies, so that POST needs no session and no
CSRF token. A GET never unsubscribes, because mail scanners and link previews fetch every
URL in a message; it shows the form whose POST does.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from archive.models import MailingList
from mta.list_reports import REPORT_ROWS, recent_bounces, undelivered_copies
from mta.models import RequestKind
from mta.subscribe import confirm_by_web, request_by_web
from mta.subscriptions import (
    SubscriptionError,
    members_page,
    read_unsubscribe_token,
    unsubscribe,
)
from web.app import app_settings, db_session, list_or_404
from web.auth import check_csrf, current_address, is_owner

bp = Blueprint("subscriptions", __name__)

MEMBERS_PER_PAGE = 50


@bp.get("/<name>/unsubscribe/<token>")
def unsubscribe_form(name: str, token: str):
    mlist, address = _token_target(name, token)
    return render_template("unsubscribe.html", mlist=mlist, address=address, token=token)


@bp.post("/<name>/unsubscribe/<token>")
def unsubscribe_now(name: str, token: str):
    """RFC 8058's POST. The body (`List-Unsubscribe=One-Click`) is not required: the token
    alone decides, and answering 200 again for an address already gone keeps it idempotent."""
    mlist, address = _token_target(name, token)
    session = db_session()
    unsubscribe(session, mlist.id, address)
    session.commit()
    return render_template(
        "unsubscribed.html", mlist=mlist, address=address, domain=app_settings().domain
    )


@bp.post("/<name>/subscribe")
def request_form(name: str):
    """The list page's form. It only mails a confirmation request: the change happens
    when the mailbox's owner replies or opens the link in it."""
    check_csrf()
    mlist = list_or_404(name)
    wanted = request.form.get("action", "subscribe")
    kind = RequestKind.unsubscribe if wanted == "unsubscribe" else RequestKind.subscribe
    session = db_session()
    try:
        request_by_web(session, app_settings(), mlist, request.form.get("address", ""), kind)
    except SubscriptionError as e:
        abort(400, str(e))
    session.commit()
    return render_template(
        "subscription_notice.html",
        mlist=mlist,
        heading="Check your mail",
        text=f"If the address is right, a message asks it to confirm: reply to it, or open"
        f" the link it holds, to {kind.value} {'to' if kind is RequestKind.subscribe else 'from'}"
        f" {mlist.name}.",
    )


@bp.get("/<name>/confirm/<token>")
def confirm_form(name: str, token: str):
    """A form, not the change itself: mail scanners fetch every link in a message."""
    return render_template("confirm.html", mlist=list_or_404(name), token=token)


@bp.post("/<name>/confirm/<token>")
def confirm_now(name: str, token: str):
    mlist = list_or_404(name)
    session = db_session()
    done = confirm_by_web(session, app_settings(), mlist, token)
    if done is None:
        abort(404, "This confirmation is unknown, has expired or was used already.")
    session.commit()
    kind, address = done
    verb = "subscribed to" if kind is RequestKind.subscribe else "unsubscribed from"
    return render_template(
        "subscription_notice.html",
        mlist=mlist,
        heading="Done",
        text=f"{address} is {verb} {mlist.name}.",
    )


@bp.get("/<name>/members")
def members(name: str):
    if current_address() is None:
        abort(403, "Sign in as the list owner to see its members.")
    mlist = list_or_404(name)
    if not is_owner(mlist):
        abort(403, f"Only the owner of {mlist.name} may see its members; sign in as the owner.")
    after = max(request.args.get("after", 0, type=int), 0)
    session = db_session()
    page = members_page(session, mlist.id, after_id=after, limit=MEMBERS_PER_PAGE)
    return render_template(
        "members.html",
        mlist=mlist,
        page=page,
        paged=after > 0,
        bounces=recent_bounces(session, mlist.id),
        undelivered=undelivered_copies(session, mlist.id),
        report_rows=REPORT_ROWS,
    )


def _token_target(name: str, token: str) -> tuple[MailingList, str]:
    """The list and address a token was made for; 404 for a forged token or one made for
    another list, so a token cannot be replayed against a list it does not name."""
    target = read_unsubscribe_token(app_settings(), token)
    if target is None:
        abort(404, "This unsubscribe link is not valid; check that it was copied whole.")
    mlist = list_or_404(name)
    list_name, address = target
    if list_name != mlist.name:
        abort(404, f"This unsubscribe link is not for the list {mlist.name}.")
    return mlist, address
