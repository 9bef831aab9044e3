"""Sending a series from a repository's pages (git.sr.ht's "send-email"; the work is
`patchsets.send_series`'s, this only asks).

    GET  /~OWNER/NAME/send-email?branch=B        the form: branch, base, version, prefix,
                                                  To/Cc (the linked lists by default),
                                                  the cover letter, a note per patch
    POST /~OWNER/NAME/send-email                  action=preview: the exact mails;
                                                  action=send: sends them
    GET  /~OWNER/NAME/send-email/sent/ID          what was sent, and where

Anyone signed in who may read the repository may send a series from it, as anyone may
run `git send-email` on a clone. A refused form comes back with what was typed.
"""

from __future__ import annotations

import pygit2
from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from accounts.models import User
from mail.local_intake import is_local_address
from mail.policy import Outcome
from patchsets.models import SentSeries
from patchsets.send_series import (
    SeriesDraft,
    SeriesRefused,
    default_recipients,
    prepare,
    previous_series,
    send,
)
from repos import browse
from repos.format_patch import RangeRefused, fork_point, series_commits
from repos.models import Repository
from repos.repositories import visible_repository
from repos.storage import path_of
from web.context import (
    add_owner_converter,
    add_project_converter,
    app_settings,
    check_csrf,
    current_actor,
    current_user,
    db_session,
)
from web.forms import form_error

bp = Blueprint("repo_send", __name__)
bp.record_once(add_owner_converter)
bp.record_once(add_project_converter)

NOTE_FIELD = "note-"  # + the commit's sha


@bp.get("/~<ownername:owner>/<projectname:repo>/send-email")
def form(owner: str, repo: str):
    user, repository = _signed_in_reader(owner, repo)
    branch = request.args.get("branch", "").strip()
    names = _branch_names(repository)
    if not branch:
        others = [n for n in names if n != repository.default_branch]
        branch = others[0] if others else repository.default_branch
    elif branch not in names:
        abort(404, f"There is no branch {branch!r} in {repository.path_name}.")
    session = db_session()
    settings = app_settings()
    previous = previous_series(session, user, repository, branch)
    base = fork_point(path_of(settings, repository), repository.default_branch, branch) or ""
    filled = MultiDict(
        {
            "branch": branch,
            "base": base,
            "version": str(previous.version + 1 if previous else 1),
            "prefix": previous.prefix if previous else "PATCH",
            "to": ", ".join(
                previous.to_addrs if previous else default_recipients(session, settings, repository)
            ),
            "cc": ", ".join(previous.cc_addrs) if previous else "",
            "cover_subject": _cover_subject(previous),
        }
    )
    return render_template("repo_send.html", **_values(user, repository, filled))


@bp.post("/~<ownername:owner>/<projectname:repo>/send-email")
def submit(owner: str, repo: str):
    user, repository = _signed_in_reader(owner, repo)
    check_csrf()
    sent = request.form
    session = db_session()
    settings = app_settings()
    try:
        draft = _draft(sent)
        prepared = prepare(session, settings, user, repository, draft)
        if sent.get("action") != "send":
            return render_template(
                "repo_send.html", preview=prepared, **_values(user, repository, sent)
            )
        result = send(session, settings, user, repository, prepared)
    except (SeriesRefused, RangeRefused) as refused:
        session.rollback()
        return form_error("repo_send.html", refused, **_values(user, repository, sent))
    session.commit()
    held = [a for a, d in result.here if d.outcome is Outcome.HOLD]
    return redirect(
        url_for("repo_send.sent_page", owner=repository.owner_name, repo=repository.name,
                sent_id=result.record.id, held=",".join(held) or None), 303,
    )  # fmt: skip


@bp.get("/~<ownername:owner>/<projectname:repo>/send-email/sent/<id('series'):sent_id>")
def sent_page(owner: str, repo: str, sent_id: int):
    user, repository = _signed_in_reader(owner, repo)
    record = db_session().get(SentSeries, sent_id)
    if record is None or record.repository_id != repository.id or record.user_id != user.id:
        abort(404, f"You sent no series {sent_id} from {repository.path_name}.")
    settings = app_settings()
    recipients = [*record.to_addrs, *record.cc_addrs]
    here = [a for a in recipients if is_local_address(settings, a)]
    return render_template(
        "repo_send_sent.html",
        repo=repository,
        record=record,
        here=[(a, a.partition("@")[0].partition("+")[0]) for a in here],
        elsewhere=[a for a in recipients if a not in here],
        held=set(request.args.get("held", "").split(",")),
    )


def log_link(repository: Repository, ref: str) -> str | None:
    """The send-email page for a branch, for the log page; None for anonymous visitors."""
    if current_user() is None:
        return None
    return url_for("repo_send.form", owner=repository.owner_name, repo=repository.name, branch=ref)


def _signed_in_reader(owner: str, name: str) -> tuple[User, Repository]:
    found = visible_repository(db_session(), current_actor(), owner, name)
    if found is None:
        abort(404, f"There is no repository ~{owner.lower()}/{name.lower()} here.")
    user = current_user()
    if user is None:
        abort(403, "Sign in to send a series from a repository.")
    return user, found


def _draft(sent) -> SeriesDraft:
    version = sent.get("version", "1").strip().removeprefix("v") or "1"
    if not version.isdigit():
        raise SeriesRefused(f"the version is a number from 1 to 99, not {version!r}")
    branch = sent.get("branch", "").strip()
    return SeriesDraft(
        base=sent.get("base", "").strip(),
        tip=branch,
        branch=branch,
        version=int(version),
        prefix=sent.get("prefix", "PATCH"),
        cover_subject=sent.get("cover_subject", ""),
        cover_body=sent.get("cover_body", ""),
        notes={
            key.removeprefix(NOTE_FIELD): value
            for key, value in sent.items()
            if key.startswith(NOTE_FIELD)
        },
        to=(sent.get("to", ""),),
        cc=(sent.get("cc", ""),),
    )


def _values(user: User, repository: Repository, sent) -> dict:
    """What the form shows: the branches, and the commits of the range typed, if any."""
    commits = []
    range_error = ""
    branch, base = sent.get("branch", "").strip(), sent.get("base", "").strip()
    if branch and base:
        try:
            commits = series_commits(path_of(app_settings(), repository), base, branch)
        except RangeRefused as e:
            range_error = str(e)
    return {
        "repo": repository,
        "form": sent,
        "branches": _branch_names(repository),
        "commits": commits,
        "range_error": range_error,
        "note_field": NOTE_FIELD,
        "sender": user,
    }


def _branch_names(repository: Repository) -> list[str]:
    try:
        git_repo = browse.open_repository(path_of(app_settings(), repository))
    except (pygit2.GitError, browse.NotInRepository):
        return []
    return [b.name for b in browse.branches(git_repo)]


def _cover_subject(previous: SentSeries | None) -> str:
    """The previous version's cover letter subject, without its `[PATCH vN 0/M]`."""
    if previous is None or " 0/" not in previous.subject.partition("]")[0]:
        return ""
    return previous.subject.partition("]")[2].strip()
