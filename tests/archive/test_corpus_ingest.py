"""Every message of every shared corpus set goes through store and ingest without an
exception; malformed mail ends archived with its problems marked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from archive.importer import import_messages
from archive.mbox import iter_mbox, open_mbox
from archive.models import Message, MessageStatus
from archive.parse import parse_message
from archive.threading import thread_messages
from lists.manage import create_list
from tests import corpus


def messages_of(kind: str) -> list[tuple[str, bytes]]:
    out = []
    for path in corpus.patchwork_files(kind):
        if path.suffix not in (".mbox", ".template"):
            continue
        with open_mbox(path) as f:
            out += [(path.name, raw) for raw in iter_mbox(f, "mboxo")]
    return out


@pytest.mark.parametrize("kind", ["mail", "series", "fuzz"])
def test_patchwork_sets_ingest_and_stay_archived(session, kind):
    mlist = create_list(session, "pw", "o@example.org")
    mails = messages_of(kind)
    assert mails
    report = import_messages(session, mlist, [raw for _, raw in mails])
    assert report.messages == len(mails)
    rows = session.scalars(select(Message)).all()
    assert rows and all(m.status is MessageStatus.archived for m in rows)
    if kind == "fuzz":
        # Malformed mail is kept and marked, not refused or lost.
        assert sum(bool(m.parse_problems) for m in rows) >= len(rows) // 2


def test_fuzz_raw_bytes_are_kept_unchanged(session):
    mlist = create_list(session, "pw", "o@example.org")
    mails = [raw for _, raw in messages_of("fuzz")]
    import_messages(session, mlist, mails)
    stored = {bytes(m.raw) for m in session.scalars(select(Message))}
    assert stored <= set(mails)


@pytest.mark.slow
def test_medium_corpus_parses_and_threads_without_exception():
    raws = corpus.generated_messages("medium")
    parsed = [parse_message(raw) for raw in raws]
    assert all(p.message_id for p in parsed)
    store = thread_messages((p.message_id, p.references, p.in_reply_to, p.subject) for p in parsed)
    assert store is not None
