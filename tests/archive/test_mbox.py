"""archive.mbox: splitting, escaping, compression, and the generated corpus."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import mailbox
from datetime import UTC, datetime, timedelta, timezone

import pytest

from archive.mbox import (
    MboxStats,
    iter_mbox,
    looks_like_mail,
    mboxrd_entry,
    open_mbox,
    write_mboxrd_gz,
)
from tests.corpus import decompressed, generated_messages, patchwork_files

TRICKY = (
    b"From: Ann <ann@example.org>\n"
    b"Subject: escaping\n"
    b"Message-ID: <tricky@example.org>\n"
    b"\n"
    b"From the start of a line.\n"
    b">From an escaped line.\n"
    b">>From a twice escaped line.\n"
    b"\n"
    b"From someone Thu Jan  1 00:00:00 1970\n"
    b"Fromage is not a From_ line.\n"
)
PLAIN = b"Subject: plain\nMessage-ID: <plain@example.org>\n\nNothing odd.\n"


def read_all(data: bytes, fmt: str = "mboxrd") -> list[bytes]:
    return list(iter_mbox(io.BytesIO(data), fmt=fmt))


def test_round_trip_preserves_messages_with_from_lines():
    data = b"".join(mboxrd_entry(raw) for raw in (TRICKY, PLAIN, TRICKY))
    assert read_all(data) == [TRICKY, PLAIN, TRICKY]


def test_mboxrd_entry_escapes_one_level_and_ends_with_a_blank_line():
    entry = mboxrd_entry(TRICKY)
    assert entry.startswith(b"From mailyard Thu Jan  1 00:00:00 1970\n")
    assert b"\n>From the start" in entry
    assert b"\n>>From an escaped" in entry
    assert b"\n>>>From a twice" in entry
    assert b"\n>From someone" in entry
    assert b"\nFromage" in entry
    assert entry.endswith(b"Fromage is not a From_ line.\n\n")


def test_mboxrd_entry_normalises_crlf_and_adds_missing_newline():
    entry = mboxrd_entry(b"Subject: x\r\n\r\nbody without newline", envelope_from="a b")
    assert entry == b"From ab Thu Jan  1 00:00:00 1970\nSubject: x\n\nbody without newline\n\n"


def test_mboxrd_entry_dates_are_utc_asctime():
    date = datetime(2025, 6, 2, 10, 5, 9, tzinfo=timezone(timedelta(hours=2)))
    assert mboxrd_entry(PLAIN, "ann@example.org", date).startswith(
        b"From ann@example.org Mon Jun  2 08:05:09 2025\n"
    )


def test_iter_mbox_reads_the_small_corpus():
    with open_mbox(decompressed("small.mbox")) as f:
        messages = list(iter_mbox(f))
    assert len(messages) == 2000
    assert messages == generated_messages("small")


def test_mboxo_does_not_split_on_body_from_lines():
    data = (
        b"From ann@example.org Mon Jun  2 08:05:09 2025\n"
        b"Subject: one\n\n"
        b"From the desk of Ann\n"  # after a blank line, but no asctime
        b"text\n"
        b"From bob Mon Jun  2 08:05:09 2025 but in the middle\n"
        b">From quoted\n"
        b">>From deeper\n"
        b"\n"
        b"From bob@example.org  Mon Jun  2 08:05:10 2025\n"
        b"Subject: two\n\nbody\n"
    )
    one, two = read_all(data, fmt="mboxo")
    assert one == (
        b"Subject: one\n\nFrom the desk of Ann\ntext\n"
        b"From bob Mon Jun  2 08:05:09 2025 but in the middle\n"
        b"From quoted\n>>From deeper\n"
    )
    assert two == b"Subject: two\n\nbody\n"


def test_mboxrd_unescapes_one_level():
    data = b"From x Mon Jun  2 08:05:09 2025\nS: a\n\n>From a\n>>From b\n>Fromage\n\n"
    assert read_all(data) == [b"S: a\n\nFrom a\n>From b\n>Fromage\n"]


def test_crlf_mbox_keeps_crlf_and_drops_the_separator():
    data = (
        b"From x Mon Jun  2 08:05:09 2025\r\nSubject: a\r\n\r\nbody\r\n\r\n"
        b"From y Mon Jun  2 08:05:10 2025\r\nSubject: b\r\n\r\nbody\r\n"
    )
    assert read_all(data) == [b"Subject: a\r\n\r\nbody\r\n", b"Subject: b\r\n\r\nbody\r\n"]


def test_file_without_from_line_is_one_message():
    assert read_all(PLAIN) == [PLAIN]
    assert read_all(b"") == []
    assert read_all(b"\n\n") == []


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        read_all(PLAIN, fmt="mboxcl2")


def test_iter_mbox_streams():
    data = b"".join(mboxrd_entry(PLAIN) for _ in range(1000))
    f = io.BytesIO(data)
    first = next(iter_mbox(f))
    assert first == PLAIN
    assert f.tell() < len(data) // 100


def test_patchwork_series_files_split_into_their_messages():
    counts = {}
    for path in patchwork_files("series"):
        if path.name.endswith(".mbox"):
            with open_mbox(path) as f:
                counts[path.name] = len(list(iter_mbox(f, fmt="mboxo")))
    assert counts["revision-basic.mbox"] == 6
    assert counts["base-different-versions.mbox"] == 5
    assert counts["base-single-patch.mbox"] == 1


@pytest.mark.parametrize(
    "suffix, compress",
    [
        (".gz", gzip.compress),
        (".xz", lzma.compress),
        (".bz2", bz2.compress),
    ],
)
def test_open_mbox_decompresses_by_suffix_and_by_magic(tmp_path, suffix, compress):
    data = mboxrd_entry(TRICKY) + mboxrd_entry(PLAIN)
    for name in ("archive.mbox" + suffix, "archive-without-suffix"):
        path = tmp_path / name
        path.write_bytes(compress(data))
        with open_mbox(path) as f:
            assert list(iter_mbox(f)) == [TRICKY, PLAIN]
    plain = tmp_path / "plain.mbox"
    plain.write_bytes(data)
    with open_mbox(str(plain)) as f:
        assert list(iter_mbox(f)) == [TRICKY, PLAIN]


def test_write_mboxrd_gz_round_trips_and_is_reproducible(tmp_path):
    entries = [mboxrd_entry(TRICKY), mboxrd_entry(PLAIN)]
    first, second = io.BytesIO(), io.BytesIO()
    write_mboxrd_gz(iter(entries), first)
    write_mboxrd_gz(iter(entries), second)
    assert first.getvalue() == second.getvalue()
    assert not first.closed
    path = tmp_path / "t.mbox.gz"
    path.write_bytes(first.getvalue())
    with open_mbox(path) as f:
        assert list(iter_mbox(f)) == [TRICKY, PLAIN]


def test_epoch_default_date_is_stable():
    assert mboxrd_entry(PLAIN, date=datetime(1970, 1, 1, tzinfo=UTC)) == mboxrd_entry(PLAIN)


# Separators as Python's mailbox.mbox and patchew write them: 'From A' without a date,
# 'From nobody ...' right after a body line with no blank line before it.
LOOSE = (
    b"From MAILER-DAEMON Thu Dec  3 12:57:26 2026\n"
    b"From: Ann <ann@example.org>\nSubject: one\nMessage-ID: <1@example.org>\n\nhello\n\n"
    b"From A\n"
    b"From: Bob <bob@example.org>\nSubject: two\nMessage-ID: <2@example.org>\n\nno newline\n"
    b"From nobody Thu Dec  3 12:57:26 2026\n"
    b"Subject: three\nDate: Thu, 3 Dec 2026 12:57:26 +0000\n\n>From the start\n"
    b"From the desk of Ann, which opens no header\n"
    b"Subject: not a header block after text\n"
)


def mailbox_split(path) -> list[bytes]:
    """The oracle: how the standard library's mailbox.mbox splits the file."""
    box = mailbox.mbox(path, create=False)
    try:
        return [box.get_bytes(key) for key in box.keys()]
    finally:
        box.close()


