"""Membership pages: the one-click unsubscribe link every list copy carries, the list
owner's view of who is subscribed and how delivery goes, and the owner's settings of who
may see and use the list.

    /<list>/unsubscribe/<token>        a form that unsubscribes the token's address
    POST /<list>/unsubscribe/<token>   RFC 8058 one-click: unsubscribes, no login
    /<list>/members                    members, recent bounces, undelivered copies
                                       (the list owner only; ?after=<id> pages)
    POST /<list>/subscribe             the list page's form: mails a confirmation request
    /<list>/confirm/<token>            a form completing a request, as replying would
    /<list>/settings                   visibility, default rights, moderation, owning
                                       group, access entries (managers only; POST with
                                       action=save, grant or revoke)

A list the visitor may not browse answers 404 as one that does not exist, except to the
holder of a token made for it: an unsubscribe link, or a pending confirmation (the
token was mailed to its address, and proves no more than that the list exists).

The signed token is the credential for unsubscribing: mail providers POST
`List-Unsubscribe=One-Click` to it without cookies, so that POST needs no session and no
CSRF token. A GET never unsubscribes, because mail scanners and link previews fetch every
URL in a message; it shows the form whose POST does.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from accounts import ratelimit
from accounts.access import VISIBILITIES
from accounts.groups import groups_offered
from accounts.models import Group
from archive.lists import get_list
from archive.models import MailingList
from lists.access import LIST_RIGHTS, ListRight, list_access_entries, list_scope, may, may_manage
from lists.commands import confirm_by_web, request_by_web
from lists.manage import (
    MODERATION_DAYS_MAX,
    MODERATION_MODES,
    ListError,
    change_list_settings,
    grant_list_access,
    parse_list_rights,
    revoke_list_access,
)
from lists.membership import SubscriptionError, members_page, read_unsubscribe_token, unsubscribe
from lists.reports import REPORT_ROWS, recent_bounces, undelivered_copies
from mail.confirmation import is_pending
from mail.models import RequestKind
from patchsets.repositories import RepositoryLinkError, link_named, repository_links, unlink_named
from web.context import (
    app_settings,
    check_csrf,
    current_actor,
    current_address,
    db_session,
    int_arg,
    is_owner,
    list_or_404,
)
from web.forms import add_account_error_pages, form_error

bp = Blueprint("subscriptions", __name__)
add_account_error_pages(bp)  # a rate limit answers 429 with a page, as sign-up does

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
    return render_template("unsubscribed.html", mlist=mlist, address=address)


@bp.post("/<name>/subscribe")
def request_form(name: str):
    """The list page's form. It only mails a confirmation request: the change happens
    when the mailbox's owner replies or opens the link in it."""
    check_csrf()
    mlist = list_or_404(name)
    wanted = request.form.get("action", "subscribe")
    kind = RequestKind.unsubscribe if wanted == "unsubscribe" else RequestKind.subscribe
    session = db_session()
    # Each request mails someone: limited per client here and per address it goes to
    # (`lists.commands`); over either, 429 and a page saying so (`web.forms`).
    ratelimit.check(session, ratelimit.CONFIRMATION_PER_IP, request.remote_addr or "unknown")
    try:
        request_by_web(session, app_settings(), mlist, request.form.get("address", ""), kind)
    except SubscriptionError as e:
        return form_error("subscribe.html", e, field="address", mlist=mlist)
    ratelimit.record(session, ratelimit.CONFIRMATION_PER_IP, request.remote_addr or "unknown")
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
    return render_template("confirm.html", mlist=_confirm_target(name, token), token=token)


@bp.post("/<name>/confirm/<token>")
def confirm_now(name: str, token: str):
    mlist = _confirm_target(name, token)
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
    after = int_arg("after")
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


