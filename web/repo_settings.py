"""Managing hosted repositories: making one, its settings, deleting it, and downloading
it whole as a git bundle. Browsing is `web.repos`'; this is only for who may create
repositories (for themself, or a group they are an owner or maintainer of) and for a
repository's admins.

    /repos/new                   the creation form (POST creates)
    /~OWNER/NAME/settings        description, default branch, visibility, default rights,
                                 owning group, access entries (admins; POST: details,
                                 grant, revoke). The URL is shared with project settings:
                                 `web.projects` hands over here when no project has the
                                 name, so the rules below only name the endpoints.
    /~OWNER/NAME/delete          POST, admins, confirmed by typing the name
    /~OWNER/NAME/bundle          the repository as a git bundle (admins)

A repository the visitor may not read answers 404 on every one of these, exactly as one
that does not exist; one they may read but not administer answers 403.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from accounts.access import VISIBILITIES, Visibility
from accounts.groups import groups_acted_for
from accounts.models import User
from accounts.projects import find_owner, may_manage_owner
from accounts.users import usernames_by_id
from repos.access import (
    REPO_RIGHTS,
    RepoAccessError,
    RepoRight,
    access_entries,
    grant_access,
    remove_access,
    repo_rights,
)
from repos.bundles import EmptyRepository, bundle_chunks
from repos.models import Repository
from repos.repositories import (
    RepoError,
    committed_or_removed,
    confirms_deletion,
    create_repository,
    delete_repository,
    get_repository,
    remove_directory,
    update_repository,
)
from web.context import (
    add_owner_converter,
    app_settings,
    check_csrf,
    chosen_group,
    current_actor,
    current_user,
    db_session,
    groups_offered,
    user_or_403,
)
from web.forms import NO_STORE, FieldRefused, entry_to_revoke, form_error, form_text

bp = Blueprint("repo_settings", __name__)

# Before the routes below: a rule finds its converters when it is added (`projectname`
# is web.projects'; both blueprints are always registered, projects first).
bp.record_once(add_owner_converter)

# What the forms may refuse; each message is for the person who filled the form.
REFUSALS = (RepoError, RepoAccessError, FieldRefused)


# -- creating ----------------------------------------------------------------------------


@bp.get("/repos/new")
def new_repo_form():
    user = user_or_403("create a repository")
    return render_template("repo_new.html", **_new_values(user, owner=user.username.lower()))


@bp.post("/repos/new")
def new_repo():
    user = user_or_403("create a repository")
    check_csrf()
    session = db_session()
    settings = app_settings()
    owner_name = request.form.get("owner", "").strip().lower()
    owner = find_owner(session, owner_name) if owner_name else None
    if owner is None or not may_manage_owner(current_actor(), owner):
        abort(403, f"You may not create repositories for ~{owner_name}.")
    try:
        repository = create_repository(
            session,
            settings,
            owner,
            request.form.get("name", ""),
            description=form_text("description"),
            visibility=request.form.get("visibility", Visibility.public),
            default_branch=request.form.get("default_branch", "") or "main",
        )
    except REFUSALS as error:
        session.rollback()
        return form_error("repo_new.html", error, **_new_values(user, owner=owner_name))
    with committed_or_removed(session, settings, repository):
        owner_name, name = repository.owner_name, repository.name
    return redirect(url_for("projects.project_page", owner=owner_name, project=name), 303)


def _new_values(user: User, owner: str) -> dict:
    groups = groups_acted_for(db_session(), current_actor())
    return dict(
        owners=[user.username.lower(), *(g.name for g in groups)],
        owner=owner,
        visibilities=VISIBILITIES,
    )


# -- settings (reached through web.projects' project_settings) ---------------------------


@bp.get("/~<ownername:owner>/<projectname:name>/settings")
def settings_page(owner: str, name: str):
    repository = _administered(owner, name)
    return render_template("repo_settings.html", **_settings_values(repository))


@bp.post("/~<ownername:owner>/<projectname:name>/settings")
def change_settings(owner: str, name: str):
    """One of three forms: `details` (description, default branch, visibility, default
    rights, owning group), `grant` (an entry for a user or an address) and `revoke`."""
    check_csrf()
    repository = _administered(owner, name)
    session = db_session()
    action = request.form.get("action", "")
    change = _CHANGES.get(action)
    if change is None:
        abort(400, "Unknown settings form; reload the page.")
    try:
        change(session, repository)
    except REFUSALS as error:
        session.rollback()
        return form_error(
            "repo_settings.html",
            error,
            field=_FIELD_OF_FORM[action],
            **_settings_values(repository),
        )
    session.commit()
    return redirect(_settings_url(repository), 303)


def _change_details(session, repository: Repository) -> None:
    group = (
        chosen_group(request.form.get("group", ""), repository.owner_group_id)
        if repository.owner_user_id is not None
        else False  # a group's own repository keeps its group
    )
    update_repository(
        session,
        app_settings(),
        repository,
        description=form_text("description"),
        default_branch=request.form.get("default_branch", ""),
        visibility=request.form.get("visibility", ""),
        default_rights=request.form.getlist("default"),
        owner_group=group,
    )


def _grant(session, repository: Repository) -> None:
    who = request.form.get("who", "").strip()
    if not who:
        raise FieldRefused("who", "name someone: ~USERNAME or an address")
    grant_access(session, repository, who, request.form.getlist("rights"))


def _revoke(session, repository: Repository) -> None:
    entry = entry_to_revoke(access_entries(session, repository))
    remove_access(session, repository, user_id=entry.user_id, address=entry.address_key)


_CHANGES = {"details": _change_details, "grant": _grant, "revoke": _revoke}
# Where each form's refusal is shown: beside the field it is about.
_FIELD_OF_FORM = {"details": "details", "grant": "who", "revoke": "entries"}


def _settings_values(repository: Repository) -> dict:
    session = db_session()
    entries = access_entries(session, repository)
    usernames = usernames_by_id(session, [e.user_id for e in entries if e.user_id is not None])
    return dict(
        repository=repository,
        visibilities=VISIBILITIES,
        all_rights=REPO_RIGHTS,
        defaults=set(repository.default_rights.split(",")),
        groups=groups_offered(repository.owner_group_id)
        if repository.owner_user_id is not None
        else [],
        entries=[
            (e, usernames.get(e.user_id, "") if e.user_id is not None else "") for e in entries
        ],
        summary_url=url_for(
            "projects.project_page", owner=repository.owner_name, project=repository.name
        ),
    )


# -- deleting and downloading ------------------------------------------------------------


@bp.post("/~<ownername:owner>/<projectname:name>/delete")
def delete_repo(owner: str, name: str):
    check_csrf()
    repository = _administered(owner, name)
    session = db_session()
    if not confirms_deletion(repository, request.form.get("confirm", "")):
        return form_error(
            "repo_settings.html",
            FieldRefused("confirm", f"type {repository.name} to delete the repository"),
            **_settings_values(repository),
        )
    owner_name, repo_name = repository.owner_name, repository.name
    delete_repository(session, app_settings(), repository)
    session.commit()
    remove_directory(app_settings(), owner_name, repo_name)  # only once the row is gone
    return redirect(url_for("groups.owner_page", owner=owner_name), 303)


@bp.get("/~<ownername:owner>/<projectname:name>/bundle")
def bundle(owner: str, name: str):
    """`git bundle create - --all`, streamed; `git clone NAME.bundle` reads it."""
    repository = _administered(owner, name)
    user = current_user()
    try:
        chunks = bundle_chunks(
            app_settings(), repository, user_id=user.id if user is not None else None
        )
    except EmptyRepository as error:
        return Response(f"{error}.\n", 409, mimetype="text/plain")
    return Response(
        chunks,
        mimetype="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{repository.name}.bundle"',
            **NO_STORE,
        },
    )


# -- helpers -----------------------------------------------------------------------------


def _administered(owner: str, name: str) -> Repository:
    """The repository, if the visitor is its admin: 404 when they may not read it (as
    for one that does not exist), 403 when they may read but not administer it."""
    session = db_session()
    repository = get_repository(session, owner, name)
    rights = repo_rights(session, repository, current_actor()) if repository else frozenset()
    if repository is None or RepoRight.read not in rights:
        abort(404, f"There is no project or repository ~{owner.lower()}/{name.lower()} here.")
    if RepoRight.admin not in rights:
        abort(403, f"Only the admins of {repository.path_name} may change it.")
    return repository


def _settings_url(repository: Repository) -> str:
    return url_for("repo_settings.settings_page", owner=repository.owner_name, name=repository.name)
