"""The shared rule of signed commands (`mail.signed_commands`) alone: names count as whole
words, the signed text is read as the signature sees it, and a text acts once."""

from __future__ import annotations

import pytest

from mail.pgp import signed_text
from mail.signed_commands import SignedCommandRefused, names_target, use_signed_command
from tests.accounts.helpers import pgp_signer


def test_a_name_counts_only_as_a_whole_word():
    assert names_target("!resolve fixed\nbugs#1\n", ["bugs#1"])
    assert not names_target("!resolve fixed\nbugs#12\n", ["bugs#1"])
    assert not names_target("see xbugs#1", ["bugs#1"])
    assert names_target("at <https://h/dev/patches/4/>", ["https://h/dev/patches/4/"])
    assert names_target("at https://h/dev/patches/4 thanks", ["https://h/dev/patches/4/"])
    assert not names_target("https://h/dev/patches/42/", ["https://h/dev/patches/4/"])
    assert names_target("see https://h/dev/patches/4/.", ["https://h/dev/patches/4/"])
    assert names_target("Fixes bugs#1.", ["bugs#1"])
    assert not names_target("a@b.example.org", ["a@b.example"])
    assert names_target("In reply to <a@b.example>", ["<a@b.example>"])
    assert not names_target("<xa@b.example>", ["a@b.example"])


def test_the_signed_text_ignores_what_the_signature_ignores():
    with pgp_signer("sig@example.org") as (_, clearsign):
        block = clearsign("- dashed line\n!status approved   \nend\n")
    raw = b"From: sig@example.org\r\nSubject: x\r\n\r\n" + block.encode()
    assert signed_text(raw) == "- dashed line\n!status approved\nend"
    # trailing blanks added after signing change nothing a reader or the hash sees
    padded = raw.replace(b"end\n", b"end  \t\n")
    assert signed_text(padded) == signed_text(raw)
    assert signed_text(b"From: a@b\r\n\r\nnot signed\r\n") is None


def test_a_signed_text_acts_once(session):
    use_signed_command(
        session, "!resolve\nbugs#1", ["bugs#1"], purpose="t", target="t", how_to_name=""
    )
    with pytest.raises(SignedCommandRefused, match="already been used once"):
        use_signed_command(
            session, "!resolve\nbugs#1", ["bugs#1"], purpose="t", target="t", how_to_name=""
        )
    with pytest.raises(SignedCommandRefused, match="must name what it acts on"):
        use_signed_command(session, "!resolve", ["bugs#1"], purpose="t", target="t", how_to_name="")
