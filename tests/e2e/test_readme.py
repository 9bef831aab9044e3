"""The README's commands, read from the README and run as printed against a real
`mailyard serve`: the quick start, the `git config sendemail.*` lines for both ports
(with real `git send-email`, Cc'ing the commits' author and a Signed-off-by), and the
b4 lines (with real `b4 am -c`). Only the ports differ (the test's own, free ones), and
`.venv/bin/mailyard` is this checkout's command."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.models import Message, MessageStatus
from core.db import new_session
from tests.e2e.test_mail_in_archive_out import git_has_send_email
from tests.served import ServedMailyard

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
LIST = "dev@lists.localhost"
AUTHOR = "Ann Author <ann@example.net>"  # wrote a commit: git Cc's her
SIGNER = "Bob Maintainer <bob@example.net>"  # in a Signed-off-by: git Cc's him too
needs_send_email = pytest.mark.skipif(
    not git_has_send_email(), reason="git send-email missing (apt-get install git-email)"
)


def readme_blocks() -> list[str]:
    """Every ```sh block of the README, its continued lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    return [block.replace("\\\n", " ") for block in blocks]


def readme_block(containing: str) -> str:
    [block] = [b for b in readme_blocks() if containing in b]
    return block


@pytest.fixture
def served_readme(relay_settings, broker_url):
    """`mailyard serve` with no list yet, at the README's domain, relaying to the sink."""
    if broker_url:
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    server = ServedMailyard(replace(relay_settings, domain="lists.localhost")).start()
    yield server
    server.stop()
    if server.process and server.process.poll() is None:
        server.kill()


def on_our_ports(served: ServedMailyard, command: str) -> str:
    ports = {"2525": served.smtp_port, "2587": served.submission_port, "8080": served.http_port}
    return re.sub(r"\b(2525|2587|8080)\b", lambda m: str(ports[m.group(1)]), command)


@pytest.fixture
def workdir(tmp_path, served_readme) -> Path:
    """A repository of three commits (one by another author, one signed off by a third
    person), with `.venv/bin/mailyard` running this checkout's command."""
    repo = tmp_path / "work"
    repo.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    mailyard = bin_dir / "mailyard"
    mailyard.write_text(f'#!/bin/sh\nexec {sys.executable} -m mailyard.cli "$@"\n')
    mailyard.chmod(mailyard.stat().st_mode | stat.S_IEXEC)
    editor = home / "editor"
    # What a person does in --annotate: give the cover letter a subject and a blurb.
    editor.write_text(
        "#!/bin/sh\nsed -i -e 's/[*][*][*] SUBJECT HERE [*][*][*]/Three files/'"
        " -e 's/[*][*][*] BLURB HERE [*][*][*]/Three files, one per patch./' \"$@\"\n"
    )
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    run(
        served_readme,
        repo,
        "git init -q -b main && git config user.name You"
        " && git config user.email you@example.org && echo hi > README"
        " && git add README && git commit -q -m Initial",
    )
    for i, extra in ((1, f"--author='{AUTHOR}'"), (2, ""), (3, "")):
        trailer = f" -m 'Signed-off-by: {SIGNER}'" if i == 2 else ""
        run(
            served_readme,
            repo,
            f"echo {i} > file{i}.txt && git add file{i}.txt"
            f" && git commit -q {extra} -m 'Add file {i}'{trailer}",
        )
    return repo


def run(served: ServedMailyard, cwd: Path, script: str) -> str:
    """`script` in bash, as a person would type it in `cwd` (no terminal: git takes its
    defaults), with the served instance's settings in the environment."""
    home = cwd.parent / "home"
    env = dict(
        served.env,
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_EDITOR=str(home / "editor"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
        PATH=os.environ["PATH"],
    )
    result = subprocess.run(
        ["bash", "-e", "-c", on_our_ports(served, script)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        start_new_session=True,  # no controlling terminal
    )
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def archived_subjects(settings) -> list[str]:
    with new_session(settings) as s:
        return sorted(
            s.scalars(select(Message.subject).where(Message.status == MessageStatus.archived))
        )


SERIES = [
    "[PATCH 0/3] Three files",
    "[PATCH 1/3] Add file 1",
    "[PATCH 2/3] Add file 2",
    "[PATCH 3/3] Add file 3",
]


@needs_send_email
@pytest.mark.skipif(not shutil.which("swaks"), reason="swaks is not installed")
def test_the_quick_start_works_as_printed(served_readme, workdir, settings):
    block = readme_block("swaks")
    assert "git send-email" in block and "list create dev" in block
    run(served_readme, workdir, block)
    want = sorted(["hello", *SERIES])
    served_readme.wait_until(
        lambda: archived_subjects(settings) == want, what="the post and the series archived"
    )


@needs_send_email
def test_the_readme_sendemail_lines_for_the_intake_port_send_a_series_to_the_list(
    served_readme, workdir, settings
):
    run(served_readme, workdir, ".venv/bin/mailyard list create dev --owner you@example.org")
    run(served_readme, workdir, readme_block("smtpServerPort 2525"))
    run(served_readme, workdir, "git send-email --cover-letter --annotate -3")
    served_readme.wait_until(
        lambda: archived_subjects(settings) == SERIES, what="the series archived"
    )


@needs_send_email
def test_git_send_email_over_submission_posts_to_the_list_and_relays_the_ccs(
    served_readme, workdir, settings, sink
):
    assert f"submission on 127.0.0.1:{served_readme.submission_port}" in served_readme.log()
    run(served_readme, workdir, ".venv/bin/mailyard list create dev --owner you@example.org")
    block = readme_block("smtpServerPort 2587")
    assert "smtpUser you" in block and "user token you" in block
    run(served_readme, workdir, block)
    served_readme.wait_until(
        lambda: archived_subjects(settings) == SERIES, what="the series archived"
    )

    def relayed() -> dict[str, list[bytes]]:
        got: dict[str, list[bytes]] = {}
        for received in sink.received:
            assert received.mail_from == "you@example.org"
            for rcpt in received.rcpt_tos:
                got.setdefault(rcpt, []).append(received.content)
        return got

    # Each commit's Cc went through the outbox: Ann wrote patch 1, Bob signed patch 2.
    copies = served_readme.wait_until(
        lambda: (got := relayed()).get("ann@example.net") and got.get("bob@example.net") and got,
        what="the Cc'd copies relayed",
    )
    assert LIST not in copies  # the list's own copy was a post, not a relayed one
    assert [b"Subject: [PATCH 1/3] Add file 1" in c for c in copies["ann@example.net"]] == [True]
    assert [b"Subject: [PATCH 2/3] Add file 2" in c for c in copies["bob@example.net"]] == [True]


@needs_send_email
@pytest.mark.skipif(not shutil.which("b4"), reason="b4 is not installed (apt-get install b4)")
def test_the_readme_b4_lines_fetch_the_series_and_check_for_newer_versions_here(
    served_readme, workdir, settings
):
    run(served_readme, workdir, ".venv/bin/mailyard list create dev --owner you@example.org")
    run(served_readme, workdir, readme_block("smtpServerPort 2525"))
    run(served_readme, workdir, "git send-email --cover-letter --annotate -3")
    served_readme.wait_until(
        lambda: archived_subjects(settings) == SERIES, what="the series archived"
    )
    with new_session(settings) as s:
        cover = s.scalar(select(Message.message_id).where(Message.subject == SERIES[0]))
    block = readme_block("b4.midmask")
    assert all(f"b4.{mask}" in block for mask in ("midmask", "linkmask", "searchmask"))
    output = run(served_readme, workdir, block.replace("MSGID", cover))
    assert "lore.kernel.org" not in output
    assert f"127.0.0.1:{served_readme.http_port}" in output  # where it looked for newer ones
    [mbox] = workdir.glob("*.mbx")
    assert (
        mbox.read_text().count("\nSubject: [PATCH") + mbox.read_text().startswith("Subject: [PATCH")
        == 3
    )


COPY_SELF = "the author gets a copy of their own post like every subscriber"


def test_the_readme_says_what_the_default_subscription_does_the_author_gets_a_copy(
    served_readme, workdir, settings, sink
):
    readme = " ".join(README.read_text().split())
    assert COPY_SELF in readme and "unless subscribed with `--no-copy-self`" in readme
    run(served_readme, workdir, ".venv/bin/mailyard list create dev --owner you@example.org")
    run(served_readme, workdir, ".venv/bin/mailyard list subscribe dev you@example.org")
    run(
        served_readme,
        workdir,
        "swaks --server 127.0.0.1:2525 --to dev@lists.localhost --from you@example.org"
        " --header 'Subject: my own post' --body 'first post'",
    )
    [copy] = served_readme.wait_until(
        lambda: [r for r in sink.received if r.rcpt_tos == ["you@example.org"]],
        what="the author's copy",
    )
    assert b"Subject: my own post" in copy.content


def test_the_readme_git_over_http_lines_clone_and_push(served_readme, workdir, settings):
    """The 'Git over HTTP' block, as printed, with a real token where it shows `my_...`:
    the clone of a new repository, then the push of a commit made in it."""
    clone, push = [line for line in readme_block("~ada/tool").splitlines() if line.strip()]
    run(served_readme, workdir, ".venv/bin/mailyard user create ada ada@example.org")
    run(served_readme, workdir, ".venv/bin/mailyard repo create ~ada/tool")
    token = run(served_readme, workdir, ".venv/bin/mailyard user token ada --name git")
    token = token.strip().splitlines()[-1]
    assert "my_..." in push and token.startswith("my_")
    run(served_readme, workdir, clone)
    tool = workdir / "tool"
    run(
        served_readme,
        tool,
        "echo tool > tool.txt && git add tool.txt"
        " && git -c user.name=You -c user.email=you@example.org commit -qm Tool",
    )
    run(served_readme, tool, push.replace("my_...", token))
    head = run(served_readme, tool, "git rev-parse HEAD").strip()
    remote = run(served_readme, workdir, f"git ls-remote {clone.split()[-1]} main")
    assert remote.split()[0] == head
