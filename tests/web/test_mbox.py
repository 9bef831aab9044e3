"""Thread downloads and search results as gzipped mboxrd: what b4 and lei fetch."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from archive.mbox import iter_mbox
from web.mid import mid_escape


def seed_thread(seed, mlist):
    """A thread whose bodies hold lines an mbox must escape, and one unrelated message."""
    seed.post(mlist, "root@x", "[PATCH] fix the fixture", body="From the start\n>From x\n")
    seed.post(mlist, "r1@x", "Re: [PATCH] fix the fixture", ("root@x",), body="looks good\n")
    seed.post(
        mlist,
        "r2/x+y@x",
        "Re: [PATCH] fix the fixture",
        ("root@x", "r1@x"),
        body="Reviewed-by: Bo <bo@example.com>\n",
    )
    seed.post(mlist, "other@x", "unrelated", body="nothing to see\n")
    return ["root@x", "r1@x", "r2/x+y@x"]


def split(data: bytes) -> list[bytes]:
    return list(iter_mbox(io.BytesIO(gzip.decompress(data))))


def test_thread_mbox_gz_holds_exactly_the_threads_raw_messages(client, seed):
    dev = seed.make_list("dev")
    ids = seed_thread(seed, dev)
    response = client.get(f"/dev/{mid_escape('r2/x+y@x')}/t.mbox.gz")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert response.headers["Content-Disposition"] == (
        "inline; filename=PATCH-fix-the-fixture.mbox.gz"
    )
    assert split(response.data) == [seed.raw[i] for i in ids]
    assert gzip.decompress(response.data).startswith(b"From mailyard Thu Jan  1 00:00:00 1970\n")


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_mailsplit_splits_the_thread_back_into_its_messages(client, seed, tmp_path: Path):
    dev = seed.make_list("dev")
    ids = seed_thread(seed, dev)
    mbox = gzip.decompress(client.get("/dev/root@x/t.mbox.gz").data)
    out = tmp_path / "split"
    out.mkdir()
    subprocess.run(
        ["git", "mailsplit", "--mboxrd", f"-o{out}"], input=mbox, check=True, capture_output=True
    )
    # mailsplit keeps each message's From_ line and the blank line that ends it.
    parts = [p.read_bytes() for p in sorted(out.iterdir())]
    assert [p.split(b"\n", 1)[0] for p in parts] == [b"From mailyard Thu Jan  1 00:00:00 1970"] * 3
    assert [p.split(b"\n", 1)[1] for p in parts] == [seed.raw[i] + b"\n" for i in ids]


def test_all_serves_the_thread_of_whichever_list_has_it(client, seed):
    users = seed.make_list("users")
    ids = seed_thread(seed, users)
    assert split(client.get("/all/r1@x/t.mbox.gz").data) == [seed.raw[i] for i in ids]


def test_head_of_thread_mbox_answers_without_a_body(client, seed):
    dev = seed.make_list("dev")
    seed_thread(seed, dev)
    response = client.head("/dev/root@x/t.mbox.gz")
    assert response.status_code == 200 and response.data == b""


def test_post_search_returns_matching_messages_as_gzip_mbox(client, seed):
    dev = seed.make_list("dev")
    seed_thread(seed, dev)
    response = client.post("/dev/?q=s:fixture&x=m", data="")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert response.headers["Content-Disposition"].startswith("inline; filename=results-s-fixt")
    assert split(response.data) == [seed.raw[i] for i in ("r2/x+y@x", "r1@x", "root@x")]


def test_post_search_with_t_expands_to_whole_threads(client, seed):
    dev = seed.make_list("dev")
    ids = seed_thread(seed, dev)
    response = client.post("/dev/?q=Reviewed&x=m&t=1", data="")
    assert split(response.data) == [seed.raw[i] for i in ids]
    plain = client.post("/dev/?q=Reviewed&x=m", data="")
    assert split(plain.data) == [seed.raw["r2/x+y@x"]]


def test_post_search_on_all_covers_every_list(client, seed):
    dev, users = seed.make_list("dev"), seed.make_list("users")
    seed.post(dev, "d@x", "needle in dev")
    seed.post(users, "u@x", "needle in users")
    response = client.post("/all/?x=m&t=1&q=needle", data="")
    assert sorted(split(response.data)) == sorted([seed.raw["d@x"], seed.raw["u@x"]])


def test_post_search_without_matches_is_404_and_bad_query_400(client, seed):
    seed.make_list("dev")
    response = client.post("/dev/?q=nothingmatches&x=m", data="")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")
    assert client.post('/dev/?q="unbalanced&x=m', data="").status_code == 400
    assert client.post("/dev/?x=m", data="").status_code == 404


def test_post_search_mbox_streams_in_batches(client, seed, monkeypatch):
    from web import archive as web_archive

    monkeypatch.setattr(web_archive, "MBOX_BATCH", 2)
    dev = seed.make_list("dev")
    for i in range(5):
        seed.post(dev, f"m{i}@x", f"batch {i}")
    response = client.post("/dev/?q=batch&x=m", data="")
    assert split(response.data) == [seed.raw[f"m{i}@x"] for i in reversed(range(5))]
