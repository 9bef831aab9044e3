"""Serve the Flask app with gunicorn (pre-fork workers, each with its own DB pool)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint
from gunicorn.app.base import BaseApplication

from core.settings import Settings, SettingsError, parse_listen
from web.app import create_app


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, blueprints: Sequence[Blueprint]) -> None:
        self.settings = settings
        self.blueprints = blueprints
        super().__init__()

    def load_config(self) -> None:
        listen = parse_listen(self.settings.http_listen)
        if listen is None:
            raise SettingsError("MAILYARD_HTTP_LISTEN is empty: nothing to serve on")
        bind = f"unix:{listen}" if isinstance(listen, str) else f"{listen[0]}:{listen[1]}"
        self.cfg.set("bind", [bind])
        self.cfg.set("workers", self.settings.web_workers)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", 4)
        self.cfg.set("accesslog", None)
        # Longer than the 5 s a worker thread waits on a connection that sent nothing
        # yet (a browser's spare one), so a stopping worker ends before the master
        # would SIGKILL it.
        self.cfg.set("graceful_timeout", 10)
        # Nothing here uses gunicorn's control socket, and its default path is one per
        # user: every instance would share it and remove the others'.
        self.cfg.set("control_socket_disable", True)
        self.cfg.set("proc_name", "mailyard-web")

    def load(self):
        return create_app(self.settings, self.blueprints)


def run_web(settings: Settings, blueprints: Sequence[Blueprint]) -> None:
    _Gunicorn(settings, blueprints).run()
