"""Bulk import of an existing archive (mbox files) and the rebuild of derived data.

Both bypass intake and Celery: they store and ingest in large transactions in the
calling process, parsing on a second process so that the database never waits for it.
"""

from __future__ import annotations

import hashlib
import lzma
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, undefer

from archive.ingest import IngestBatch, reset_derived
from archive.mbox import MboxFormat, MboxStats, iter_mbox, looks_like_mail, open_mbox
from archive.models import MailingList, Message, MessageStatus
from archive.parse import ParsedMessage, extract_message_id, parse_message
from archive.store import IncomingMessage, store_messages
from core.errors import UserError

BATCH = 500


@dataclass
class ImportReport:
    messages: int = 0
    imported: int = 0
    duplicates: int = 0
    problems: int = 0


class MboxRefused(UserError):
    """An mbox file that would be imported wrongly: not an mbox, unreadable, or holding
    messages its separators glue together."""


def check_mbox_files(paths: list[str], fmt: str, keep_glued: bool = False) -> int:
    """`check_mbox_file` for each of `paths`; how many messages look glued in all."""
    return sum(check_mbox_file(path, fmt, keep_glued) for path in paths)


def check_mbox_file(path: str, fmt: str, keep_glued: bool = False) -> int:
    """Read `path` through once before anything is stored, so that a wrong file or a
    wrong format is refused whole instead of half imported: a file whose first message
    has no mail header (`/etc/passwd`) is not an mbox, and 'From ' lines that open a
    mail header inside a message mean the format is wrong (`MboxFormat.mboxo_loose`
    splits there) unless `keep_glued` says to import them as they are. Returns how many
    messages look glued."""
    stats = MboxStats()
    try:
        with open_mbox(path) as stream:
            for number, raw in enumerate(iter_mbox(stream, fmt, stats)):
                if number == 0 and not looks_like_mail(raw):
                    raise MboxRefused(
                        f"{path}: not an mbox: it does not begin with mail headers "
                        "(From:, Date:, Message-ID: ...); nothing imported"
                    )
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise MboxRefused(f"{path}: cannot be read: {e}; nothing imported") from None
    if stats.glued and not keep_glued:
        raise MboxRefused(
            f"{path}: {stats.glued} message(s) look glued into the one before them ('From ' "
            f"lines opening a mail header without the blank line and date an {fmt} "
            f"separator needs); use --format {MboxFormat.mboxo_loose} to split them there, "
            "or --keep-glued to import them as they are; nothing imported"
        )
    return stats.glued


def synthetic_message_id(raw: bytes) -> str:
    """A stable Message-ID for mail that has none, so a re-import still finds it a duplicate."""
    return f"{hashlib.sha1(raw).hexdigest()}@mailyard.invalid"


@contextmanager
def _parser_pool(workers: int) -> Iterator[Callable[[list[bytes]], list[ParsedMessage]]]:
    if workers <= 1:
        yield lambda raws: [parse_message(r) for r in raws]
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        yield lambda raws: pool.map(parse_message, raws, chunksize=32)


def import_messages(
    session: Session,
    mlist: MailingList,
    raws: Iterable[bytes],
    on_progress: Callable[[int], None] = lambda n: None,
    workers: int = 1,
) -> ImportReport:
    """Store and ingest `raws` into `mlist`, committing every BATCH messages."""
    report = ImportReport()
    batch: list[bytes] = []
    with _parser_pool(workers) as parse_all:
        for raw in raws:
            batch.append(raw)
            if len(batch) >= BATCH:
                _import_batch(session, mlist, batch, parse_all, report)
                on_progress(len(batch))
                batch = []
        if batch:
            _import_batch(session, mlist, batch, parse_all, report)
            on_progress(len(batch))
    refresh_planner_statistics(session)
    return report


def refresh_planner_statistics(session: Session) -> None:
    """After a bulk load, tell the query planner how the tables look now: PostgreSQL
    plans search with stale statistics an order of magnitude slower until autovacuum
    gets round to it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE messages, thread_nodes, threads, message_search"))
    else:
        session.execute(text("PRAGMA optimize"))
    session.commit()


def _import_batch(session, mlist, raws, parse_all, report: ImportReport) -> None:
    incoming = [
        IncomingMessage(
            raw,
            extract_message_id(raw) or synthetic_message_id(raw),
            [mlist.id],
            envelope_from="import",
        )
        for raw in raws
    ]
    report.messages += len(incoming)
    stored: list[tuple[int, bytes]] = []
    for item, result in zip(incoming, store_messages(session, incoming), strict=True):
        if result.message_pk is None:  # dropped: every list had it already
            report.duplicates += 1
        else:
            stored.append((result.message_pk, item.raw))
    parsed = parse_all([raw for _, raw in stored])
    items = [(session.get(Message, pk), p) for (pk, _raw), p in zip(stored, parsed, strict=True)]
    items = [(m, p) for m, p in items if m.status is MessageStatus.received]
    IngestBatch(session).run(items)
    report.imported += len(items)
    report.problems += sum(bool(p.problems) for _, p in items)
    session.commit()


def import_mbox_files(
    session: Session,
    mlist: MailingList,
    paths: list[str],
    fmt: str,
    on_progress: Callable[[int], None],
    workers: int,
) -> ImportReport:
    """Import mbox files (plain or compressed), which `check_mbox_files` has passed;
    `on_progress` gets the bytes of the files read since its last call, so a progress
    bar can be sized by `mbox_files_size`."""
    position = {"done": 0, "reported": 0}
    current: list[BinaryIO] = []

    def raws() -> Iterator[bytes]:
        for path in paths:
            with open(path, "rb") as f:
                current[:] = [f]
                with open_mbox(f) as stream:
                    yield from iter_mbox(stream, fmt)
            current.clear()
            position["done"] += os.path.getsize(path)

    def report_bytes(_messages: int) -> None:
        now = position["done"] + (current[0].tell() if current else 0)
        on_progress(now - position["reported"])
        position["reported"] = now

    return import_messages(session, mlist, raws(), report_bytes, workers)


def mbox_files_size(paths: list[str]) -> int:
    return sum(os.path.getsize(p) for p in paths)


def reindex(
    session: Session, on_progress: Callable[[int], None] = lambda n: None, workers: int = 1
) -> int:
    """Rebuild every derived table and column from the raw messages, in arrival order."""
    reset_derived(session)
    session.commit()
    pks = list(session.scalars(select(Message.id).order_by(Message.received_at, Message.id)))
    with _parser_pool(workers) as parse_all:
        for i in range(0, len(pks), BATCH):
            chunk = pks[i : i + BATCH]
            messages = session.scalars(
                select(Message).where(Message.id.in_(chunk)).options(undefer(Message.raw))
            ).all()
            by_pk = {m.id: m for m in messages}
            ordered = [by_pk[pk] for pk in chunk if pk in by_pk]
            parsed = parse_all([m.raw for m in ordered])
            IngestBatch(session).run(list(zip(ordered, parsed, strict=True)))
            session.commit()
            session.expunge_all()
            on_progress(len(chunk))
    refresh_planner_statistics(session)
    return len(pks)


def count_messages(session: Session) -> int:
    return session.scalar(select(func.count(Message.id))) or 0
