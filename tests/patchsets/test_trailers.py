"""Trailer reading and writing: unit behaviour, real git as the judge for commit messages,
and the generated corpus's ground truth for patches and review replies."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from archive.parse import parse_message
from patchsets.trailers import (
    Trailer,
    add_trailers,
    commit_trailers,
    followup_trailers,
    mismatched,
)
from tests.corpus import generated_messages, truth

SOB = "Signed-off-by: Ann Author <ann@example.com>"
RB = Trailer("Reviewed-by", "Rob Reviewer <rob@example.org>")


def lines(trailers: list[Trailer]) -> list[str]:
    return [t.line for t in trailers]


# --- commit_trailers -----------------------------------------------------------------------


def test_last_paragraph_of_trailers_is_the_block():
    message = f"subject\n\nWhy.\n\n{SOB}\nAcked-by: Al <al@example.com>\n"
    assert lines(commit_trailers(message)) == [SOB, "Acked-by: Al <al@example.com>"]


def test_title_paragraph_is_never_a_trailer_block():
    assert commit_trailers(f"{SOB}\n") == []
    assert commit_trailers("Fixes: the frobnicator\n") == []


def test_leading_blank_line_means_an_empty_title():
    assert lines(commit_trailers(f"\n{SOB}\n")) == [SOB]


def test_continuation_lines_are_folded_into_the_value():
    message = 'subject\n\nFixes: 0123456789ab ("a long\n  subject")\nCc: x@example.com\n'
    assert lines(commit_trailers(message)) == [
        'Fixes: 0123456789ab ("a long subject")',
        "Cc: x@example.com",
    ]


def test_paragraph_with_signed_off_by_needs_a_quarter_of_trailer_lines():
    ok = f"subject\n\none\ntwo\nthree\n{SOB}\n"
    too_few = f"subject\n\none\ntwo\nthree\nfour\n{SOB}\n"
    assert lines(commit_trailers(ok)) == [SOB]
    assert commit_trailers(too_few) == []


def test_paragraph_mixing_text_and_unknown_trailers_is_not_a_block():
    assert commit_trailers("subject\n\nSee the docs\nRef: #123\n") == []


def test_cherry_pick_line_counts_for_the_block_but_is_not_output():
    message = (
        "subject\n\nsome text\nCo-authored-by: B <b@example.com>\n"
        f"{SOB}\n(cherry picked from commit abc)\n"
    )
    assert lines(commit_trailers(message)) == ["Co-authored-by: B <b@example.com>", SOB]


def test_patch_divider_ends_the_message():
    message = f"subject\n\n{SOB}\n--- \nTested-by: T <t@example.com>\n"
    assert lines(commit_trailers(message)) == [SOB]


def test_trailing_comments_and_blank_lines_are_ignored():
    message = f"subject\n\n{SOB}\n\n# Please enter the commit message\n\n"
    assert lines(commit_trailers(message)) == [SOB]


def test_space_before_colon_is_accepted_and_value_trimmed():
    assert lines(commit_trailers("s\n\nAcked-by :   A <a@example.com>  \n")) == [
        "Acked-by: A <a@example.com>"
    ]


def test_known_names_get_canonical_spelling_others_stay_as_written():
    message = "s\n\nreviewed-BY: R <r@example.com>\nCo-Authored-By: C <c@example.com>\n"
    assert lines(commit_trailers(message)) == [
        "Reviewed-by: R <r@example.com>",
        "Co-Authored-By: C <c@example.com>",
    ]


# --- Trailer ---------------------------------------------------------------------------------


def test_trailer_email_is_the_bracketed_or_bare_address_lower_cased():
    assert Trailer("Acked-by", "Ann <Ann@Example.COM>").email == "ann@example.com"
    assert Trailer("Tested-by", "t.b@Example.org").email == "t.b@example.org"
    assert Trailer("Acked-by", "Ann Author").email is None


def test_non_person_trailers_have_no_email():
    assert Trailer("Link", "https://example.com/r/123@example.com").email is None
    assert Trailer("Fixes", 'abc123 ("x@y.z")').email is None


def test_trailer_line_is_canonical_name_and_stripped_value():
    assert (
        Trailer("signed-off-by", "  A <a@example.com> ").line == "Signed-off-by: A <a@example.com>"
    )


# --- followup_trailers -----------------------------------------------------------------------


def test_unquoted_trailer_in_reply_counts():
    body = "Looks good.\n\nReviewed-by: Rob Reviewer <rob@example.org>\n"
    assert lines(followup_trailers(body)) == [RB.line]


def test_quoted_trailer_ignored():
    body = f"On Mon, Ann wrote:\n> {SOB}\n>Acked-by: Al <al@example.com>\n\nThanks.\n"
    assert followup_trailers(body) == []


def test_signature_ignored():
    body = "Fine by me.\n\n-- \nTested-by: Sig Nature <sig@example.com>\n"
    assert followup_trailers(body) == []


def test_wrapped_address_joined():
    body = "Reviewed-by: Rob Reviewer\n<rob@example.org>\n"
    assert lines(followup_trailers(body)) == [RB.line]


def test_wrapped_fixes_subject_joined():
    body = 'Fixes: 0123456789ab ("make the frobnicator\nfaster")\n'
    assert lines(followup_trailers(body)) == ['Fixes: 0123456789ab ("make the frobnicator faster")']


def test_person_trailer_without_address_ignored():
    assert followup_trailers("Reviewed-by: Rob Reviewer\n\nThanks\n") == []


def test_fixes_without_address_kept():
    assert lines(followup_trailers('Fixes: 0123456789ab ("frob")\n')) == [
        'Fixes: 0123456789ab ("frob")'
    ]


def test_link_keeps_its_url_but_a_person_trailer_with_a_url_is_ignored():
    body = (
        "Link: https://lore.example.org/r/1@example.org\n"
        "Tested-by: CI <ci@example.org> https://ci.example.org/1\n"
    )
    assert lines(followup_trailers(body)) == ["Link: https://lore.example.org/r/1@example.org"]


def test_phone_email_and_header_lines_ignored():
    body = (
        "From: Rob <rob@example.org>\nSubject: Re: x@example.org\nDate: today x@e.org\n"
        "Email: rob@example.org\nPhone: +1 555 rob@example.org\nCc: cc@example.org\n"
    )
    assert followup_trailers(body) == []


def test_name_without_hyphen_ignored_unless_known():
    body = "Note: mail me at rob@example.org\nCloses: https://bugs.example.org/1\n"
    assert lines(followup_trailers(body)) == ["Closes: https://bugs.example.org/1"]


def test_non_ascii_trailer_name_ignored():
    assert followup_trailers("Geprüft-von: Rob <rob@example.org>\n") == []


def test_indented_trailer_and_crlf_body_count():
    body = "Thanks!\r\n\r\n  Acked-by: Al <al@example.com>\r\n"
    assert lines(followup_trailers(body)) == ["Acked-by: Al <al@example.com>"]


# --- mismatched ------------------------------------------------------------------------------


def test_mismatch_detected_when_trailer_names_another_address():
    assert mismatched(RB, "Eve <eve@example.org>")
    assert not mismatched(RB, "ROB@EXAMPLE.ORG")
    assert not mismatched(RB, "Rob Reviewer <Rob@Example.org>")


def test_non_person_trailer_never_mismatched():
    assert not mismatched(Trailer("Fixes", '0123456789ab ("x")'), "eve@example.org")


# --- add_trailers ----------------------------------------------------------------------------


def test_add_trailers_appends_to_the_existing_block():
    message = f"subject\n\nWhy.\n\n{SOB}\n"
    assert add_trailers(message, [RB]) == f"subject\n\nWhy.\n\n{SOB}\n{RB.line}\n"


def test_add_trailers_starts_a_block_after_a_blank_line():
    assert add_trailers("subject\n\nWhy.\n", [RB]) == f"subject\n\nWhy.\n\n{RB.line}\n"
    assert add_trailers("subject", [RB]) == f"subject\n\n{RB.line}"


def test_add_trailers_keeps_what_follows_the_block():
    message = f"subject\n\n{SOB}\n\n# a comment\n---\n v2: nothing\n"
    assert add_trailers(message, [RB]) == (
        f"subject\n\n{SOB}\n{RB.line}\n\n# a comment\n---\n v2: nothing\n"
    )


def test_add_trailers_keeps_missing_final_newline():
    assert add_trailers(f"s\n\n{SOB}", [RB]) == f"s\n\n{SOB}\n{RB.line}"


def test_add_trailers_skips_present_same_name_case_insensitive():
    message = f"s\n\n{SOB}\nreviewed-by: Rob Reviewer <rob@example.org>\n"
    assert add_trailers(message, [RB]) == message
    assert add_trailers(message, [Trailer("signed-off-by", "Ann Author <ann@example.com>")]) == (
        message
    )


def test_add_trailers_idempotent():
    for message in ("s\n", "s\n\nbody\n", f"s\n\n{SOB}", f"s\n\n{SOB}\n\n\n", ""):
        once = add_trailers(message, [RB, RB])
        assert add_trailers(once, [RB]) == once
        assert lines(commit_trailers(once))[-1] == RB.line


def test_add_trailers_with_nothing_new_returns_the_message_unchanged():
    assert add_trailers("s\n\nbody  \n\n", []) == "s\n\nbody  \n\n"


# --- never raise -----------------------------------------------------------------------------


def test_functions_never_raise_on_odd_input():
    rng = random.Random(7)
    alphabet = "ab:- \t\n\r>#<@.()[]\0\x0bé中\ud800-->8"
    samples = ["", "\n", "---", "-- \n", "\0", None]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(60))) for _ in range(500)]
    for sample in samples:
        for found in (commit_trailers(sample), followup_trailers(sample)):  # type: ignore[arg-type]
            assert isinstance(found, list)
        out = add_trailers(sample, [RB])  # type: ignore[arg-type]
        assert out is sample or isinstance(out, str)
        mismatched(RB, sample)  # type: ignore[arg-type]


# --- real git as the judge ---------------------------------------------------------------------

EDGE_CASES = [
    "",
    "\n",
    "subject",
    "subject\n",
    f"subject\n\n{SOB}",
    f"subject\n\n{SOB}\n\n",
    f"\n{SOB}\n",
    f"\n\n\n{SOB}\n",
    f"# comment\n{SOB}\n",
    f"# comment\n\n{SOB}\n",
    f"subject\n# c\n\n{SOB}\n# inner comment\nAcked-by: A <a@e.com>\n",
    f"subject\n\n{SOB}\n   \n",
    f"subject\n\n{SOB}\n  continued\n\tmore\n",
    "subject\n\n  indented: first\nKey: v\n",
    "subject\n\nKey: v\n  cont\n\n  \nOther: w\n",
    "subject\n\nKey:\nKey2:  \n",
    "subject\n\nKey:value:more\n",
    "subject\n\nKey : v\nKey\t: w\nBad Key: x\n",
    "subject\n\n-: dash\n--: dashes\n1: one\n",
    "subject\n\nhttps://example.com/x\nLink: https://example.com\n",
    "subject\n\nÜber-by: x\nOK-by: y\n",
    f"subject\n\ntext\n{SOB}\n",
    f"subject\n\na\nb\nc\n{SOB}\n",
    f"subject\n\na\nb\nc\nd\n{SOB}\n",
    f"subject\n\na\n  b\n  c\n{SOB}\n",
    "subject\n\n(cherry picked from commit 1234)\n",
    "subject\n\ntext\n(cherry picked from commit 1234)\nKey: v\n",
    f"subject\n\nSigned-off-by:{SOB[14:]}\ntext\n",
    f"subject\n\n{SOB}\n---\nTested-by: x\n",
    f"subject\n\n{SOB}\n---x\nTested-by: x <x@e.com>\n",
    f"subject\n\n{SOB}\n--- \n",
    f"subject\n\n{SOB}\n---",
    f"subject\n\n{SOB}\nConflicts:\n\ta.c\n\tb.c\n",
    f"subject\n\n{SOB}\n\nConflicts:\n\ta.c\n",
    f"subject\n\n{SOB}\n# ------------------------ >8 ------------------------\nKey: v\n",
    f"# ------------------------ >8 ------------------------\n{SOB}\n",
    f"subject\r\n\r\n{SOB}\r\nAcked-by: A\r\n  wrapped\r\n",
    "subject\n\nKey: v\x0b\nKey2: \x0cw\n",
    "subject\n\nKey: a\u00a0\nKey2: b\u2003\n",
]


def _git_parse(message: str, home: Path) -> list[tuple[str, str]]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message.encode(),
        capture_output=True,
        cwd=home,
        env=env,
        timeout=20,
        check=True,
    ).stdout.decode()
    pairs = []
    for line in out.split("\n")[:-1]:
        token, _, value = line.partition(":")
        pairs.append((token.lower(), value.removeprefix(" ")))
    return pairs


def _ours(message: str) -> list[tuple[str, str]]:
    return [(t.name.lower(), t.value) for t in commit_trailers(message)]


def _random_token_line(rng: random.Random) -> str:
    token = rng.choice(["Key", "Co-authored-by", "a-b-1", "X"])
    before, after = rng.choice(["", " ", "\t"]), rng.choice(["", " ", "  "])
    return f"{token}{before}:{after}{rng.choice(['v', 'w x', ''])}"


def _random_message(rng: random.Random) -> str:
    """A commit message built from the line shapes that steer git's trailer rules."""
    shapes = [
        lambda: "",
        lambda: "  ",
        lambda: "Plain prose line here",
        lambda: "Two words: then a colon",
        lambda: SOB,
        lambda: "Signed-off-by:no-space <x@e.com>",
        lambda: "Reviewed-by: R <r@example.org>",
        lambda: _random_token_line(rng),
        lambda: rng.choice([" ", "\t", "   "]) + "continued text",
        lambda: "# a comment line",
        lambda: "(cherry picked from commit 0123abcd)",
        lambda: rng.choice(["---", "--- ", "---x", "----"]),
        lambda: "Conflicts:",
        lambda: "\tpath/in/conflict.c",
        lambda: "https://example.org/x",
        lambda: "Clé: valeur",
    ]
    out = ["A subject line"] if rng.random() < 0.8 else []
    for _ in range(rng.randrange(1, 12)):
        out.append(rng.choice(shapes)())
    text = "\n".join(out)
    return text + "\n" if rng.random() < 0.8 else text


