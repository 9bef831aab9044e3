"""patchsets.pull against Patchwork's pull request mails, the generated archive and
hand-made request-pull texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.parse import parse_message
from patchsets.diff import split_patch
from patchsets.pull import PullRequest, parse_pull_request
from tests.corpus import generated_messages, require_corpus, truth

KERNEL = "git.kernel.org/pub/scm/linux/kernel/git"
POWERPC = f"{KERNEL}/benh/powerpc.git"

# Every Patchwork mail that is a pull request, with what it asks to pull (read by hand;
# Patchwork's tests assert the URL of 0003, 0023 and 0024 and "not None" for the others).
PULLS = {
    "0001-git-pull-request.mbox": PullRequest(f"git://{POWERPC}", "next"),
    "0002-git-pull-request-wrapped.mbox": PullRequest(f"git://{POWERPC}", "next"),
    "0003-git-pull-request-with-diff.mbox": PullRequest(
        f"git://{KERNEL}/tip/linux-2.6-tip.git", "x86-fixes-for-linus"
    ),
    "0004-git-pull-request-git+ssh.mbox": PullRequest(f"git+ssh://{POWERPC}", "next"),
    "0005-git-pull-request-ssh.mbox": PullRequest(f"ssh://{POWERPC}", "next"),
    "0006-git-pull-request-http.mbox": PullRequest(f"http://{POWERPC}", "next"),
    "0017-git-pull-request-git-2-14-3.mbox": PullRequest(f"git://{KERNEL}/davem/net", None),
    "0023-git-pull-request-newline-in-url.mbox": PullRequest(
        f"https://{KERNEL}/matthias.bgg/linux.git/", "tags/v5.4-next-soc"
    ),
    "0024-git-pull-request-trailing-space.mbox": PullRequest(
        f"git://{KERNEL}/nsekhar/linux-davinci.git", "tags/davinci-for-v5.6/soc"
    ),
}


def mail_message(name: str) -> str:
    """The message part (the body without its diff) of a Patchwork mail, as Patchwork
    hands it to parse_pull_request."""
    raw = (require_corpus() / "patchwork" / "mail" / name).read_bytes()
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]
    message, _diff = split_patch(parse_message(raw).body)
    return message


@pytest.mark.parametrize("name", sorted(PULLS))
def test_pull_request_mails_give_their_url_and_ref(name: str) -> None:
    assert parse_pull_request(mail_message(name)) == PULLS[name]


def test_patchwork_style_joins_url_and_ref() -> None:
    pull = PULLS["0023-git-pull-request-newline-in-url.mbox"]
    assert pull.patchwork_style == (
        "https://git.kernel.org/pub/scm/linux/kernel/git/matthias.bgg/linux.git/ tags/v5.4-next-soc"
    )
    assert PULLS["0017-git-pull-request-git-2-14-3.mbox"].patchwork_style == (
        "git://git.kernel.org/pub/scm/linux/kernel/git/davem/net"
    )


def test_other_patchwork_mails_are_not_pull_requests() -> None:
    for path in sorted((require_corpus() / "patchwork" / "mail").iterdir()):
        if path.name not in PULLS:
            assert parse_pull_request(mail_message(path.name)) is None, path.name


def test_generated_pull_requests_give_truths_url_and_ref() -> None:
    messages = truth("small")["messages"]
    pulls = 0
    for m, raw in zip(messages, generated_messages("small"), strict=True):
        found = parse_pull_request(parse_message(raw).body)
        if m["kind"] == "pull":
            pulls += 1
            assert found is not None, m["message_id"]
            assert (found.url, found.ref) == (m["pull_url"], m["pull_ref"]), m["message_id"]
            assert found.patchwork_style == m["pull_url_patchwork_style"]
        else:
            assert found is None, m["message_id"]
    assert pulls > 0


REQUEST = """\
The following changes since commit 40a1713d42187732d0095dd1623b1424fb2bc489:

  docs: update example (2025-06-17 21:11:07 +0000)

are available in the Git repository at:

  {location}

for you to fetch changes up to a1934ae1dddda62177ce173e62ff13f715a1f875:
"""


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (
            "git@github.com:ann/pytest.git fix-1",
            PullRequest("git@github.com:ann/pytest.git", "fix-1"),
        ),
        ("https://example.org/r.git", PullRequest("https://example.org/r.git", None)),
        (
            "https://example.org/r.git \\\n  tags/v1",
            PullRequest("https://example.org/r.git", "tags/v1"),
        ),
        ("file:///srv/git/r.git main", PullRequest("file:///srv/git/r.git", "main")),
        ("not a url here", None),
    ],
)
def test_request_pull_locations(location: str, expected: PullRequest | None) -> None:
    assert parse_pull_request(REQUEST.format(location=location)) == expected


def test_old_git_said_found_and_had_no_blank_line() -> None:
    body = "are found in the git repository at:\n  git://example.org/r.git master\n"
    assert parse_pull_request(body) == PullRequest("git://example.org/r.git", "master")


def test_a_quoted_pull_request_is_not_one() -> None:
    quoted = "".join(
        "> " + line + "\n" for line in REQUEST.format(location="git://e.org/r x").split("\n")
    )
    assert parse_pull_request("Ann wrote:\n" + quoted + "\nPulled, thanks.\n") is None


def test_the_next_section_is_not_taken_for_a_wrapped_ref() -> None:
    body = "are available in the Git repository at:\n\n  git://e.org/r.git\n----------------\n"
    assert parse_pull_request(body) == PullRequest("git://e.org/r.git", None)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "\n",
        "are available in the git repository at:",
        "are available in the git repository at:\n\n\n\n",
        "\x00\r\n" * 10,
    ],
)
def test_odd_bodies_are_no_pull_request(body: str) -> None:
    assert parse_pull_request(body) is None


def test_fuzz_mails_never_raise() -> None:
    for path in sorted((require_corpus() / "patchwork" / "fuzz").iterdir()):
        raw = Path(path).read_bytes()
        parse_pull_request(parse_message(raw).body)
