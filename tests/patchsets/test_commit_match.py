"""patchsets.commit_match on plain facts: the order of the three ways, every twin of a
match, and the trailers that name a message."""

from __future__ import annotations

from patchsets.commit_match import CommitFacts, PatchFacts, match_commits, message_ids_in
from patchsets.models import MatchMethod


def patch(pk: int, mid: str, pid: str | None, name: str = "fix it", *, is_open=True) -> PatchFacts:
    return PatchFacts(pk, mid, pid, "ada@example.org", name, frozenset({"a.c"}), is_open)


def commit(sha: str, pid: str | None, subject: str = "fix it", mids=()) -> CommitFacts:
    return CommitFacts(sha, "ada@example.org", subject, pid, frozenset({"a.c"}), tuple(mids))


def test_message_ids_from_link_and_message_id_trailers() -> None:
    text = (
        "fix it\n\nbody\n\nSigned-off-by: Ada <ada@example.org>\n"
        "Link: https://lore.kernel.org/r/20260101-x-v1-1-abc@example.org\n"
        "Link: https://mailyard.example/dev/id%2Fwith%2Fslash@x/\n"
        "Link: https://example.org/bugs/12\n"
        "Message-Id: <other@example.org>\n"
    )
    assert message_ids_in(text) == (
        "20260101-x-v1-1-abc@example.org",
        "id/with/slash@x",
        "other@example.org",
    )


def test_the_first_way_that_finds_something_decides_and_twins_follow() -> None:
    patches = [
        patch(1, "a@x", "p1"),
        patch(2, "b@x", "p1"),  # a re-send of 1: the same diff
        patch(3, "c@x", "p3"),
        patch(4, "d@x", "p4", "rebased one"),
        patch(5, "e@x", "p5", "rebased one", is_open=False),  # decided: no fallback
    ]
    found = match_commits(
        [commit("s1", "zz", mids=["a@x"]), commit("s3", "p3"), commit("s4", "new", "rebased one")],
        patches,
    )
    assert {(m.message_pk, m.sha, m.method) for m in found} == {
        (1, "s1", MatchMethod.message_id),
        (2, "s1", MatchMethod.message_id),
        (3, "s3", MatchMethod.patch_id),
        (4, "s4", MatchMethod.similar),
    }


def test_a_squash_matches_nothing() -> None:
    squash = CommitFacts("s", "ada@example.org", "all", "zz", frozenset({"a.c", "b.c"}), ())
    assert match_commits([squash], [patch(1, "a@x", "p1", "all")]) == []
