"""Owners, groups and projects: the ~NAME pages.

    /~NAME                           a user's projects and groups; a group's description,
                                     members, projects, and the lists and trackers it owns
                                     (those the visitor may browse)
    /~NAME/members                   the group's owners change who belongs (POST: add,
                                     role, remove, describe)
    /~NAME/PROJECT                   a project: README, links, recent activity
    /~NAME/PROJECT/settings          description, README and links, for whoever manages
                                     the owner (POST: details, link, unlink)
    /groups/new, /projects/new       the creation forms (POST creates)
    /groups/style.css                the forms' layout

NAME matches usernames and group names only (no '.'), so that /~USER.keys and
/~USER.pgp stay the accounts pages'. A list or tracker a visitor may not browse is left
out of every page here, links and activity alike, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.routing import BaseConverter

from archive.access import may as may_list
from archive.access import may_manage as may_manage_list
from archive.lists import get_list
from archive.models import MailingList, Message, ThreadNode
from archive.urls import mid_escape
from mailyard.accounts.access import Actor
from mailyard.accounts.groups import (
    GroupError,
    create_group,
    find_user,
    get_group,
    groups_acted_for,
    groups_of,
    may_act_for,
    may_manage_members,
    members_of,
    parse_role,
    remove_member,
    set_description,
    set_member,
)
from mailyard.accounts.models import Group, GroupRole, Project, ProjectLink, User
from mailyard.accounts.projects import (
    ProjectError,
    add_link,
    create_project,
    find_owner,
    get_project,
    links_of,
    may_manage_owner,
    may_manage_project,
    parse_link,
    projects_of,
    remove_link,
    repo_scope,
    scope_ids,
    update_project,
)
from trackers.access import may as may_tracker
from trackers.access import may_manage as may_manage_tracker
from trackers.models import Tracker
from trackers.tickets import get_tracker, latest_events
from web.app import app_settings, db_session
from web.auth import check_csrf, current_actor, current_user

bp = Blueprint("groups", __name__)

ACTIVITY = 20  # entries of a project's recent activity
FORM_MAX = 100_000  # characters of a README sent from the web
FORM_CSS = """form.project textarea, form.project input[type=text], form.group textarea,
form.group input[type=text] { width: 100%; padding: .3rem .4rem; font: inherit; }
form.project textarea { font: 14px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
form.inline { display: inline; }
form.inline select { font: inherit; }
"""


class OwnerNameConverter(BaseConverter):
    """A username or group name: no '.', so /~USER.keys is not taken for /~USER."""

    regex = r"[A-Za-z][A-Za-z0-9_-]{1,31}"


class ProjectNameConverter(BaseConverter):
    regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


def _add_converters(state) -> None:
    converters = state.app.url_map.converters
    converters.setdefault("ownername", OwnerNameConverter)
    converters.setdefault("projectname", ProjectNameConverter)


# Before the routes below: a rule finds its converters when it is added.
bp.record_once(_add_converters)


@bp.get("/groups/style.css")
def stylesheet():
    response = Response(FORM_CSS, content_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- groups ------------------------------------------------------------------------------


@bp.get("/groups/new")
def new_group_form():
    _user_or_403("create a group")
    return render_template("group_new.html", name="", description="")


@bp.post("/groups/new")
def new_group():
    user = _user_or_403("create a group")
    check_csrf()
    session = db_session()
    name, description = request.form.get("name", ""), _form_text("description")
    try:
        group = create_group(session, name, user, description)
    except GroupError as error:
        session.rollback()
        return _form_error("group_new.html", error, name=name, description=description)
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
    if isinstance(found, User):
        return render_template(
            "owner.html",
            user=found,
            group=None,
            projects=projects,
            groups=groups_of(session, found),
            may_create=may_manage_owner(actor, found),
        )
    lists = session.scalars(
        select(MailingList).where(MailingList.owner_group_id == found.id).order_by(MailingList.name)
    )
    trackers = session.scalars(
        select(Tracker).where(Tracker.owner_group_id == found.id).order_by(Tracker.name)
    )
    return render_template(
        "owner.html",
        user=None,
        group=found,
        projects=projects,
        members=members_of(session, found),
        lists=[m for m in lists if may_list(session, m, actor, "browse")],
        trackers=[t for t in trackers if may_tracker(session, t, actor, "browse")],
        domain=app_settings().domain,
        may_create=may_act_for(actor, found),
        may_manage=may_manage_members(actor, found),
    )


@bp.get("/~<ownername:owner>/members")
def members_page(owner: str):
    group = _managed_group(owner)
    return render_template(
        "group_members.html",
        group=group,
        members=members_of(db_session(), group),
        roles=list(GroupRole),
    )


@bp.post("/~<ownername:owner>/members")
def change_members(owner: str):
    """`add` (username, role), `role` (username, role), `remove` (username), `describe`."""
    check_csrf()
    group = _managed_group(owner)
    session = db_session()
    action = request.form.get("action", "")
    try:
        if action == "describe":
            set_description(session, group, _form_text("description"))
        elif action in ("add", "role", "remove"):
            who = request.form.get("username", "")
            user = find_user(session, who)
            if user is None:
                abort(400, f"There is no user named {who.strip() or '(nobody)'!r}.")
            if action == "remove":
                remove_member(session, group, user)
            else:
                set_member(session, group, user, parse_role(request.form.get("role", "")))
        else:
            abort(400, "Unknown form; reload the page.")
    except GroupError as error:
        session.rollback()
        abort(400, _sentence(error))
    session.commit()
    if not may_manage_members(_actor_after_change(), group):
        return redirect(url_for("groups.owner_page", owner=group.name), 303)
    return redirect(url_for("groups.members_page", owner=group.name), 303)


# -- projects ----------------------------------------------------------------------------


@bp.get("/projects/new")
def new_project_form():
    user = _user_or_403("create a project")
    return render_template(
        "project_new.html", owners=_owners_for(user), owner=user.username, name="", description=""
    )


@bp.post("/projects/new")
def new_project():
    user = _user_or_403("create a project")
    check_csrf()
    session = db_session()
    owner_name = request.form.get("owner", "").strip().lower()
    name, description = request.form.get("name", ""), _form_text("description")
    owner = find_owner(session, owner_name) if owner_name else None
    if owner is None or not may_manage_owner(current_actor(), owner):
        abort(403, f"You may not create projects for ~{owner_name}.")
    try:
        project = create_project(session, owner, name, description)
    except ProjectError as error:
        session.rollback()
        return _form_error(
            "project_new.html",
            error,
            owners=_owners_for(user),
            owner=owner_name,
            name=name,
            description=description,
        )
    session.commit()
    return redirect(
        url_for("groups.project_page", owner=project.owner_name, project=project.name), 303
    )


@bp.get("/~<ownername:owner>/<projectname:project>")
def project_page(owner: str, project: str):
    found = _project_or_404(owner, project)
    session = db_session()
    actor = current_actor()
    shown = _visible_links(session, links_of(session, found), actor)
    return render_template(
        "project.html",
        project=found,
        links=shown,
        activity=_activity(session, shown),
        domain=app_settings().domain,
        may_manage=may_manage_project(actor, found),
    )


@bp.get("/~<ownername:owner>/<projectname:project>/settings")
def project_settings(owner: str, project: str):
    found = _managed_project(owner, project)
    session = db_session()
    return render_template(
        "project_settings.html",
        project=found,
        links=_named_links(session, links_of(session, found), current_actor()),
    )


@bp.post("/~<ownername:owner>/<projectname:project>/settings")
def change_project(owner: str, project: str):
    """`details` (description, README), `link` (list:NAME, tracker:NAME, repo:URL) or
    `unlink` (a link's scope). Lists and trackers are linked only by who manages them."""
    check_csrf()
    found = _managed_project(owner, project)
    session = db_session()
    action = request.form.get("action", "")
    try:
        if action == "details":
            update_project(
                session,
                found,
                description=_form_text("description"),
                readme=_form_text("readme"),
            )
        elif action == "link":
            add_link(session, found, _scope_to_link(request.form.get("link", "")))
        elif action == "unlink":
            if not remove_link(session, found, request.form.get("scope", "")):
                abort(400, "That link is not on the project; reload the page.")
        else:
            abort(400, "Unknown form; reload the page.")
    except ProjectError as error:
        session.rollback()
        abort(400, _sentence(error))
    session.commit()
    return redirect(
        url_for("groups.project_settings", owner=found.owner_name, project=found.name), 303
    )


# -- what the pages show -----------------------------------------------------------------


@dataclass(frozen=True)
class ShownLink:
    """A project link as a page shows it."""

    scope: str
    kind: str  # "list", "tracker", "repo"
    name: str  # the list's or tracker's name, or the URL
    description: str = ""
    thing_id: int | None = None
    web: bool = False  # a repository URL the browser can open

    @property
    def label(self) -> str:
        return self.name if self.kind == "repo" else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Activity:
    """One entry of a project's recent activity: a list message or a ticket event."""

    when: datetime
    kind: str  # "message" or the event's kind
    where: str  # the list or tracker name
    title: str  # the message's subject or the ticket's title
    who: str
    url: str
    number: int | None = None  # the ticket's


def _visible_links(session, links: list[ProjectLink], actor: Actor) -> list[ShownLink]:
    """The links the visitor may see: lists and trackers they may browse, repositories."""
    return [link for link in _named_links(session, links, actor) if link.name]


def _named_links(session, links: list[ProjectLink], actor: Actor) -> list[ShownLink]:
    """Every link; a list or tracker the visitor may not browse gets no name."""
    lists = _by_id(session, MailingList, scope_ids(links, "list"))
    trackers = _by_id(session, Tracker, scope_ids(links, "tracker"))
    shown = []
    for link in links:
        kind, _, value = link.scope.partition(":")
        if kind == "repo":
            web = value.lower().startswith(("https://", "http://"))
            shown.append(ShownLink(link.scope, kind, value, web=web))
            continue
        thing = (lists if kind == "list" else trackers).get(int(value)) if value.isdigit() else None
        visible = thing is not None and (
            may_list(session, thing, actor, "browse")
            if kind == "list"
            else may_tracker(session, thing, actor, "browse")
        )
        if visible:
            shown.append(ShownLink(link.scope, kind, thing.name, thing.description, thing.id))
        else:
            shown.append(ShownLink(link.scope, kind, ""))
    return shown


def _by_id(session, model, ids: list[int]) -> dict:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _activity(session, links: list[ShownLink]) -> list[Activity]:
    """The newest messages of the shown lists and events of the shown trackers, merged
    newest first. Each list costs one query on ix_thread_nodes_list_date, each tracker
    two (`trackers.tickets.latest_events`)."""
    found: list[Activity] = []
    for link in links:
        if link.kind == "list" and link.thing_id is not None:
            found += _list_activity(session, link)
        elif link.kind == "tracker" and link.thing_id is not None:
            for ticket, event in latest_events(session, link.thing_id, ACTIVITY):
                found.append(
                    Activity(
                        when=_aware(event.created_at),
                        kind=event.kind.value,
                        where=link.name,
                        title=ticket.title,
                        who=event.actor_name or event.actor,
                        url=url_for("trackers.ticket_page", name=link.name, number=ticket.number)
                        + f"#e{event.id}",
                        number=ticket.number,
                    )
                )
    found.sort(key=lambda a: a.when, reverse=True)
    return found[:ACTIVITY]


def _list_activity(session, link: ShownLink) -> list[Activity]:
    rows = session.execute(
        select(
            ThreadNode.sort_date,
            Message.message_id,
            Message.subject,
            Message.from_name,
            Message.from_addr,
        )
        .join(Message, Message.id == ThreadNode.message_pk)
        .where(ThreadNode.list_id == link.thing_id, ThreadNode.sort_date.isnot(None))
        .order_by(ThreadNode.sort_date.desc())
        .limit(ACTIVITY)
    )
    return [
        Activity(
            when=_aware(when),
            kind="message",
            where=link.name,
            title=subject or "(no subject)",
            who=from_name or from_addr,
            url=f"{request.script_root}/{quote(link.name)}/{mid_escape(msgid)}/",
        )
        for when, msgid, subject, from_name, from_addr in rows
    ]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _scope_to_link(text: str) -> str:
    """'list:NAME' or 'tracker:NAME' the visitor manages, or 'repo:URL', as a scope."""
    kind, value = parse_link(text)
    if kind == "repo":
        return repo_scope(value)
    session = db_session()
    actor = current_actor()
    if kind == "list":
        mlist = get_list(session, value)
        if mlist is None or not may_manage_list(mlist, actor):
            raise ProjectError(f"you manage no list named {value!r}")
        return f"list:{mlist.id}"
    tracker = get_tracker(session, value)
    if tracker is None or not may_manage_tracker(tracker, actor):
        raise ProjectError(f"you manage no tracker named {value!r}")
    return f"tracker:{tracker.id}"


# -- helpers -----------------------------------------------------------------------------


def _user_or_403(what: str) -> User:
    user = current_user()
    if user is None:
        abort(403, f"Sign in to your account to {what}.")
    return user


def _actor_after_change() -> Actor:
    """The actor after a change of roles in this request (`current_actor` is cached)."""
    from mailyard.accounts.access import actor_for_user

    user = current_user()
    return actor_for_user(db_session(), user) if user is not None else current_actor()


def _managed_group(owner: str) -> Group:
    group = get_group(db_session(), owner)
    if group is None:
        abort(404, f"There is no group named ~{owner.lower()} here.")
    if not may_manage_members(current_actor(), group):
        abort(403, f"Only the owners of ~{group.name} may change its members.")
    return group


def _project_or_404(owner: str, name: str) -> Project:
    project = get_project(db_session(), owner, name)
    if project is None:
        abort(404, f"There is no project ~{owner.lower()}/{name.lower()} here.")
    return project


def _managed_project(owner: str, name: str) -> Project:
    project = _project_or_404(owner, name)
    if not may_manage_project(current_actor(), project):
        abort(403, f"Only who manages ~{project.owner_name} may change its projects.")
    return project


def _owners_for(user: User) -> list[str]:
    """Whom the signed-in user may create projects for: themself and their groups."""
    groups = groups_acted_for(db_session(), current_actor())
    return [user.username.lower(), *(g.name for g in groups)]


def _form_text(key: str) -> str:
    text = request.form.get(key, "").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        abort(400, "NUL characters are not allowed.")
    if len(text) > FORM_MAX:
        abort(400, f"That is too long ({FORM_MAX} characters at most).")
    return text


def _form_error(template: str, error: Exception, **values):
    """The form again, filled in as sent, with what is wrong (400)."""
    return render_template(template, error=_sentence(error), **values), 400


def _sentence(error: Exception) -> str:
    text = str(error)
    return f"{text[:1].upper()}{text[1:]}."
