"""Browsing hosted repositories: the pages git.sr.ht has, and blame.

    /~OWNER/NAME                              summary: README, clone URLs, recent commits
                                              (`web.projects.project_page` hands it over
                                              when no project has the name)
    /~OWNER/NAME.git                          redirects to the summary
    /~OWNER/NAME/tree/REF[/item/PATH]         a directory, or a file highlighted
    /~OWNER/NAME/blob/REF/item/PATH           a file's raw bytes
    /~OWNER/NAME/blame/REF/item/PATH          who last changed each line
    /~OWNER/NAME/log/REF                      the log (?path= one path's, ?after=SHA pages)
    /~OWNER/NAME/commit/SHA                   message, trailers, diffstat and diff
    /~OWNER/NAME/commit/SHA.patch             as `git format-patch --stdout -1 SHA`
    /~OWNER/NAME/refs                         branches and tags
    /~OWNER/NAME/archive/REF.tar.gz           `git archive`, streamed

REF may hold slashes (a branch feature/x), hence the `/item/` between it and the path,
as git.sr.ht does it. Every page answers a repository the visitor may not read exactly
as one that does not exist; a ref, path or commit the repository lacks is a 404 naming
it. Everything from the repository is shown escaped: file contents go through Pygments
(which escapes) or `visible`, never as HTML; blobs too large or binary are not shown,
and never read whole for a page (`repos.browse`).
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pygit2
from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup
from pygments import highlight
from pygments.lexers import get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from patchsets.diff import diff_files, diffstat
from patchsets.trailers import commit_trailers
from repos import browse
from repos.blame import parse_porcelain
from repos.browse import EntryKind, NotInRepository
from repos.commits import recent_commits
from repos.models import Repository
from repos.repositories import visible_repository
from repos.storage import path_of
from repos.urls import clone_urls
from web.context import (
    add_owner_converter,
    add_project_converter,
    app_settings,
    arg_label,
    current_actor,
    db_session,
)
from web.render import HTML_FORMATTER, highlight_diff, render_body, visible_controls
from web.repo_send import log_link

bp = Blueprint("repos", __name__)

RECENT = 10  # commits on the summary
PATH_ARG_MAX = 4096
_ARCHIVE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _add_converters(state) -> None:
    add_owner_converter(state)
    add_project_converter(state)


bp.record_once(_add_converters)


# -- pages -------------------------------------------------------------------------------


def summary(owner: str, repo: str):
    """The summary page, or the 404 of a name that is neither project nor repository
    (`web.projects.project_page` calls it when no project has the name)."""
    found = _repository_or_404(owner, repo, missing=_NOTHING_HERE)
    git_repo = _git(found)
    settings = app_settings()
    https, ssh = clone_urls(settings, found)
    tip = None if browse.is_empty(git_repo) else _default_tip(git_repo, found)
    return render_template(
        "repo_summary.html",
        repo=found,
        https_url=https,
        ssh_url=ssh,
        empty=tip is None,
        readme=browse.readme(git_repo, tip) if tip is not None else None,
        commits=recent_commits(path_of(settings, found), found.default_branch, RECENT),
        ref=found.default_branch if tip is not None else None,
    )


@bp.get("/~<ownername:owner>/<projectname:repo>.git")
def dot_git(owner: str, repo: str):
    found = _repository_or_404(owner, repo)
    return redirect(_summary_url(found), 301)


@bp.get("/~<ownername:owner>/<projectname:repo>/tree/<path:ref>")
@bp.get("/~<ownername:owner>/<projectname:repo>/tree/<path:ref>/item/<path:path>")
def tree(owner: str, repo: str, ref: str, path: str = ""):
    found = _repository_or_404(owner, repo)
    git_repo = _git(found)
    commit = _resolve(git_repo, ref)
    path = browse.clean_path(path)
    kind = _found(lambda: browse.path_kind(commit, path))
    common = dict(repo=found, ref=ref, commit=commit, path=path, crumbs=_crumbs(path))
    if kind is EntryKind.tree:
        entries = _found(lambda: browse.list_tree(git_repo, commit, path))
        return render_template("repo_tree.html", entries=entries, **common)
    if kind is EntryKind.submodule:
        entry = browse.find_entry(commit, browse.clean_path(path.rpartition("/")[0]))
        sha = next(str(e.id) for e in entry if e.name == path.rpartition("/")[2])  # type: ignore[union-attr]
        return render_template("repo_submodule.html", sha=sha, **common)
    blob = _found(lambda: browse.blob_info(git_repo, commit, path))
    return render_template("repo_blob.html", blob=blob, lines=_highlighted(blob), **common)


@bp.get("/~<ownername:owner>/<projectname:repo>/blob/<path:ref>/item/<path:path>")
def raw(owner: str, repo: str, ref: str, path: str):
    found = _repository_or_404(owner, repo)
    git_repo = _git(found)
    commit = _resolve(git_repo, ref)
    blob = _found(lambda: browse.blob_info(git_repo, commit, path))
    chunks = browse.blob_chunks(git_repo, path_of(app_settings(), found), blob.sha, blob.size)
    # Never HTML: a page in the repository must not run as this site's.
    kind = (
        "application/octet-stream" if blob.binary or blob.too_large else "text/plain; charset=utf-8"
    )
    response = Response(chunks, content_type=kind)
    response.headers["Content-Length"] = str(blob.size)
    response.headers["Content-Disposition"] = (
        f"inline; filename*=UTF-8''{quote(blob.path.rpartition('/')[2])}"
    )
    return response


@bp.get("/~<ownername:owner>/<projectname:repo>/blame/<path:ref>/item/<path:path>")
def blame(owner: str, repo: str, ref: str, path: str):
    found = _repository_or_404(owner, repo)
    git_repo = _git(found)
    commit = _resolve(git_repo, ref)
    path = browse.clean_path(path)
    blob = _found(lambda: browse.blob_info(git_repo, commit, path))
    lines = []
    if blob.data is not None:
        output = _found(
            lambda: browse.run_git(
                path_of(app_settings(), found),
                ["blame", "--porcelain", str(commit.id), "--", path],
            )
        )
        lines = parse_porcelain(output)
    return render_template(
        "repo_blame.html",
        repo=found,
        ref=ref,
        commit=commit,
        path=path,
        crumbs=_crumbs(path),
        blob=blob,
        lines=lines,
        text=browse.decode_text,
    )


@bp.get("/~<ownername:owner>/<projectname:repo>/log/<path:ref>")
def log(owner: str, repo: str, ref: str):
    found = _repository_or_404(owner, repo)
    git_repo = _git(found)
    commit = _resolve(git_repo, ref)
    path = _text_arg("path")
    after = _text_arg("after") or None
    page = _found(lambda: browse.log_page(git_repo, commit, path=path, after=after))
    return render_template(
        "repo_log.html",
        repo=found,
        ref=ref,
        path=browse.clean_path(path),
        page=page,
        after=after,
        # A branch's log offers to send it; a tag or a commit is not a series to re-send.
        send_url=log_link(found, ref) if f"refs/heads/{ref}" in git_repo.references else None,
    )


@bp.get("/~<ownername:owner>/<projectname:repo>/commit/<sha>")
def commit_page(owner: str, repo: str, sha: str):
    if sha.endswith(".patch"):
        return commit_patch(owner, repo, sha.removesuffix(".patch"))
    found = _repository_or_404(owner, repo)
    git_repo = _git(found)
    commit = _found(lambda: browse.resolve_commit(git_repo, sha))
    view = browse.commit_view(git_repo, commit)
    files = diff_files(view.diff) if view.diff else []
    return render_template(
        "repo_commit.html",
        repo=found,
        view=view,
        message=render_body(view.message),
        trailers=commit_trailers(view.message),
        diffstat=diffstat(files),
        files=[(f, None if f.binary else highlight_diff(f.text)) for f in files],
    )


@bp.get("/~<ownername:owner>/<projectname:repo>/commit/<sha>.patch")
def commit_patch(owner: str, repo: str, sha: str):
    found = _repository_or_404(owner, repo)
    git_repo = _git(found)
    commit = _found(lambda: browse.resolve_commit(git_repo, sha))
    if len(commit.parent_ids) > 1:
        abort(
            404, f"Commit {str(commit.id)[:12]} is a merge: git format-patch makes no patch of it."
        )
    chunks = browse.stream_git(
        path_of(app_settings(), found), ["format-patch", "--stdout", "-1", str(commit.id)]
    )
    return Response(chunks, content_type="text/x-patch; charset=utf-8")


@bp.get("/~<ownername:owner>/<projectname:repo>/refs")
def refs(owner: str, repo: str):
    found = _repository_or_404(owner, repo)
    git_repo = _git(found)
    return render_template(
        "repo_refs.html",
        repo=found,
        branches=browse.branches(git_repo),
        tags=browse.tags(git_repo),
        shown_max=browse.REFS_SHOWN,
    )


@bp.get("/~<ownername:owner>/<projectname:repo>/archive/<path:ref>.tar.gz")
def archive(owner: str, repo: str, ref: str):
    found = _repository_or_404(owner, repo)
    git_repo = _git(found)
    commit = _resolve(git_repo, ref)
    name = _ARCHIVE_NAME.sub("-", f"{found.name}-{ref}").strip("-.") or found.name
    chunks = browse.stream_git(
        path_of(app_settings(), found),
        ["archive", "--format=tar.gz", f"--prefix={name}/", str(commit.id)],
    )
    response = Response(chunks, content_type="application/gzip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.tar.gz"'
    return response


# -- helpers -----------------------------------------------------------------------------

_NOTHING_HERE = "There is no project or repository ~{owner}/{name} here."
_NO_REPOSITORY = "There is no repository ~{owner}/{name} here."


def _repository_or_404(owner: str, name: str, missing: str = _NO_REPOSITORY) -> Repository:
    """The repository, if the visitor may read it; else the same 404 as for none."""
    found = visible_repository(db_session(), current_actor(), owner, name)
    if found is None:
        abort(404, missing.format(owner=owner.lower(), name=name.lower()))
    return found


def _git(repository: Repository) -> pygit2.Repository:
    return _found(lambda: browse.open_repository(path_of(app_settings(), repository)))


def _found(read):
    """What `read()` returns; its NotInRepository is a 404 saying what is missing."""
    try:
        return read()
    except NotInRepository as e:
        abort(404, f"{str(e)[:1].upper()}{str(e)[1:]}.")


def _resolve(git_repo: pygit2.Repository, ref: str) -> pygit2.Commit:
    return _found(lambda: browse.resolve_ref(git_repo, ref.rstrip("/")))


def _default_tip(git_repo: pygit2.Repository, repository: Repository) -> pygit2.Commit | None:
    try:
        return browse.resolve_ref(git_repo, repository.default_branch)
    except NotInRepository:
        return None


def _text_arg(name: str) -> str:
    value = request.args.get(name, "")
    if len(value) > PATH_ARG_MAX:
        abort(400, f"{arg_label(name)} is too long ({PATH_ARG_MAX} characters at most).")
    return value.strip()


def _summary_url(repository: Repository) -> str:
    return url_for("projects.project_page", owner=repository.owner_name, project=repository.name)


def _crumbs(path: str) -> list[tuple[str, str]]:
    """(name, path from the root) of each directory down to `path`."""
    parts = [p for p in path.split("/") if p]
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]


def _highlighted(blob: browse.BlobInfo) -> list[Markup] | None:
    """The file's lines as highlighted HTML, one per line; None when it is not shown."""
    if blob.data is None:
        return None
    text = visible_controls(browse.decode_text(blob.data))
    try:
        lexer = get_lexer_for_filename(blob.path.rpartition("/")[2], stripnl=False, ensurenl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False, ensurenl=False)
    html = highlight(text, lexer, HTML_FORMATTER)
    # HtmlFormatter keeps a span open across a newline only for multi-line tokens;
    # splitting per line needs every line closed: re-open what was open.
    return _split_lines(html, text.count("\n") + (0 if text.endswith("\n") or not text else 1))


_SPAN = re.compile(r'<span class="[^"]*">|</span>')


def _split_lines(html: str, count: int) -> list[Markup]:
    lines: list[Markup] = []
    open_spans: list[str] = []
    for raw_line in html.split("\n"):
        start = "".join(open_spans)
        for match in _SPAN.finditer(raw_line):
            if match.group(0) == "</span>":
                if open_spans:
                    open_spans.pop()
            else:
                open_spans.append(match.group(0))
        lines.append(Markup(start + raw_line + "</span>" * len(open_spans)))
    return lines[:count]
