"""The group-commit writer: what intake stores, many messages per transaction, committed
before any of them is answered.

With SQLite in `synchronous=FULL`, every commit is an fsync, and one fsync per message
caps intake at a few hundred messages a second on a good disk. DATA handlers therefore
queue their message and wait; one writer thread takes everything queued, stores it in one
transaction and commits once, then wakes every waiting handler. Under load the batch
grows by itself; alone, a message waits for one commit.

What a message's storing means is its address kind's (`mail.address_kinds.Stored`: a list
post is archived, copied to subscribers and held for moderators); the writer only batches,
commits, and after the commit enqueues ingest of the new messages and delivery of the
outbox rows the storing made.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from archive.store import StoreResult
from archive.tasks import enqueue_ingest
from core.db import new_session
from core.settings import Settings
from mail.address_kinds import StoreBatch
from mail.tasks import enqueue_delivery

log = logging.getLogger(__name__)


@dataclass
class StoreRequest:
    """One accepted message on its way to the database, and the handler waiting for it."""

    store: StoreBatch  # how its kind stores a batch of them
    payload: object  # what `store` takes for this message
    size: int  # its bytes, for the batch's limit
    label: str  # for the log: its Message-ID
    future: Future[StoreResult] = field(default_factory=Future, repr=False)


class WriterStopped(RuntimeError):
    """The writer no longer takes messages (intake is shutting down)."""


class GroupCommitWriter:
    """One thread that stores queued messages, many per transaction.

    `store()` is what DATA handlers await. A batch is everything queued when the thread
    comes back for more (up to `max_batch` messages or `max_bytes`); it is stored in one
    transaction and committed once. If that transaction fails, each message is tried in
    a transaction of its own (a unique-key race is retried once, and then finds the
    winner's row: a duplicate, dropped), so one bad message cannot fail the others.
    Ingest is enqueued once per batch, after the commit and before the answers.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        max_batch: int = 200,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.settings = settings
        self.max_batch = max_batch
        self.max_bytes = max_bytes
        self._queue: queue.SimpleQueue[StoreRequest | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        # The stored messages are safe once committed; telling the broker is not part of
        # the answer, so it happens on a thread of its own (inline when tasks run eagerly,
        # so that in tests a 250 means "archived").
        self._ingest: Callable[[list[int]], None]
        self._enqueue_outbox: Callable[[list[int]], None]
        if settings.tasks_eager:
            self._ingest, self._enqueue_outbox = enqueue_ingest, enqueue_delivery
        else:
            self._ingest = BackgroundEnqueuer(enqueue_ingest).submit
            self._enqueue_outbox = BackgroundEnqueuer(enqueue_delivery).submit
        self.batches = 0  # committed batches, for tests and logs

    def start(self) -> GroupCommitWriter:
        self._thread.start()
        return self

    def submit(self, request: StoreRequest) -> Future[StoreResult]:
        with self._lock:
            if self._stopped:
                raise WriterStopped("intake is shutting down")
            self._queue.put(request)
        return request.future

    async def store(self, request: StoreRequest) -> StoreResult:
        """Store `request` with the next batch; returns once it is committed."""
        return await asyncio.wrap_future(self.submit(request))

    def stop(self, timeout: float | None = 30) -> None:
        """Store what is queued, then end the thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        running = True
        while running:
            first = self._queue.get()
            if first is None:
                break
            taken, size = [first], first.size
            while len(taken) < self.max_batch and size < self.max_bytes:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    running = False
                    break
                taken.append(item)
                size += item.size
            # A request whose client has gone (its handler cancelled, so its future is)
            # never got a 250 and will be sent again: it is not stored. The others are
            # marked running, which a client leaving from now on cannot cancel, so each
            # is answered once stored (a cancelled future would refuse its result).
            batch = [r for r in taken if r.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                self._write_batch(batch)
            except BaseException as e:  # noqa: BLE001  never leave a handler waiting
                log.exception("intake writer failed a batch of %d", len(batch))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(e)

    def _write_batch(self, batch: list[StoreRequest]) -> None:
        outcomes: list[StoreResult | BaseException]
        outbox_ids: list[int] = []  # mail the storing made, to deliver once committed
        try:
            outcomes = list(self._store_together(batch, outbox_ids))
        except Exception:
            if len(batch) > 1:
                log.warning("batch of %d failed; storing one by one", len(batch), exc_info=True)
            else:
                log.warning("storing a message failed", exc_info=True)
            outbox_ids.clear()
            outcomes = [self._store_alone(request, outbox_ids) for request in batch]
        else:
            self.batches += 1
        new_pks = [
            o.message_pk
            for o in outcomes
            if isinstance(o, StoreResult) and o.message_pk is not None
        ]
        self._ingest(list(dict.fromkeys(new_pks)))
        self._enqueue_outbox(outbox_ids)
        for request, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)

    def _store_together(
        self, batch: list[StoreRequest], outbox_ids: list[int]
    ) -> list[StoreResult]:
        """Store the batch in one transaction, each kind's requests by its `store`; the
        ids of the outbox rows made are added to `outbox_ids` once committed."""
        results: list[StoreResult | None] = [None] * len(batch)
        by_store: dict[StoreBatch, list[int]] = {}
        for i, request in enumerate(batch):
            by_store.setdefault(request.store, []).append(i)
        with new_session(self.settings) as session:  # closing rolls back what failed
            ids: list[int] = []
            for store, indexes in by_store.items():
                stored, rows = store(session, self.settings, [batch[i].payload for i in indexes])
                for i, result in zip(indexes, stored, strict=True):
                    results[i] = result
                ids += [row.id for row in rows]
            session.commit()
        outbox_ids += ids
        return [r for r in results if r is not None]

    def _store_alone(
        self, request: StoreRequest, outbox_ids: list[int]
    ) -> StoreResult | BaseException:
        for attempt in (1, 2):
            try:
                [result] = self._store_together([request], outbox_ids)
                return result
            except IntegrityError as e:
                # Another process stored the same Message-ID on the same list between our
                # check and our insert; the second attempt sees its row and drops ours.
                if attempt == 2:
                    return e
            except Exception as e:  # noqa: BLE001  answered with 451 by the handler
                log.error("could not store <%s>: %s", request.label, e)
                return e
        raise AssertionError("unreachable")


class BackgroundEnqueuer:
    """Hands stored ids to the broker from its own thread, merging whatever piled up
    while it was busy into one call."""

    def __init__(self, enqueue: Callable[[list[int]], None]) -> None:
        self._enqueue = enqueue
        self._queue: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="intake-enqueue", daemon=True).start()

    def submit(self, pks: list[int]) -> None:
        if pks:
            self._queue.put(pks)

    def _run(self) -> None:
        while True:
            pks = list(self._queue.get())
            while True:
                try:
                    pks += self._queue.get_nowait()
                except queue.Empty:
                    break
            self._enqueue(pks)
