"""The patch tracker's pages: listing and filters, one patchset (trailers, escaped text,
highlighted diffs), git-am-ready downloads applied by real git, sign-in links and the
status form."""

from __future__ import annotations

import mailbox
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from archive.importer import import_messages
from web import patches
from web.auth import login_link

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ADA = "Ada Lovelace <ada@example.com>"
GRACE = "Grace <grace@example.com>"
OWNER = "owner@example.com"  # the Seeder's list owner

COVER = """This series makes the greeting louder and adds a farewell.

Ada Lovelace (2):
  hello: shout
  bye: wave

 bye.txt   | 1 +
 hello.txt | 2 +-
 2 files changed, 2 insertions(+), 1 deletion(-)

base-commit: 1234567890abcdef1234567890abcdef12345678
change-id: 20260302-shout-abc
--
2.43.0
"""
PATCH_1 = """The greeting was too quiet; <b>x</b> marks the spot.

Signed-off-by: Ada Lovelace <ada@example.com>
---
 hello.txt | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/hello.txt b/hello.txt
index 3b18e51..e965047 100644
--- a/hello.txt
+++ b/hello.txt
@@ -1 +1 @@
-hello world
+HELLO WORLD
--
2.43.0
"""
PATCH_2 = """Say goodbye too.

Signed-off-by: Ada Lovelace <ada@example.com>
---
 bye.txt | 1 +
 1 file changed, 1 insertion(+)

diff --git a/bye.txt b/bye.txt
new file mode 100644
index 0000000..b023018
--- /dev/null
+++ b/bye.txt
@@ -0,0 +1 @@
+bye
--
2.43.0
"""
SOLO = """Fix a typo.

Signed-off-by: Grace Hopper <grace@example.com>
---
diff --git a/typo.txt b/typo.txt
index 1111111..2222222 100644
--- a/typo.txt
+++ b/typo.txt
@@ -1 +1 @@
-teh
+the
"""