def _corpus_commit_messages(size: str) -> list[tuple[dict, str]]:
    """(truth, commit message) for each patch: the body up to `---`, in-body headers dropped."""
    out = []
    for meta, raw in zip(truth(size)["messages"], generated_messages(size), strict=True):
        if meta["kind"] != "patch":
            continue
        body_lines = parse_message(raw).body.split("\n")
        if "---" in body_lines:
            body_lines = body_lines[: body_lines.index("---")]
        if meta.get("in_body_from"):  # `From:`/`Date:`/`Subject:` then one blank line
            i = 0
            while i < len(body_lines) and re.match(r"(From|Date|Subject): ", body_lines[i]):
                i += 1
            if i and i < len(body_lines) and body_lines[i] == "":
                i += 1
            body_lines = body_lines[i:]
        out.append((meta, "\n".join(body_lines)))
    return out


@pytest.mark.slow
def test_commit_trailers_agree_with_git_interpret_trailers(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    rng = random.Random(1)
    messages = EDGE_CASES + [_random_message(rng) for _ in range(400)]
    messages += sorted({m for _, m in _corpus_commit_messages("small")})[:300]
    differ = [m for m in messages if _ours(m) != _git_parse(m, tmp_path)]
    assert not differ, f"{len(differ)} of {len(messages)} differ from git, first: {differ[0]!r}"


def _cut_divider(message: str) -> str:
    """Drop an unterminated `---` closing the message: git keeps it as text, our callers cut
    the message there."""
    return message[:-3] if message == "---" or message.endswith("\n---") else message


@pytest.mark.slow
def test_added_trailers_are_read_back_by_git(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    rng = random.Random(2)
    new = [RB, Trailer("Acked-by", "Al <al@example.com>")]
    messages = EDGE_CASES + [_random_message(rng) for _ in range(300)]
    differ = []
    for message in messages:
        before = _ours(_cut_divider(message))
        expected = before + [
            (t.name.lower(), t.value) for t in new if (t.name.lower(), t.value) not in before
        ]
        if _git_parse(_cut_divider(add_trailers(message, new)), tmp_path) != expected:
            differ.append(message)
    assert not differ, f"{len(differ)} of {len(messages)} differ, first: {differ[0]!r}"


# --- the generated corpus's ground truth ----------------------------------------------------


def test_reply_trailers_match_corpus_truth():
    replies = [
        (meta, raw)
        for meta, raw in zip(truth("small")["messages"], generated_messages("small"), strict=True)
        if meta["kind"] == "reply"
    ]
    assert replies
    assert any(meta["quotes_trailers"] for meta, _ in replies)
    wrong = [
        meta["message_id"]
        for meta, raw in replies
        if lines(followup_trailers(parse_message(raw).body)) != meta["trailers_given"]
    ]
    assert wrong == [], f"{len(wrong)} of {len(replies)} replies differ"


def test_patch_body_trailers_match_corpus_truth():
    patches = _corpus_commit_messages("small")
    assert patches
    wrong = [
        meta["message_id"]
        for meta, message in patches
        if lines(commit_trailers(message)) != [t["trailer"] for t in meta["body_trailers"]]
    ]
    assert wrong == [], f"{len(wrong)} of {len(patches)} patches differ"


def test_series_links_in_a_reply_are_not_trailers():
    body = (
        "Looks right.\n\nBased-on: <base@example.com>\nSupersedes: <old@example.com>\n"
        "Depends-on: <dep@example.com>\nObsoletes: <older@example.com>\n"
        "Acked-by: Al <al@example.com>\n"
    )
    assert lines(followup_trailers(body)) == ["Acked-by: Al <al@example.com>"]