def test_strict_formats_count_loose_separators_as_glued():
    for fmt in ("mboxrd", "mboxo"):
        stats = MboxStats()
        messages = list(iter_mbox(io.BytesIO(LOOSE), fmt, stats))
        assert len(messages) == 1, fmt
        assert stats.glued == 2, fmt


def test_loose_format_splits_where_mailbox_mbox_does(tmp_path):
    path = tmp_path / "loose.mbox"
    path.write_bytes(LOOSE)
    stats = MboxStats()
    ours = read_all_stats(LOOSE, "mboxo-loose", stats)
    expected = mailbox_split(path)
    assert len(ours) == 3 and stats.glued == 0
    # mailbox.mbox also splits at the 'From the desk' line, which opens no header (a
    # body line an mboxo writer forgot to escape): that one stays in its message here.
    # It does not unescape '>From ', which mboxo-loose does.
    glued_back = expected[2] + b"From the desk of Ann, which opens no header\n" + expected[3]
    assert ours == [expected[0], expected[1], glued_back.replace(b">From the", b"From the")]


def test_loose_format_reads_what_mailbox_mbox_writes(tmp_path):
    path = tmp_path / "written.mbox"
    box = mailbox.mbox(path)
    raws = [
        b"From: a@example.org\nSubject: s%d\nMessage-ID: <%d@example.org>\n\nbody %d" % (n, n, n)
        for n in range(4)
    ]
    for n, raw in enumerate(raws):
        message = mailbox.mboxMessage(raw)
        if n % 2:
            message.set_from("A")  # written as a bare 'From A' line
        box.add(message)
    box.close()
    assert read_all(path.read_bytes(), "mboxo-loose") == mailbox_split(path)
    stats = MboxStats()
    assert len(read_all_stats(path.read_bytes(), "mboxrd", stats)) == 2
    assert stats.glued == 2


def test_real_archives_have_nothing_glued():
    stats = MboxStats()
    with open_mbox(decompressed("small.mbox")) as f:
        assert sum(1 for _ in iter_mbox(f, "mboxrd", stats)) == 2000
    assert stats.glued == 0
    for path in patchwork_files("series"):
        if path.name.endswith(".mbox"):
            with open_mbox(path) as f:
                list(iter_mbox(f, "mboxo", stats))
    assert stats.glued == 0


def test_looks_like_mail():
    assert looks_like_mail(PLAIN) and looks_like_mail(TRICKY)
    assert looks_like_mail(b"From x\nSubject: y\n\nbody\n")
    assert looks_like_mail(PLAIN.replace(b"\n", b"\r\n"))
    assert not looks_like_mail(b"root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:/sbin/nologin\n")
    assert not looks_like_mail(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert not looks_like_mail(b"just some text\nSubject: late\n")
    for path in patchwork_files("fuzz"):
        with open_mbox(path) as f:
            assert all(looks_like_mail(raw) for raw in iter_mbox(f, "mboxo")), path.name


def read_all_stats(data: bytes, fmt: str, stats: MboxStats) -> list[bytes]:
    return list(iter_mbox(io.BytesIO(data), fmt, stats))


def test_a_first_message_with_a_stray_header_line_is_still_mail():
    assert looks_like_mail(b"X-Loop: a\nwrapped without indent\nFrom: a@example.org\n\nbody\n")