def mail(msgid, subject, body, minutes, parent=None, sender=ADA) -> bytes:
    refs = f"In-Reply-To: <{parent}>\nReferences: <{parent}>\n" if parent else ""
    date = format_datetime(START + timedelta(minutes=minutes))
    return (
        f"From: {sender}\nTo: dev@lists.example.org\nSubject: {subject}\nDate: {date}\n"
        f"Message-ID: <{msgid}>\n{refs}MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


SERIES = [
    mail("cover@x", "[PATCH RFC 0/2] greet loudly", COVER, 0),
    mail("p1@x", "[PATCH RFC 1/2] hello: shout", PATCH_1, 1, "cover@x"),
    mail("p2@x", "[PATCH RFC 2/2] bye: wave", PATCH_2, 2, "cover@x"),
    mail(
        "review@x",
        "Re: [PATCH RFC 1/2] hello: shout",
        "> -hello world\n\nLooks good.\n\nReviewed-by: Bob Reviewer <bob@example.com>\n",
        3,
        "p1@x",
        "Bob Reviewer <bob@example.com>",
    ),
    mail(
        "forged@x",
        "Re: [PATCH RFC 2/2] bye: wave",
        "Fine.\n\nAcked-by: Carol <carol@example.com>\n",
        4,
        "p2@x",
        "Mallory <mallory@example.com>",
    ),
]


@pytest.fixture
def dev(seed, session):
    """The list `dev` with Ada's RFC series and its reviews, and Grace's net-next fix."""
    mlist = seed.make_list("dev")
    solo = mail("solo@x", "[PATCH net-next] typo: fix", SOLO, 10, sender=GRACE)
    import_messages(session, mlist, [*SERIES, solo])
    return mlist


def series_id(client) -> int:
    page = client.get("/dev/patches").get_data(as_text=True)
    return int(re.search(r'href="/dev/patches/(\d+)/"><bdi>greet loudly', page).group(1))


def csrf_from(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, settings, address: str) -> str:
    """Follow a login link as a person would: open it, confirm. Returns a CSRF token."""
    path = login_link(settings, address).removeprefix(settings.base_url)
    client.post(path, data={"csrf_token": csrf_from(client.get(path).get_data(as_text=True))})
    return csrf_from(client.get("/").get_data(as_text=True))


# -- the listing ---------------------------------------------------------------------------


def test_listing_shows_patchsets_with_counts_and_line_totals(client, dev):
    page = client.get("/dev/patches").get_data(as_text=True)
    assert "greet loudly" in page and "typo: fix" in page
    assert page.index("typo: fix") < page.index("greet loudly")  # newest first
    assert "2/2" in page and "v1" in page and "+2" in page and "−1" in page
    assert 'class="status st-proposed"' in page
    assert 'href="/dev/patches"' in client.get("/dev/").get_data(as_text=True)


def test_listing_filters_by_status_submitter_and_tag(client, dev):
    def names(query: str) -> set[str]:
        page = client.get(f"/dev/patches?{query}").get_data(as_text=True)
        return {n for n in ("greet loudly", "typo: fix") if n in page}

    assert names("status=proposed") == {"greet loudly", "typo: fix"}
    assert names("status=approved") == set()
    assert names("submitter=GRACE@example.com") == {"typo: fix"}
    assert names("tag=RFC") == {"greet loudly"}
    assert names("tag=net-next") == {"typo: fix"}
    assert names("tag=v1&submitter=ada@example.com&status=") == {"greet loudly"}


def test_unknown_status_filter_is_a_400_that_names_the_valid_ones(client, dev):
    response = client.get("/dev/patches?status=merged")
    assert response.status_code == 400
    assert "merged" in response.get_data(as_text=True)
    assert "needs_revision" in response.get_data(as_text=True)


def test_listing_pages_with_before_and_keeps_filters(client, dev, monkeypatch):
    monkeypatch.setattr(patches, "PATCHSETS_PER_PAGE", 1)
    page = client.get("/dev/patches?status=proposed").get_data(as_text=True)
    assert "typo: fix" in page and "greet loudly" not in page
    older = re.search(r'href="([^"]+)">older patchsets', page).group(1).replace("&amp;", "&")
    assert "status=proposed" in older
    page = client.get(older).get_data(as_text=True)
    assert "greet loudly" in page and "typo: fix" not in page


def test_unknown_list_or_patchset_is_404(client, dev):
    assert client.get("/nope/patches").status_code == 404
    assert client.get("/dev/patches/999/").status_code == 404


# -- one patchset ----------------------------------------------------------------------------


def test_patchset_page_shows_series_trailers_and_highlighted_diffs(client, dev):
    page = client.get(f"/dev/patches/{series_id(client)}/").get_data(as_text=True)
    assert "greet loudly" in page and "v1" in page
    assert "1234567890abcdef1234567890abcdef12345678" in page and "20260302-shout-abc" in page
    assert " hello.txt | 2 +-" in page and "1 file changed, 1 insertion(+), 1 deletion(-)" in page
    assert "Signed-off-by: Ada Lovelace &lt;ada@example.com&gt;" in page
    assert "Reviewed-by: Bob Reviewer &lt;bob@example.com&gt;" in page
    assert "not applied: sender <bdi>mallory@example.com</bdi> differs" in page
    assert '<span class="gi">+HELLO WORLD</span>' in page
    assert '<span class="gd">-hello world</span>' in page
    assert "curl -s http://archive.example.org/dev/patches/" in page and "| git am" in page
    assert "b4 am cover@x" in page
    assert 'href="/dev/cover@x/T/#u"' in page
    assert 'href="/dev/review@x/"' in page and 'href="/dev/forged@x/"' in page  # replies


def test_patchset_page_escapes_mail_text_and_carries_no_script_or_styles(client, dev):
    page = client.get(f"/dev/patches/{series_id(client)}/").get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt; marks the spot" in page and "<b>x</b>" not in page
    assert "<script" not in page and "style=" not in page
    assert '<meta name="viewport" content="width=device-width' in page


# -- downloads -------------------------------------------------------------------------------


def test_mbox_holds_the_patches_in_order_with_collected_trailers(client, dev, tmp_path):
    response = client.get(f"/dev/patches/{series_id(client)}/mbox")
    assert response.content_type == "application/mbox"
    assert 'filename="greet-loudly-v1.mbox"' in response.headers["Content-Disposition"]
    path = tmp_path / "series.mbox"
    path.write_bytes(response.data)
    entries = list(mailbox.mbox(path))
    assert [e["Subject"] for e in entries] == [
        "[PATCH RFC 1/2] hello: shout",
        "[PATCH RFC 2/2] bye: wave",
    ]
    first = entries[0].get_payload(decode=True).decode()
    assert "Reviewed-by: Bob Reviewer <bob@example.com>" in first
    assert "Link: http://archive.example.org/dev/p1@x/" in first
    assert "Acked-by" not in entries[1].get_payload(decode=True).decode()  # the mismatch


def test_mbox_applies_with_git_am(client, dev, tmp_path):
    mbox = client.get(f"/dev/patches/{series_id(client)}/mbox").data
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "x",
        "GIT_AUTHOR_EMAIL": "x@example.com",
        "GIT_COMMITTER_NAME": "x",
        "GIT_COMMITTER_EMAIL": "x@example.com",
    }

    def git(*args, stdin=None) -> str:
        cmd = ["git", "-c", "user.name=x", "-c", "user.email=x@example.com", *args]
        done = subprocess.run(cmd, cwd=repo, env=env, input=stdin, capture_output=True, check=True)
        return done.stdout.decode()

    git("init", "-q")
    (repo / "hello.txt").write_text("hello world\n")
    git("add", "hello.txt")
    git("commit", "-q", "-m", "base")
    git("am", stdin=mbox)
    assert (repo / "hello.txt").read_text() == "HELLO WORLD\n"
    assert (repo / "bye.txt").read_text() == "bye\n"
    log = git("log", "--format=%an <%ae>%n%B", "-n", "2")
    assert "Ada Lovelace <ada@example.com>" in log
    assert "Reviewed-by: Bob Reviewer <bob@example.com>" in log
    assert "Link: http://archive.example.org/dev/p1@x/" in log


