"""The Celery application. Its broker comes from the settings when it is first used.

Embedded mode uses the SQLAlchemy transport on a SQLite file (`sqla+sqlite://`); scale-out
uses Redis or RabbitMQ. Tasks live in their domains as shared tasks (`archive/tasks.py`,
`mail/tasks.py`, ...), which run on this app once it exists: it is made here, set as the
current app, and told by `wiring.py` which modules hold tasks and what runs on the beat.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_ready
from kombu.transport import sqlalchemy as sqla_transport

from core.settings import get_settings
from mailyard import wiring

wiring.install()

app = Celery("mailyard", set_as_current=True)
# Current for every thread (intake's writer enqueues from its own), not only this one.
app.set_default()


@app.on_configure.connect
def _configure(sender: Celery, **_kwargs) -> None:
    settings = get_settings()
    sender.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(settings.broker_url),
        task_always_eager=settings.tasks_eager,
        task_eager_propagates=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        beat_schedule=dict(wiring.BEAT_SCHEDULE),
        timezone="UTC",
    )


app.conf.imports = list(wiring.TASK_MODULES)


@worker_ready.connect
def _sweep_on_start(sender, **_kwargs) -> None:
    """A worker starting after a crash finishes what the dead one left, without waiting
    for the first beat."""
    for task in wiring.STARTUP_TASKS:
        sender.app.send_task(task)


def _transport_options(broker_url: str) -> dict:
    if broker_url.startswith("sqla+sqlite"):
        # The SQLAlchemy transport hands its options to create_engine: wait for the
        # SQLite lock instead of failing while another process writes the queue. It
        # polls once a second by default and takes no option for that; ingest latency
        # is what a person sees after sending mail, so poll faster.

        sqla_transport.Transport.polling_interval = 0.2
        return {"connect_args": {"timeout": 30}}
    if broker_url.startswith(("redis", "amqp")):
        return {"polling_interval": 0.2} if broker_url.startswith("redis") else {}
    return {}
