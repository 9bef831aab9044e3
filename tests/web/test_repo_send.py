"""Sending a series from a repository's pages: the form filled from the branch and the
linked list, the preview of the exact mails, sending, and then `b4 am` of what the list
archived (from a live server) reproducing the branch's tree with its author kept; the
next version answering the first; refusals that keep what was typed."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest
from sqlalchemy import select

from mail.models import OutboxMessage
from patchsets.models import Patchset, SentSeries
from tests.accounts.helpers import post_form, sign_in_user
from tests.patchsets.test_send_series import branch  # noqa: F401  (the fixture)
from tests.repos.helpers import git
from tests.web.test_b4 import live_server, run_b4  # noqa: F401  (a fixture)

FORM = "/~mia/tool/send-email"


def test_the_log_of_a_branch_links_to_the_form_which_is_filled_in(client, branch) -> None:  # noqa: F811
    assert "send-email" not in client.get("/~mia/tool/log/spell").get_data(as_text=True)
    assert client.get(FORM).status_code == 403  # anonymous
    sign_in_user(client, branch["zoe"])
    log = client.get("/~mia/tool/log/spell").get_data(as_text=True)
    assert 'href="/~mia/tool/send-email?branch=spell"' in log
    page = client.get(f"{FORM}?branch=spell").get_data(as_text=True)
    base = git(branch["tree"], "rev-parse", "main").stdout.strip()
    assert f'value="{base}"' in page and 'value="dev@lists.example.org"' in page
    assert page.count('name="note-') == 2 and "spell fifteen" in page and "add new.txt" in page
    assert client.get(f"{FORM}?branch=nope").status_code == 404
    assert client.get("/~mia/nope/send-email").status_code == 404


def test_preview_send_and_b4_am_of_what_the_list_archived(
    client,
    session,
    settings,
    branch,  # noqa: F811
    live_server,  # noqa: F811
    tmp_path,
) -> None:
    sign_in_user(client, branch["zoe"])
    fields = {
        "branch": "spell",
        "base": "main",
        "to": "dev@lists.example.org",
        "cc": "kim@outside.net",
        "version": "1",
        "prefix": "PATCH",
        "cover_subject": "Spell it out",
        "cover_body": "Two small changes.",
    }
    preview = post_form(client, FORM, action="preview", **fields)
    page = html.unescape(preview.get_data(as_text=True))
    assert preview.status_code == 200 and "Send 3 mails" in page
    assert "Subject: [PATCH 1/2] add new.txt" in page and "base-commit: " in page
    assert f"From: zoe via Mailyard <noreply@{settings.domain}>" in page
    assert "From: Ann =?utf-8?q?=C3=85uthor?=" in page or "From: Ann Åuthor" in page
    assert session.scalars(select(SentSeries)).all() == []  # a preview sends nothing

    sent = post_form(client, FORM, action="send", **fields)
    assert sent.status_code == 303, sent.get_data(as_text=True)
    report = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "archived on" in report and "kim@outside.net</span>: on its way" in report
    record = session.scalars(select(SentSeries)).one()
    assert len(record.message_ids) == 3
    relayed = session.scalars(select(OutboxMessage.recipients)).all()
    assert relayed.count(["kim@outside.net"]) == 3

    # What the list archived is a series like any other; b4 fetches it and git am gives
    # the branch's tree back, by Ann.
    patchset = session.scalars(select(Patchset)).one()
    assert patchset.total == 2 and patchset.first_message_id == record.message_ids[0]
    if shutil.which("b4") is None:
        pytest.skip("b4 not installed")
    (tmp_path / "out").mkdir()
    result = run_b4(tmp_path, live_server + "/dev/%s", "am", "-o", str(tmp_path / "out"),
                    record.message_ids[0])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    mbx = next((tmp_path / "out").glob("*.mbx"))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "-b", "main", str(branch["bare"]), str(clone))
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=M", "-c", "user.email=m@x",
                    "am", "-q", str(mbx)], check=True)  # fmt: skip
    tree_of = git(clone, "rev-parse", "HEAD^{tree}").stdout
    assert tree_of == git(branch["tree"], "rev-parse", "spell^{tree}").stdout
    assert git(clone, "log", "-1", "--format=%an <%ae>").stdout.strip() == (
        "Ann Åuthor <ann@elsewhere.org>"
    )

    # The next version: the form proposes v2; sending v1 again is refused.
    again = client.get(f"{FORM}?branch=spell").get_data(as_text=True)
    assert re.search(r'name="version"[^>]*value="2"', again)
    assert 'value="Spell it out"' in again
    refused = post_form(client, FORM, action="send", **fields)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "send this one as v2" in page
    assert 'value="kim@outside.net"' in page and "Two small changes." in page


def test_a_refused_form_keeps_what_was_typed(client, branch) -> None:  # noqa: F811
    sign_in_user(client, branch["zoe"])
    refused = post_form(client, FORM, action="preview", branch="spell", base="nope",
                        to="not an address", cover_subject="Spell", cover_body="Kept.")  # fmt: skip
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "No commit &#39;nope&#39;" in page
    assert 'value="not an address"' in page and "Kept." in page
    bad = post_form(client, FORM, action="preview", branch="spell", base="main",
                    to="not an address", cover_subject="Spell")  # fmt: skip
    assert bad.status_code == 400 and "To: invalid address" in bad.get_data(as_text=True)
    version = post_form(client, FORM, action="preview", branch="spell", base="main",
                        to="dev@lists.example.org", version="two")  # fmt: skip
    assert version.status_code == 400 and "not &#39;two&#39;" in version.get_data(as_text=True)
