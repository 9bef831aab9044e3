"""A tracker's settings page: who may see it and do what on it.

Only the tracker's managers come here, and what they change decides what every other
page of the tracker (`web.trackers`) shows and allows, so it is kept apart from the
pages that read and write tickets.

    /<tracker>/tickets/settings      visibility, default rights, owning group and access
                                     entries (managers; POST changes them)

A tracker the visitor may not browse answers 404 here too, as one that does not exist;
one they may browse but not manage answers 403.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from accounts.access import VISIBILITIES
from accounts.models import User
from accounts.users import find_user, usernames_by_id
from trackers.access import (
    TRACKER_RIGHTS,
    AccessError,
    access_entries,
    may_manage,
    remove_access,
    set_access,
    set_default_rights,
    set_owner_group,
    set_visibility,
)
from trackers.models import Tracker
from web.context import (
    check_csrf,
    chosen_group,
    current_actor,
    db_session,
    groups_offered,
    tracker_or_404,
)
from web.forms import FieldRefused, entry_to_revoke, form_error

bp = Blueprint("tracker_settings", __name__)


@bp.get("/<name>/tickets/settings")
def settings_page(name: str):
    tracker = _managed_or_403(name)
    return _render_settings(tracker)


@bp.post("/<name>/tickets/settings")
def change_settings(name: str):
    """One of three forms: `access` (visibility, default rights, group), `grant` (an entry
    for ~USER or an address) and `revoke` (an entry)."""
    check_csrf()
    tracker = _managed_or_403(name)
    session = db_session()
    action = request.form.get("action", "")
    change = _CHANGES.get(action)
    if change is None:
        abort(400, "Unknown settings form; reload the page.")
    try:
        change(session, tracker)
    except AccessError as error:
        session.rollback()
        return _render_settings(tracker, error, _FIELD_OF_FORM[action])
    except FieldRefused as error:
        session.rollback()
        return _render_settings(tracker, error)
    session.commit()
    return redirect(url_for("tracker_settings.settings_page", name=tracker.name), 303)


# -- the three forms ---------------------------------------------------------------------


def _change_access(session, tracker: Tracker) -> None:
    set_visibility(tracker, request.form.get("visibility", ""))
    set_default_rights(tracker, request.form.getlist("default"))
    set_owner_group(tracker, chosen_group(request.form.get("group", ""), tracker.owner_group_id))


def _grant(session, tracker: Tracker) -> None:
    who = request.form.get("who", "").strip()
    rights = request.form.getlist("rights")
    if who.startswith("~"):
        set_access(session, tracker, rights, user_id=_user_or_400(who).id)
    elif who:
        set_access(session, tracker, rights, address=who)
    else:
        raise FieldRefused("who", "name someone: ~USERNAME or an address")


def _revoke(session, tracker: Tracker) -> None:
    entry = entry_to_revoke(access_entries(session, tracker))
    remove_access(session, tracker, user_id=entry.user_id, address=entry.address_key)


_CHANGES = {"access": _change_access, "grant": _grant, "revoke": _revoke}
# Where each form's refusal is shown: beside the field it is about.
_FIELD_OF_FORM = {"access": "access", "grant": "who", "revoke": "entries"}


# -- helpers -----------------------------------------------------------------------------


def _managed_or_403(name: str) -> Tracker:
    tracker = tracker_or_404(name)
    if not may_manage(tracker, current_actor()):
        abort(403, f"Only the owners of {tracker.name} may change its settings.")
    return tracker


def _render_settings(tracker: Tracker, error: Exception | None = None, field: str = ""):
    """The settings page; with `error`, again as a refused form was sent (400)."""
    session = db_session()
    entries = access_entries(session, tracker)
    usernames = usernames_by_id(session, [e.user_id for e in entries if e.user_id is not None])
    values = dict(
        tracker=tracker,
        visibilities=VISIBILITIES,
        all_rights=TRACKER_RIGHTS,
        defaults=set(tracker.default_rights.split(",")),
        groups=groups_offered(tracker.owner_group_id),
        entries=[
            (e, usernames.get(e.user_id, "") if e.user_id is not None else "") for e in entries
        ],
    )
    if error is not None:
        return form_error("tracker_settings.html", error, field=field, **values)
    return render_template("tracker_settings.html", **values)


def _user_or_400(who: str) -> User:
    user = find_user(db_session(), who)
    if user is None:
        raise FieldRefused("who", f"there is no user {who}")
    return user