def test_one_patch_downloads_and_a_missing_one_is_404(client, dev):
    patchset = series_id(client)
    response = client.get(f"/dev/patches/{patchset}/1.patch")
    assert response.status_code == 200
    assert response.content_type == "text/x-patch; charset=utf-8"
    assert b"Subject: [PATCH RFC 1/2] hello: shout" in response.data
    assert b"bye: wave" not in response.data
    assert client.get(f"/dev/patches/{patchset}/9.patch").status_code == 404


# -- signing in and the status form --------------------------------------------------------


def test_login_link_shows_a_form_and_only_the_post_signs_in(client, dev, settings):
    path = login_link(settings, OWNER).removeprefix(settings.base_url)
    form = client.get(path).get_data(as_text=True)
    assert 'method="post"' in form and OWNER in form
    assert "signed in as" not in client.get("/").get_data(as_text=True)
    response = client.post(path, data={"csrf_token": csrf_from(form)})
    assert response.status_code == 303 and response.location.endswith("/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    home = client.get("/").get_data(as_text=True)
    assert f'signed in as <span class="addr">{OWNER}</span>' in home


def test_bad_login_token_and_logout(client, dev, settings):
    response = client.get("/login/not-a-token")
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)
    token = sign_in(client, settings, OWNER)
    assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 400
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert "signed in as" not in client.get("/").get_data(as_text=True)


def test_anonymous_status_change_is_403(client, dev):
    patchset = series_id(client)
    page = client.get(f"/dev/patches/{patchset}/").get_data(as_text=True)
    assert "status-form" not in page
    response = client.post(f"/dev/patches/{patchset}/status", data={"status": "approved"})
    assert response.status_code == 403 and "Sign in" in response.get_data(as_text=True)


