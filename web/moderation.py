"""The moderation queue of a list: the posts held for its moderators, and their
decisions.

    /<list>/moderation                         held posts, oldest first (?after=<id> pages)
    POST /<list>/moderation/<id>/approve       archive the post and send it to the list
    POST /<list>/moderation/<id>/reject        refuse it; `reason` is told to the author

Only those with the list's `moderate` right see any of it; for everyone else these pages
do not exist (404), as a private list does not. The decisions are `lists.moderation`'s,
the same a moderator's `!approve` or `!reject` by mail makes; deciding on a post someone
already decided on is refused with who did (409).
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from archive.models import MailingList
from lists.access import ListRight, may
from lists.models import HeldMessage
from lists.moderation import (
    HELD_PAGE,
    AlreadyDecided,
    approve_held,
    held_page,
    held_text,
    reject_held,
)
from web.context import (
    app_settings,
    check_csrf,
    current_actor,
    current_address,
    db_session,
    int_arg,
    list_or_404,
)

bp = Blueprint("moderation", __name__)

# What the page says after a decision (?done=...).
DONE = {
    "approved": "Approved: the post is archived and sent to the list's subscribers.",
    "rejected": "Rejected: its author is told the reason you gave.",
}


@bp.get("/<name>/moderation")
def queue(name: str):
    mlist = _moderated_list(name)
    after = int_arg("after")
    page = held_page(db_session(), mlist.id, after_id=after, limit=HELD_PAGE)
    return render_template(
        "moderation.html",
        mlist=mlist,
        page=page,
        texts={held.id: held_text(held) for held in page.posts},
        paged=after > 0,
        done=DONE.get(request.args.get("done", "")),
    )


@bp.post("/<name>/moderation/<id('held message'):held_id>/approve")
def approve(name: str, held_id: int):
    check_csrf()
    mlist = _moderated_list(name)
    held = _held_on(mlist, held_id)
    session = db_session()
    try:
        approve_held(session, app_settings(), held, by=_decider())
    except AlreadyDecided as e:
        abort(409, f"{str(e)[:1].upper()}{str(e)[1:]}.")
    session.commit()
    return redirect(url_for("moderation.queue", name=mlist.name, done="approved"), 303)


@bp.post("/<name>/moderation/<id('held message'):held_id>/reject")
def reject(name: str, held_id: int):
    check_csrf()
    mlist = _moderated_list(name)
    held = _held_on(mlist, held_id)
    session = db_session()
    try:
        reject_held(
            session, app_settings(), held, by=_decider(), reason=request.form.get("reason", "")
        )
    except AlreadyDecided as e:
        abort(409, f"{str(e)[:1].upper()}{str(e)[1:]}.")
    except ValueError as e:
        abort(400, f"{str(e)[:1].upper()}{str(e)[1:]}.")
    session.commit()
    return redirect(url_for("moderation.queue", name=mlist.name, done="rejected"), 303)


def _moderated_list(name: str) -> MailingList:
    """The list, when the signed-in person may moderate it; else 404."""
    mlist = list_or_404(name)
    if not may(db_session(), mlist, current_actor(), ListRight.moderate):
        abort(404, f"There is no moderation queue for {name!r} here.")
    return mlist


def _held_on(mlist: MailingList, held_id: int) -> HeldMessage:
    held = db_session().get(HeldMessage, held_id)
    if held is None or held.list_id != mlist.id:
        abort(404, "There is no such held post on this list.")
    return held


def _decider() -> str:
    """Who decided, as the queue and the mail path record it: an address."""
    actor = current_actor()
    return current_address() or actor.username or "a moderator"