@bp.route("/<name>/settings", methods=["GET", "POST"])
def list_settings(name: str):
    """Who may see and use the list, for those who manage it; 404 for anyone else."""
    mlist = _managed_list(name)
    if request.method == "GET":
        return _settings_page(mlist)
    check_csrf()
    session = db_session()
    action = request.form.get("action", "save")
    try:
        if action == "grant":
            rights = parse_list_rights(request.form.getlist("rights"))
            grant_list_access(session, mlist, request.form.get("who", ""), rights)
        elif action == "revoke":
            revoke_list_access(session, mlist, request.form.get("who", ""))
        elif action == "link_repo":
            default = request.form.get("default") == "yes"
            link_named(
                session, mlist, request.form.get("repo", ""), current_actor(), default=default
            )
        elif action == "unlink_repo":
            unlink_named(session, mlist, request.form.get("repo", ""), current_actor())
        elif action == "save":
            change_list_settings(
                session,
                mlist,
                visibility=request.form.get("visibility", mlist.visibility),
                default_rights=parse_list_rights(request.form.getlist("default_rights")),
                moderation=request.form.get("moderation", mlist.moderation),
                moderation_days=_form_days(mlist),
                owner_group=_chosen_group(mlist, request.form.get("group", "")),
            )
        else:
            abort(400, f"unknown action {action!r}")
    except (ListError, RepositoryLinkError) as e:
        session.rollback()
        values = _settings_values(_managed_list(name))
        return form_error("list_settings.html", e, field=_SETTINGS_FIELDS[action], **values)
    session.commit()
    return redirect(url_for("subscriptions.list_settings", name=mlist.name), 303)


def _managed_list(name: str) -> MailingList:
    """The list, if the visitor manages it. As the access rule answers (and a tracker's
    settings do): 404 as for a list that does not exist when they may not browse it,
    403 when they see the list but may not manage it."""
    mlist = list_or_404(name)
    if not may_manage(mlist, current_actor()):
        abort(403, f"Only the owners of {mlist.name} may see its settings.")
    return mlist


# Where each settings form's refusal is shown: beside the field it is about.
_SETTINGS_FIELDS = {
    "save": "settings",
    "grant": "who",
    "revoke": "entries",
    "link_repo": "repo",
    "unlink_repo": "repos",
}


def _settings_page(mlist: MailingList) -> str:
    return render_template("list_settings.html", **_settings_values(mlist))


def _settings_values(mlist: MailingList) -> dict:
    session = db_session()
    return dict(
        mlist=mlist,
        visibilities=VISIBILITIES,
        rights=LIST_RIGHTS,
        defaults=set(mlist.default_rights.split(",")),
        moderation_modes=MODERATION_MODES,
        days_max=MODERATION_DAYS_MAX,
        groups=_group_choices(mlist),
        entries=list_access_entries(session, mlist),
        repository_links=repository_links(session, mlist.id),
    )


def _group_choices(mlist: MailingList) -> list[Group]:
    """Groups the list may be given to: those the visitor owns or maintains (any, for a
    site admin), and the one that has it now."""
    return groups_offered(db_session(), current_actor(), mlist.owner_group_id)


def _chosen_group(mlist: MailingList, value: str) -> Group | None:
    if not value.strip():
        return None
    for group in _group_choices(mlist):
        if str(group.id) == value.strip():
            return group
    raise ListError("choose a group you own or maintain, or none")


def _form_days(mlist: MailingList) -> int:
    value = request.form.get("moderation_days", "").strip()
    if not value:
        return mlist.moderation_days
    # ASCII digits, and few: int() fails on '²' (a digit to isdigit) and on 5,000 digits.
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        raise ListError(f"moderation days must be a number from 1 to {MODERATION_DAYS_MAX}")
    return int(value)


def _confirm_target(name: str, token: str) -> MailingList:
    """The list of a confirmation link: 404 as for no list unless the visitor may browse
    it or the token is a live request for it (it was mailed to the address it names)."""
    session = db_session()
    mlist = get_list(session, name)
    if mlist is not None and not may(session, mlist, current_actor(), ListRight.browse):
        if not is_pending(session, list_scope(mlist.id), token):
            mlist = None
    if mlist is None:
        return list_or_404(name)  # its 404, word for word
    return mlist


def _token_target(name: str, token: str) -> tuple[MailingList, str]:
    """The list and address a token was made for; 404 for a forged token or one made for
    another list, so a token cannot be replayed against a list it does not name. The
    token is the credential: a subscriber leaves a private list without signing in."""
    target = read_unsubscribe_token(app_settings(), token)
    if target is None:
        abort(404, "This unsubscribe link is not valid; check that it was copied whole.")
    list_name, address = target
    if list_name != name.lower():
        abort(404, f"This unsubscribe link is not for the list {name}.")
    mlist = get_list(db_session(), name)
    if mlist is None:
        return list_or_404(name), address  # gone since: its 404, word for word
    return mlist, address
