"""The Flask application: settings, the request's database session, security headers,
and the one place where exceptions become HTTP answers.

The web reads: it opens a session per request and closes it when the request ends; the
forms that change something do it through domain functions and commit in the view. A
refusal a user caused (`core.errors.UserError`) that a view did not answer itself is a
400 saying why. Every response carries a Content-Security-Policy that allows nothing but
our own stylesheet and images, so even a rendering bug that let markup from a message
through could not run script or load anything from elsewhere.

Absolute URLs (redirects included) are built from MAILYARD_BASE_URL, never from the Host
header a client sends (`BaseUrlHost`); X-Forwarded-* headers count only when
MAILYARD_TRUSTED_PROXIES says a proxy sets them. Numbers in paths are read by the `id`
converter (`web.context.IdConverter`, over `core.params`).

The blueprints come from `mailyard/wiring.py`, one per domain, in the order their rules
must be tried; what they share is `web.context` and `web.forms`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, render_template, request
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import PathConverter

from core.errors import UserError
from core.settings import Settings, get_settings, secret_key
from web.context import (
    SESSION_LIFETIME,
    IdConverter,
    arg_label,
    authenticate_bearer,
    close_db_session,
    db_session,
    template_helpers,
)
from web.forms import sentence

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


def create_app(settings: Settings | None, blueprints: Sequence[Blueprint]) -> Flask:
    """The web application for `settings` (None: the process-wide settings), with
    `blueprints` registered in order (`mailyard.wiring.BLUEPRINTS`)."""
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
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # The largest thing a form takes is a public key (512 KiB): refuse more (413)
        # before anything reads it.
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    # A '//' inside a Message-ID must reach us as it is, not be redirected away.
    app.url_map.merge_slashes = False
    app.url_map.converters["msgpath"] = MessagePathConverter
    app.url_map.converters["id"] = IdConverter
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.before_request(authenticate_bearer)
    app.before_request(_refuse_nul)
    app.after_request(_add_security_headers)
    app.context_processor(template_helpers)
    app.teardown_appcontext(close_db_session)
    app.register_error_handler(UserError, _refused)
    # Unhandled exceptions become InternalServerError, which this handler answers too.
    app.register_error_handler(HTTPException, _http_error)
    app.wsgi_app = BaseUrlHost(app.wsgi_app, settings.base_url)  # type: ignore[method-assign]
    if settings.trusted_proxies > 0:
        # Outside BaseUrlHost: the proxy's X-Forwarded-For gives the client's address,
        # but the host of absolute URLs stays the base URL's.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n
        )
    return app


class BaseUrlHost:
    """WSGI middleware: every request's host and scheme are MAILYARD_BASE_URL's, whatever
    Host header was sent, so that each absolute URL werkzeug or Flask builds (301s for
    b4, trailing-slash redirects, `request.root_url`) points at this site and a
    hostile Host header cannot make one point elsewhere."""

    def __init__(self, wsgi_app, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.wsgi_app = wsgi_app
        self.scheme = parts.scheme or "http"
        self.host = parts.netloc

    def __call__(self, environ, start_response):
        if self.host:
            environ["HTTP_HOST"] = self.host
            environ["wsgi.url_scheme"] = self.scheme
        return self.wsgi_app(environ, start_response)


def _refuse_nul() -> None:
    """No name, Message-ID or query holds a NUL, and PostgreSQL refuses to even compare
    one: answer 400 here rather than fail inside the database with a 500."""
    if "\x00" in request.path:
        abort(400, "This page address holds a NUL character, which no name or id can.")
    for name, value in request.args.items(multi=True):
        if "\x00" in name:
            abort(400, "A parameter's name holds a NUL character, which none can.")
        if "\x00" in value:
            abort(400, f"{arg_label(name)} holds a NUL character, which no parameter can.")


def _add_security_headers(response):
    response.headers.update(SECURITY_HEADERS)
    return response


def _refused(error: UserError):
    """A refusal no view answered itself: 400 with its reason (and nothing half-done)."""
    db_session().rollback()
    return _http_error(BadRequest(sentence(error)))


def _http_error(error: HTTPException):
    """HTML for people; plain text for the POSTs b4 and lei send, which read no HTML."""
    code = error.code or 500
    if request.method == "POST":
        return f"{error.description}\n", code, {"Content-Type": "text/plain; charset=utf-8"}
    return render_template(
        "error.html", code=code, title=error.name, message=error.description
    ), code
