"""Run a Celery worker for Mailyard's tasks, with the sweep's scheduler when asked."""

from __future__ import annotations

import os

from core.settings import Settings
from mailyard.celery_app import app


def run_worker(settings: Settings, beat: bool = True, queues: str = "celery") -> None:
    argv = [
        "worker",
        "--loglevel=INFO",
        f"--queues={queues}",
        f"--concurrency={settings.worker_concurrency}",
        # One process per worker keeps SQLite's single writer simple; scale out by
        # running more `mailyard worker` processes.
        "--pool=solo" if settings.worker_concurrency == 1 else "--pool=prefork",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=mailyard-{_node_suffix()}@%h",
    ]
    if beat:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", f"--schedule={settings.data_dir / 'celerybeat-schedule'}"]
    app.worker_main(argv)


def _node_suffix() -> str:
    return str(os.getpid())
