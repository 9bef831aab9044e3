"""The Flask application: settings, the request's database session, security headers,
and the one place where exceptions become HTTP answers.

The web reads: it opens a session per request and closes it when the request ends; the
few forms that change something (a patchset's status) do it through domain functions
and commit in the view. Every response carries a Content-Security-Policy that allows
nothing but our own stylesheet and images, so even a rendering bug that let markup from
a message through could not run script or load anything from elsewhere.
"""

from __future__ import annotations

from flask import Flask, abort, current_app, g, render_template, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from archive.lists import get_list
from archive.models import MailingList
from mailyard.db import new_session
from mailyard.settings import Settings, get_settings, secret_key

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class MessagePathConverter(PathConverter):
    """A path that may start with '/': a Message-ID beginning with '/' arrives that way
    once the server has decoded its %2F. `web.mid` reads the real segments."""

    regex = ".+"
    part_isolating = False  # Werkzeug guesses True for a regex without '/'


def create_app(settings: Settings | None = None) -> Flask:
    """The web application for `settings` (default: the process-wide settings)."""
    from web.account_settings import bp as account_settings_bp
    from web.accounts import bp as accounts_bp
    from web.archive import bp as archive_bp
    from web.auth import bp as auth_bp
    from web.groups import bp as groups_bp
    from web.moderation import bp as moderation_bp
    from web.patches import bp as patches_bp
    from web.projects import bp as projects_bp
    from web.subscriptions import bp as subscriptions_bp
    from web.tracker_settings import bp as tracker_settings_bp
    from web.trackers import bp as trackers_bp

    app = Flask(__name__)
    settings = settings or get_settings()
    app.config["MAILYARD_SETTINGS"] = settings
    # Sessions (who is signed in) are signed cookies that script cannot read and other
    # sites do not get on their POSTs.
    app.secret_key = secret_key(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https"),
        # The largest thing a form takes is a public key (512 KiB): refuse more (413)
        # before anything reads it.
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    # A '//' inside a Message-ID must reach us as it is, not be redirected away.
    app.url_map.merge_slashes = False
    app.url_map.converters["msgpath"] = MessagePathConverter
    # Before the archive: its /<name>/ rules would otherwise take /~user, /account...
    app.register_blueprint(accounts_bp)
    app.register_blueprint(account_settings_bp)
    app.register_blueprint(groups_bp)
    app.register_blueprint(projects_bp)
    app.register_blueprint(moderation_bp)
    app.register_blueprint(archive_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(patches_bp)
    app.register_blueprint(subscriptions_bp)
    app.register_blueprint(tracker_settings_bp)
    app.register_blueprint(trackers_bp)
    app.before_request(_refuse_nul)
    app.after_request(_add_security_headers)
    app.teardown_appcontext(_close_session)
    # Unhandled exceptions become InternalServerError, which this handler answers too.
    app.register_error_handler(HTTPException, _http_error)
    return app


def db_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = new_session(current_app.config["MAILYARD_SETTINGS"])
    return g.db_session


def list_or_404(name: str, right: str = "browse") -> MailingList:
    """The list called `name` if the signed-in person has `right` on it; else a 404 that
    says there is none (a list someone may not browse does not exist for them)."""
    from archive.access import may
    from web.auth import current_actor

    mlist = get_list(db_session(), name)
    if mlist is None or not may(db_session(), mlist, current_actor(), "browse"):
        abort(404, f"There is no list named {name!r} here.")
    if right != "browse" and not may(db_session(), mlist, current_actor(), right):
        abort(403, f"You may not {right} on {name}.")
    return mlist


def app_settings() -> Settings:
    return current_app.config["MAILYARD_SETTINGS"]


def _close_session(_error: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def _refuse_nul() -> None:
    """No name, Message-ID or query holds a NUL, and PostgreSQL refuses to even compare
    one: answer 400 here rather than fail inside the database with a 500."""
    if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
        abort(400, "NUL characters are not allowed in addresses.")


def _add_security_headers(response):
    response.headers.update(SECURITY_HEADERS)
    return response


def _http_error(error: HTTPException):
    """HTML for people; plain text for the POSTs b4 and lei send, which read no HTML."""
    code = error.code or 500
    if request.method == "POST":
        return f"{error.description}\n", code, {"Content-Type": "text/plain; charset=utf-8"}
    return render_template(
        "error.html", code=code, title=error.name, message=error.description
    ), code
