"""git over HTTP: clone, fetch and push ~OWNER/NAME with git's smart protocol.

    GET  /~OWNER/NAME/info/refs?service=git-upload-pack|git-receive-pack
    POST /~OWNER/NAME/git-upload-pack          fetch and clone (read)
    POST /~OWNER/NAME/git-receive-pack         push (write)

and the same under /~OWNER/NAME.git/. `repos.http_backend` runs git's own
`git http-backend`; this blueprint decides who asks and what they may do. Dumb HTTP
(plain files below the repository) is not offered.

Who asks: HTTP Basic credentials, a username (or a confirmed address) and one of its API
tokens as the password, or an API token as `Authorization: Bearer`; nobody otherwise.
The session cookie counts for nothing here, so no other site can make a browser push,
and these views need no form token. Failed credentials count against the sign-in limits
(`accounts.tokens.user_for_login_and_token`).

git sends credentials only after a 401 asks for them, so a request without any that
cannot go on gets a 401 with `WWW-Authenticate`: a push, and a fetch of a repository it
may not read. A repository the asker may not read does not exist for them: missing and
private ones get the same answer, byte for byte (401 without credentials, 404 with).
Every answer other than git's own is one line of plain text, which git shows as
`remote: ...`; nothing here answers HTML or a 500.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter
from werkzeug.wsgi import get_input_stream

from accounts.access import ANONYMOUS, actor_for_user
from accounts.models import User
from accounts.ratelimit import RateLimited
from accounts.tokens import TokenRefused, user_for_login_and_token
from core.errors import UserError
from repos.access import RepoRight, repo_rights
from repos.http_backend import BackendFailed, BackendRequest, GitService, run_backend
from repos.models import NAME_MAX
from repos.repositories import get_repository
from web.context import (
    add_owner_converter,
    app_settings,
    by_api_token,
    client_ip,
    current_user,
    db_session,
)

log = logging.getLogger(__name__)

bp = Blueprint("git_http", __name__)

REALM = 'Basic realm="Mailyard"'
NOT_FOUND = "repository not found"
DUMB_HTTP = "dumb HTTP is not offered here: use a git that speaks smart HTTP (any git since 1.6.6)"
SERVER_FAILED = "the git service failed on the server; try again later"


class GitRepoNameConverter(BaseConverter):
    """A repository's name in a git URL, with or without '.git' (dropped)."""

    regex = rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1 + len('.git')}}}"

    def to_python(self, value: str) -> str:
        return value.lower().removesuffix(".git")


def _add_converters(state) -> None:
    add_owner_converter(state)
    state.app.url_map.converters.setdefault("gitreponame", GitRepoNameConverter)


bp.record_once(_add_converters)

REPO = "/~<ownername:owner>/<gitreponame:name>"


@bp.route(f"{REPO}/info/refs", methods=["GET", "POST"])
def info_refs(owner: str, name: str) -> Response:
    if request.method != "GET":
        return _text(405, "info/refs is read with GET", Allow="GET")
    asked = request.args.get("service")
    if asked is None:
        return _text(403, DUMB_HTTP)
    try:
        service = GitService(asked)
    except ValueError:
        return _text(400, "?service= must be git-upload-pack or git-receive-pack")
    return _serve(owner, name, service, advertisement=True)


@bp.route(f"{REPO}/git-upload-pack", methods=["GET", "POST"])
def upload_pack(owner: str, name: str) -> Response:
    return _rpc(owner, name, GitService.upload_pack)


@bp.route(f"{REPO}/git-receive-pack", methods=["GET", "POST"])
def receive_pack(owner: str, name: str) -> Response:
    return _rpc(owner, name, GitService.receive_pack)


def _rpc(owner: str, name: str, service: GitService) -> Response:
    if request.method != "POST":
        return _text(405, f"{service.value} takes a POST from git", Allow="POST")
    return _serve(owner, name, service, advertisement=False)


