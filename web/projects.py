"""Projects: a name under an owner that gathers lists, trackers and repositories.

A project page is where someone arriving at ~OWNER/PROJECT sees what the project is and
where it lives; the owner pages (`web.groups`) only list projects. It is kept apart
because what it shows depends on what the visitor may browse across lists and trackers,
which the owner and group pages never need.

    /projects/new                    the creation form (POST creates)
    /~OWNER/PROJECT                  a project: README, links, recent activity
    /~OWNER/PROJECT/settings         description, README and links, for whoever manages
                                     the owner (POST: details, link, unlink); with no
                                     project of that name, a repository's settings
                                     (`web.repo_settings`, handed over to)

OWNER is `web.groups`' owner name (no '.'), so /~USER.keys and /~USER.pgp stay the
accounts pages'; /~OWNER/members, a static segment, is matched before a project named so.
A list, tracker or hosted repository a visitor may not browse is left out of links and
activity alike, as if it did not exist. A hosted repository's link shows its clone URLs
and recent commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from accounts.access import Actor
from accounts.groups import groups_acted_for
from accounts.models import Project, ProjectLink, User
from accounts.projects import (
    ProjectError,
    add_link,
    create_project,
    find_owner,
    get_project,
    hosted_repo_scope,
    links_of,
    may_manage_owner,
    may_manage_project,
    names_hosted_repository,
    parse_link,
    remove_link,
    repo_scope,
    scope_ids,
    update_project,
)
from archive.lists import get_list, lists_by_id
from archive.models import MailingList
from archive.queries import newest_messages
from archive.urls import mid_escape
from lists.access import ListRight
from lists.access import may as may_list
from lists.access import may_manage as may_manage_list
from repos import storage
from repos.access import RepoRight, repo_rights
from repos.commits import CommitInfo, recent_commits
from repos.models import Repository
from repos.repositories import RepoError, repositories_by_id, repository_named
from repos.urls import clone_urls
from trackers.access import TrackerRight
from trackers.access import may as may_tracker
from trackers.access import may_manage as may_manage_tracker
from trackers.queries import latest_events, trackers_by_id
from trackers.tickets import get_tracker
from web.context import (
    add_owner_converter,
    add_project_converter,
    app_settings,
    check_csrf,
    current_actor,
    db_session,
    user_or_403,
)
from web.forms import FieldRefused, form_error, form_text
from web.repos import summary as repository_summary

bp = Blueprint("projects", __name__)

ACTIVITY = 20  # entries of a project's recent activity
REPO_COMMITS = 5  # recent commits shown for each linked repository


def _add_converters(state) -> None:
    add_owner_converter(state)
    add_project_converter(state)


# Before the routes below: a rule finds its converters when it is added.
bp.record_once(_add_converters)


# -- pages -------------------------------------------------------------------------------


@bp.get("/projects/new")
def new_project_form():
    user = user_or_403("create a project")
    return render_template(
        "project_new.html", owners=_owners_for(user), owner=user.username, name="", description=""
    )


@bp.post("/projects/new")
def new_project():
    user = user_or_403("create a project")
    check_csrf()
    session = db_session()
    owner_name = request.form.get("owner", "").strip().lower()
    name, description = request.form.get("name", ""), request.form.get("description", "")
    owner = find_owner(session, owner_name) if owner_name else None
    if owner is None or not may_manage_owner(current_actor(), owner):
        abort(403, f"You may not create projects for ~{owner_name}.")
    try:
        project = create_project(session, owner, name, form_text("description"))
    except (ProjectError, FieldRefused) as error:
        session.rollback()
        return form_error(
            "project_new.html",
            error,
            owners=_owners_for(user),
            owner=owner_name,
            name=name,
            description=description,
        )
    session.commit()
    return redirect(
        url_for("projects.project_page", owner=project.owner_name, project=project.name), 303
    )


@bp.get("/~<ownername:owner>/<projectname:project>")
def project_page(owner: str, project: str):
    """A project's page; when no project has the name, a repository's summary (they
    share the names), or the one 404 for neither."""
    found = get_project(db_session(), owner, project)
    if found is None:
        return repository_summary(owner, project)
    session = db_session()
    actor = current_actor()
    shown = _visible_links(session, links_of(session, found), actor)
    return render_template(
        "project.html",
        project=found,
        links=shown,
        repositories=_shown_repositories(session, shown),
        activity=_activity(session, shown),
        may_manage=may_manage_project(actor, found),
    )


@bp.get("/~<ownername:owner>/<projectname:project>/settings")
def project_settings(owner: str, project: str):
    if get_project(db_session(), owner, project) is None:
        return _hand_over("repo_settings.settings_page", owner=owner, name=project)
    found = _managed_project(owner, project)
    return render_template("project_settings.html", **_settings_values(found))


def _hand_over(endpoint: str, **values):
    """The view of another blueprint at the same URL: a repository's pages share
    /~OWNER/NAME/... with a project's, and blueprints do not import each other."""
    return current_app.view_functions[endpoint](**values)


