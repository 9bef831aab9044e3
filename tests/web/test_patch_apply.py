"""Applying from the patchset page: the background check shown, the button only for who
may (write on the repository, moderate on the list), the report page of an apply and of
a conflict, and a refused form that keeps what was typed."""

from __future__ import annotations

import re

from patchsets.models import Patchset, PatchsetStatus
from tests.accounts.helpers import make_user, post_form, sign_in_user
from tests.patchsets.test_apply import HELLO, linked  # noqa: F401  (the fixture)
from tests.repos.helpers import git


def _page(client, linked) -> str:  # noqa: F811
    return client.get(f"/dev/patches/{linked['patchset'].id}/").get_data(as_text=True)


def test_the_page_shows_the_check_and_the_button_to_who_may(client, session, linked) -> None:  # noqa: F811
    page = _page(client, linked)
    assert re.search(r"Checked .+?: it applies cleanly to ~mia/tool main at [0-9a-f]{12}", page)
    assert 'name="action" value="apply"' not in page and "Check only" not in page  # anonymous
    eve = make_user(session, "eve", "eve@example.org")
    sign_in_user(client, eve)
    page = _page(client, linked)
    assert "Check only" in page and 'value="apply"' not in page
    url = f"/dev/patches/{linked['patchset'].id}/apply"
    assert post_form(client, url, action="apply").status_code == 403
    checked = post_form(client, url, action="check")
    assert checked.status_code == 303  # anyone who may see it may check it
    sign_in_user(client, linked["mia"])
    assert 'name="action" value="apply"' in _page(client, linked)


def test_apply_from_the_web_and_its_report(client, session, linked) -> None:  # noqa: F811
    sign_in_user(client, linked["mia"])
    url = f"/dev/patches/{linked['patchset'].id}/apply"
    refused = post_form(client, url, action="apply", repo="~mia/nope", branch="main", thanks="yes")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "No repository ~mia/nope." in page
    assert 'value="~mia/nope"' in page and 'name="thanks" value="yes" checked' in page
    done = post_form(client, url, action="apply", link="yes", signoff="yes")
    assert done.status_code == 303 and "/apply/" in done.headers["Location"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    head = git(linked["bare"], "rev-parse", "main").stdout.strip()
    assert "<b>applied</b>" in page and f'/~mia/tool/commit/{head}">{head[:12]}</a>' in page
    assert "spell fifteen" in page
    session.expire_all()
    assert session.get(Patchset, linked["patchset"].id).status is PatchsetStatus.applied
    assert "applied to ~mia/tool main:" in _page(client, linked)
    missing = client.get(f"/dev/patches/{linked['patchset'].id}/apply/99999")
    assert missing.status_code == 404


def test_a_conflict_report_names_the_patch_file_and_hunk(client, session, linked) -> None:  # noqa: F811
    bare, tree = linked["bare"], linked["tree"]
    other = tree.parent / "other"
    git(tree.parent, "clone", "-q", str(bare), str(other))
    (other / "hello.txt").write_text(HELLO.replace("line 15\n", "line XV\n"))
    git(other, "commit", "-q", "-am", "roman fifteen")
    git(other, "push", "-q", "origin", "main")
    before = git(bare, "rev-parse", "main").stdout.strip()
    sign_in_user(client, linked["mia"])
    done = post_form(
        client, f"/dev/patches/{linked['patchset'].id}/apply", action="apply", link="yes"
    )
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "<b>conflict</b>" in page and "Patch 2/2:" in page and "spell fifteen</bdi></a>" in page
    assert '<h3 class="addr"><bdi>hello.txt</bdi></h3>' in page
    assert '<pre class="diff rejected">@@ -12,7 +12,7 @@' in page and "git am said" in page
    assert git(bare, "rev-parse", "main").stdout.strip() == before