def _serve(owner: str, name: str, service: GitService, *, advertisement: bool) -> Response:
    db = db_session()
    try:
        user = _asker()
    except RateLimited as e:
        db.commit()  # the attempt counts
        return _text(429, str(e), **{"Retry-After": str(e.retry_after)})
    except TokenRefused as e:
        db.commit()
        return _text(401, f"{e}: use an API token as the password", **{"WWW-Authenticate": REALM})
    actor = actor_for_user(db, user) if user is not None else ANONYMOUS
    repository = get_repository(db, owner, name)
    rights = repo_rights(db, repository, actor) if repository is not None else frozenset()
    if repository is None or RepoRight.read not in rights:
        if user is None:  # perhaps a private repository: let git offer credentials
            return _text(401, NOT_FOUND, **{"WWW-Authenticate": REALM})
        return _text(404, NOT_FOUND)
    if service.right not in rights:
        if user is None:
            return _text(
                401,
                "pushing needs your username, and an API token as the password",
                **{"WWW-Authenticate": REALM},
            )
        return _text(403, f"{user.username} may not push to {repository.path_name}")
    db.commit()  # the token's last use; nothing stays open while git runs
    backend_request = BackendRequest(
        method=request.method,
        service=service,
        advertisement=advertisement,
        content_type=request.headers.get("Content-Type", ""),
        content_length=request.content_length,
        content_encoding=request.headers.get("Content-Encoding", ""),
        git_protocol=request.headers.get("Git-Protocol", ""),
        remote_user=user.username if user is not None else "",
        remote_addr=client_ip(),
    )
    # Not `request.stream`: its 1 MiB form limit must not hold a push. git's requests
    # end where Content-Length says or where their chunked body does.
    body = None if advertisement else get_input_stream(request.environ, max_content_length=None)
    try:
        answer = run_backend(
            app_settings(),
            repository,
            backend_request,
            body,
            pusher_id=user.id if user is not None else None,
        )
    except BackendFailed:
        return _text(502, SERVER_FAILED)
    if answer.head.status != 200:
        # git http-backend refused (a request git itself would not send); its reason is
        # on its standard error, which may name paths on the server: logged, not shown.
        for _ in answer:
            pass
        log.log(
            logging.ERROR if answer.head.status >= 500 else logging.INFO,
            "git http-backend answered %d for %s %s: %s",
            answer.head.status,
            request.method,
            request.path,
            answer.stderr_tail(),
        )
        if answer.head.status >= 500:
            return _text(502, SERVER_FAILED)
        reason = answer.head.reason or "refused"
        return _text(answer.head.status, f"git refused the request: {reason}")
    return Response(answer, status=200, headers=answer.headers, direct_passthrough=True)


def _asker() -> User | None:
    """Who sends this request: the API token's user (Bearer, checked before the view),
    the Basic credentials' user, or None. RateLimited or TokenRefused for credentials
    that do not hold."""
    if by_api_token():
        return current_user()
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    credentials = request.authorization
    if credentials is None or credentials.type != "basic":
        raise TokenRefused("give your username and an API token (HTTP Basic)")
    return user_for_login_and_token(
        db_session(),
        credentials.username or "",
        credentials.password or "",
        client_ip(),
        every_attempt_counts=False,
    )


def _text(status: int, message: str, **headers: str) -> Response:
    """One line of plain text: git shows it as `remote: MESSAGE`."""
    return Response(
        f"{message}\n",
        status=status,
        headers=headers,
        content_type="text/plain; charset=utf-8",
    )


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    db_session().rollback()
    return _text(error.code or 400, error.description or error.name)


@bp.errorhandler(UserError)
def _refused(error: UserError) -> Response:
    db_session().rollback()
    return _text(400, str(error))


@bp.errorhandler(Exception)
def _failure(error: Exception) -> Response:
    """A bug or a database that went away: logged, and a line git can show."""
    log.exception("git over HTTP failed on %s %s", request.method, request.full_path)
    db_session().rollback()
    return _text(503, SERVER_FAILED)