def _settings_values(project: Project) -> dict:
    session = db_session()
    links = _named_links(session, links_of(session, project), current_actor())
    return dict(project=project, links=links)


# Where each settings form's refusal is shown: beside the field it is about.
_FIELD_OF_SETTINGS_FORM = {"details": "details", "link": "link", "unlink": "links"}


@bp.post("/~<ownername:owner>/<projectname:project>/settings")
def change_project(owner: str, project: str):
    """`details` (description, README), `link` (list:NAME, tracker:NAME, repo:URL) or
    `unlink` (a link's scope). Lists and trackers are linked only by who manages them,
    hosted repositories by their admins."""
    if get_project(db_session(), owner, project) is None:
        return _hand_over("repo_settings.change_settings", owner=owner, name=project)
    check_csrf()
    found = _managed_project(owner, project)
    session = db_session()
    action = request.form.get("action", "")
    try:
        if action == "details":
            update_project(
                session,
                found,
                description=form_text("description"),
                readme=form_text("readme"),
            )
        elif action == "link":
            add_link(session, found, _scope_to_link(request.form.get("link", "")))
        elif action == "unlink":
            if not remove_link(session, found, request.form.get("scope", "")):
                raise ProjectError("that link is not on the project; reload the page")
        else:
            abort(400, "Unknown form; reload the page.")
    except (ProjectError, FieldRefused) as error:
        session.rollback()
        return form_error(
            "project_settings.html",
            error,
            field=_FIELD_OF_SETTINGS_FORM[action],
            **_settings_values(found),
        )
    session.commit()
    return redirect(
        url_for("projects.project_settings", owner=found.owner_name, project=found.name), 303
    )


# -- what the pages show -----------------------------------------------------------------


@dataclass(frozen=True)
class ShownLink:
    """A project link as a page shows it."""

    scope: str
    kind: str  # "list", "tracker", "repo"
    name: str  # the list's or tracker's name, ~owner/name of a hosted repository, or the URL
    description: str = ""
    thing_id: int | None = None  # the list's, tracker's or hosted repository's
    web: bool = False  # a repository URL the browser can open

    @property
    def label(self) -> str:
        return self.name if self.kind == "repo" else f"{self.kind} {self.name}"

    @property
    def hosted(self) -> bool:
        return self.kind == "repo" and self.thing_id is not None