def test_owner_approves_and_the_event_is_listed(client, dev, settings):
    patchset = series_id(client)
    token = sign_in(client, settings, OWNER)
    assert "status-form" in client.get(f"/dev/patches/{patchset}/").get_data(as_text=True)
    response = client.post(
        f"/dev/patches/{patchset}/status", data={"status": "approved", "csrf_token": token}
    )
    assert response.status_code == 303
    assert response.location.endswith(f"/dev/patches/{patchset}/")
    page = client.get(f"/dev/patches/{patchset}/").get_data(as_text=True)
    assert 'class="status st-approved"' in page and f"set by <bdi>{OWNER}</bdi>" in page
    assert "Status history" in page and "<b>approved</b>" in page
    assert "greet loudly" in client.get("/dev/patches?status=approved").get_data(as_text=True)


def test_submitter_may_ask_for_revision_but_not_approve(client, dev, settings):
    patchset = series_id(client)
    token = sign_in(client, settings, "ada@example.com")
    url = f"/dev/patches/{patchset}/status"
    refused = client.post(url, data={"status": "approved", "csrf_token": token})
    assert refused.status_code == 403 and "list owner" in refused.get_data(as_text=True)
    asked = client.post(url, data={"status": "needs_revision", "csrf_token": token})
    assert asked.status_code == 303
    page = client.get(f"/dev/patches/{patchset}/").get_data(as_text=True)
    assert 'class="status st-needs_revision"' in page


def test_status_post_with_a_wrong_csrf_token_is_400(client, dev, settings):
    patchset = series_id(client)
    sign_in(client, settings, OWNER)
    url = f"/dev/patches/{patchset}/status"
    assert client.post(url, data={"status": "approved", "csrf_token": "x"}).status_code == 400
    assert client.post(url, data={"status": "approved"}).status_code == 400
    page = client.get(f"/dev/patches/{patchset}/").get_data(as_text=True)
    assert 'class="status st-proposed"' in page


def test_a_second_version_is_linked_both_ways(client, dev, session):
    v2_cover = COVER.replace("(2)", "(1)")
    import_messages(
        session,
        dev,
        [
            mail("v2-cover@x", "[PATCH v2 0/1] greet loudly", v2_cover, 20),
            mail("v2-p1@x", "[PATCH v2 1/1] hello: shout", PATCH_1, 21, "v2-cover@x"),
        ],
    )
    listing = client.get("/dev/patches").get_data(as_text=True)
    v2, v1 = map(int, re.findall(r'href="/dev/patches/(\d+)/"><bdi>greet loudly', listing))
    old = client.get(f"/dev/patches/{v1}/").get_data(as_text=True)
    assert f'Superseded by <a href="/dev/patches/{v2}/">v2</a>' in old
    assert "<b>v1</b> (this version)" in old
    new = client.get(f"/dev/patches/{v2}/").get_data(as_text=True)
    assert f'<a href="/dev/patches/{v1}/">v1</a>' in new and "<b>v2</b> (this version)" in new


def test_a_series_missing_patches_is_marked_incomplete(client, dev, session):
    part = mail("part@x", "[PATCH 1/3] part: one", PATCH_2, 30, sender=GRACE)
    import_messages(session, dev, [part])
    page = client.get("/dev/patches?submitter=grace@example.com").get_data(as_text=True)
    assert "1/3" in page and 'class="incomplete"' in page


def test_a_pull_request_is_listed_with_what_to_pull(client, dev, session):
    body = (
        "The following changes since commit 0123456789abcdef:\n\n  base (2026-03-01)\n\n"
        "are available in the Git repository at:\n\n"
        "  https://git.example.org/ada/thing.git tags/thing-1.0\n\n"
        "for you to fetch changes up to fedcba9876543210:\n\n  tip (2026-03-02)\n"
    )
    import_messages(session, dev, [mail("pull@x", "[GIT PULL] thing 1.0", body, 40)])
    listing = client.get("/dev/patches?tag=pull").get_data(as_text=True)
    (pid,) = map(int, re.findall(r'href="/dev/patches/(\d+)/"><bdi>thing 1.0', listing))
    page = client.get(f"/dev/patches/{pid}/").get_data(as_text=True)
    assert "git pull https://git.example.org/ada/thing.git tags/thing-1.0" in page
    assert client.get(f"/dev/patches/{pid}/mbox").status_code == 404
