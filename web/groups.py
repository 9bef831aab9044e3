"""Owners and groups: the ~NAME pages, and the shared pieces of the owner namespace.

    /~NAME                           a user's projects, repositories and groups; a group's
                                     description, members, projects, repositories, and
                                     the lists and trackers it owns (those the visitor may
                                     browse)
    /~NAME/members                   the group's owners change who belongs (POST: add,
                                     role, remove, describe)
    /groups/new                      the creation form (POST creates)

Projects, which live below an owner, are `web.projects`; both use the `ownername`
converter of `web.context`. NAME matches usernames and group names only (no
'.'), so that /~USER.keys and /~USER.pgp stay the accounts pages'. A list or tracker a
visitor may not browse is left out of every page here, as if it did not exist.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from accounts.access import Actor, actor_for_user
from accounts.groups import (
    GroupError,
    create_group,
    get_group,
    groups_of,
    may_act_for,
    may_manage_members,
    members_of,
    parse_role,
    remove_member,
    set_description,
    set_member,
)
from accounts.models import Group, GroupRole, User
from accounts.projects import find_owner, may_manage_owner, projects_of
from accounts.users import find_user
from lists.access import ListRight, lists_owned_by
from lists.access import may as may_list
from repos.repositories import repositories_of
from trackers.access import TrackerRight
from trackers.access import may as may_tracker
from trackers.queries import trackers_owned_by
from web.context import (
    add_owner_converter,
    check_csrf,
    current_actor,
    current_user,
    db_session,
    user_or_403,
)
from web.forms import FieldRefused, form_error, form_text

bp = Blueprint("groups", __name__)

# Before the routes below: a rule finds its converters when it is added.
bp.record_once(add_owner_converter)


# -- groups ------------------------------------------------------------------------------


@bp.get("/groups/new")
def new_group_form():
    user_or_403("create a group")
    return render_template("group_new.html", name="", description="")


@bp.post("/groups/new")
def new_group():
    user = user_or_403("create a group")
    check_csrf()
    session = db_session()
    name, description = request.form.get("name", ""), request.form.get("description", "")
    try:
        group = create_group(session, name, user, form_text("description"))
    except (GroupError, FieldRefused) as error:
        session.rollback()
        return form_error("group_new.html", error, field="name", name=name, description=description)
    session.commit()
    return redirect(url_for("groups.owner_page", owner=group.name), 303)


@bp.get("/~<ownername:owner>")
def owner_page(owner: str):
    session = db_session()
    found = find_owner(session, owner)
    if found is None:
        abort(404, f"There is no user or group named ~{owner.lower()} here.")
    actor = current_actor()
    projects = projects_of(session, owner)
    repositories = repositories_of(session, actor, owner)
    if isinstance(found, User):
        return render_template(
            "owner.html",
            user=found,
            group=None,
            projects=projects,
            repositories=repositories,
            groups=groups_of(session, found),
            may_create=may_manage_owner(actor, found),
        )
    lists = lists_owned_by(session, found.id)
    trackers = trackers_owned_by(session, found.id)
    return render_template(
        "owner.html",
        user=None,
        group=found,
        projects=projects,
        repositories=repositories,
        members=members_of(session, found),
        lists=[m for m in lists if may_list(session, m, actor, ListRight.browse)],
        trackers=[t for t in trackers if may_tracker(session, t, actor, TrackerRight.browse)],
        may_create=may_act_for(actor, found),
        may_manage=may_manage_members(actor, found),
    )


@bp.get("/~<ownername:owner>/members")
def members_page(owner: str):
    group = _managed_group(owner)
    return render_template("group_members.html", **_members_values(group))


def _members_values(group: Group) -> dict:
    return dict(group=group, members=members_of(db_session(), group), roles=list(GroupRole))


# Where each members form's refusal is shown: beside the field it is about.
_FIELD_OF_MEMBERS_FORM = {
    "add": "username",
    "role": "members",
    "remove": "members",
    "describe": "description",
}


@bp.post("/~<ownername:owner>/members")
def change_members(owner: str):
    """`add` (username, role), `role` (username, role), `remove` (username), `describe`."""
    check_csrf()
    group = _managed_group(owner)
    session = db_session()
    action = request.form.get("action", "")
    try:
        if action == "describe":
            set_description(session, group, form_text("description"))
        elif action in ("add", "role", "remove"):
            _change_member(session, group, action)
        else:
            abort(400, "Unknown form; reload the page.")
    except (GroupError, FieldRefused) as error:
        session.rollback()
        return form_error(
            "group_members.html",
            error,
            field=_FIELD_OF_MEMBERS_FORM[action],
            **_members_values(group),
        )
    session.commit()
    if not may_manage_members(_actor_after_change(), group):
        return redirect(url_for("groups.owner_page", owner=group.name), 303)
    return redirect(url_for("groups.members_page", owner=group.name), 303)


def _change_member(session, group: Group, action: str) -> None:
    """`add` or `role` (username, role), or `remove` (username)."""
    who = request.form.get("username", "")
    user = find_user(session, who)
    if user is None:
        raise FieldRefused("", f"there is no user named {who.strip() or '(nobody)'!r}")
    if action == "remove":
        remove_member(session, group, user)
    else:
        set_member(session, group, user, parse_role(request.form.get("role", "")))


# -- helpers (`web.projects` uses the public ones too) -----------------------------------


def _actor_after_change() -> Actor:
    """The actor after a change of roles in this request (`current_actor` is cached)."""
    user = current_user()
    return actor_for_user(db_session(), user) if user is not None else current_actor()


def _managed_group(owner: str) -> Group:
    group = get_group(db_session(), owner)
    if group is None:
        abort(404, f"There is no group named ~{owner.lower()} here.")
    if not may_manage_members(current_actor(), group):
        abort(403, f"Only the owners of ~{group.name} may change its members.")
    return group