@dataclass(frozen=True)
class ShownRepository:
    """A linked repository hosted here, as the project page shows it."""

    path_name: str  # ~owner/name
    url: str  # its summary page
    description: str
    https_url: str
    ssh_url: str
    default_branch: str
    commits: list[CommitInfo]


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
    """Every link; a list, tracker or hosted repository the visitor may not browse gets
    no name."""
    lists = lists_by_id(session, scope_ids(links, "list"))
    trackers = trackers_by_id(session, scope_ids(links, "tracker"))
    repositories = repositories_by_id(session, scope_ids(links, "repo"))
    shown = []
    for link in links:
        kind, _, value = link.scope.partition(":")
        if kind == "repo" and value.isdigit():
            shown.append(_hosted_link(session, link.scope, repositories.get(int(value)), actor))
            continue
        if kind == "repo":
            web = value.lower().startswith(("https://", "http://"))
            shown.append(ShownLink(link.scope, kind, value, web=web))
            continue
        thing = (lists if kind == "list" else trackers).get(int(value)) if value.isdigit() else None
        # a list when kind is "list", else a tracker
        if thing is not None and (
            may_list(session, thing, actor, ListRight.browse)
            if isinstance(thing, MailingList)
            else may_tracker(session, thing, actor, TrackerRight.browse)
        ):
            shown.append(ShownLink(link.scope, kind, thing.name, thing.description, thing.id))
        else:
            shown.append(ShownLink(link.scope, kind, ""))
    return shown


def _hosted_link(session, scope: str, repository: Repository | None, actor: Actor) -> ShownLink:
    if repository is None or RepoRight.read not in repo_rights(session, repository, actor):
        return ShownLink(scope, "repo", "")
    return ShownLink(
        scope, "repo", repository.path_name, repository.description, repository.id, web=True
    )


def _shown_repositories(session, links: list[ShownLink]) -> list[ShownRepository]:
    """The shown hosted repositories with their clone URLs and newest commits (read with
    pygit2 from each repository's default branch)."""
    ids = [link.thing_id for link in links if link.hosted and link.thing_id is not None]
    found = repositories_by_id(session, ids)
    settings = app_settings()
    shown = []
    for repository_id in ids:
        repository = found[repository_id]
        https_url, ssh_url = clone_urls(settings, repository)
        path = storage.path_of(settings, repository)
        shown.append(
            ShownRepository(
                path_name=repository.path_name,
                url=url_for(
                    "projects.project_page", owner=repository.owner_name, project=repository.name
                ),
                description=repository.description,
                https_url=https_url,
                ssh_url=ssh_url,
                default_branch=repository.default_branch,
                commits=recent_commits(path, repository.default_branch, REPO_COMMITS),
            )
        )
    return shown


def _activity(session, links: list[ShownLink]) -> list[Activity]:
    """The newest messages of the shown lists and events of the shown trackers, merged
    newest first. Each list costs one query on ix_thread_nodes_list_date, each tracker
    two (`trackers.queries.latest_events`)."""
    found: list[Activity] = []
    for link in links:
        if link.kind == "list" and link.thing_id is not None:
            found += _list_activity(session, link)
        elif link.kind == "tracker" and link.thing_id is not None:
            found += _tracker_activity(session, link)
    found.sort(key=lambda a: a.when, reverse=True)
    return found[:ACTIVITY]


def _list_activity(session, link: ShownLink) -> list[Activity]:
    assert link.thing_id is not None  # _activity asks only for shown lists
    rows = newest_messages(session, link.thing_id, ACTIVITY)
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


def _tracker_activity(session, link: ShownLink) -> list[Activity]:
    assert link.thing_id is not None  # _activity asks only for shown trackers
    return [
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
        for ticket, event in latest_events(session, link.thing_id, ACTIVITY)
    ]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _scope_to_link(text: str) -> str:
    """'list:NAME' or 'tracker:NAME' the visitor manages, 'repo:~OWNER/NAME' they
    administer, or 'repo:URL', as a scope."""
    kind, value = parse_link(text)
    session = db_session()
    actor = current_actor()
    if kind == "repo" and names_hosted_repository(value):
        try:
            repository = repository_named(session, value)
        except RepoError as error:
            raise ProjectError(str(error)) from None
        if repository is None or RepoRight.admin not in repo_rights(session, repository, actor):
            raise ProjectError(f"you administer no repository {value}")
        return hosted_repo_scope(repository.id)
    if kind == "repo":
        return repo_scope(value)
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
