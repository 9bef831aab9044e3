"""A list linked to hosted repositories: `mailyard list set --repo`, the Repositories
section of the list's settings page (a refused link keeps what was typed), and the
patchset page naming the repository a series is for and whether its base commit is
there; a private repository is named to nobody who may not read it."""

from __future__ import annotations

import re

import pytest

from archive.importer import import_messages
from patchsets.repositories import default_repository, linked_repositories
from repos import storage
from repos.access import set_visibility
from repos.repositories import create_repository
from tests.accounts.helpers import make_user, post_form, sign_in_user
from tests.cli_runner import MailyardCli
from tests.repos.helpers import git, work_tree
from tests.web.test_patches import GRACE, SERIES, SOLO, mail


@pytest.fixture
def dev(seed, session):
    """The list `dev` with Ada's series (its base-commit in no repository) and Grace's
    `[PATCH net-next]` fix."""
    mlist = seed.make_list("dev")
    solo = mail("solo@x", "[PATCH net-next] typo: fix", SOLO, 10, sender=GRACE)
    import_messages(session, mlist, [*SERIES, solo])
    return mlist


@pytest.fixture
def repos(session, settings, tmp_path):
    """~ada/tool holding one commit (pushed from a work tree) and an empty ~ada/docs."""
    ada = make_user(session, "ada", "ada@example.org")
    tool = create_repository(session, settings, ada, "tool")
    docs = create_repository(session, settings, ada, "docs")
    session.commit()
    tree = work_tree(tmp_path / "tree", commits=1)
    git(tree, "push", "-q", str(storage.path_of(settings, tool)), "main")
    head = git(tree, "rev-parse", "HEAD").stdout.strip()
    return {"ada": ada, "tool": tool, "docs": docs, "head": head}


def test_list_set_links_and_unlinks_repositories(settings, session, dev, repos) -> None:
    cli = MailyardCli(settings, "list")
    shown = cli("set", "dev", "--repo", "~ada/tool", "--default", "--repo", "~ada/docs")
    assert shown.returncode == 2 and "--default goes with exactly one --repo" in shown.stderr
    shown = cli("set", "dev", "--repo", "~ada/docs")
    shown = cli("set", "dev", "--repo", "~ada/tool", "--default")
    assert shown.returncode == 0, shown.stderr
    assert "repo\t~ada/tool\tdefault\nrepo\t~ada/docs\tdirect" in shown.stdout
    shown = cli("set", "dev", "--unlink-repo", "ada/docs.git")
    assert "~ada/docs" not in shown.stdout
    for bad, said in (
        ("~ada/nothing", "no repository ~ada/nothing"),
        ("tool", "write ~OWNER/NAME"),
    ):
        refused = cli("set", "dev", "--repo", bad)
        assert refused.returncode == 1 and said in refused.stderr
        assert "Traceback" not in refused.stderr
    session.expire_all()
    assert [r.name for r in linked_repositories(session, dev.id)] == ["tool"]


def test_settings_page_links_a_repository_and_keeps_a_refused_one(
    client,
    session,
    dev,
    repos,
) -> None:
    owner = make_user(session, "olive", "owner@example.com")
    sign_in_user(client, owner)
    refused = post_form(
        client, "/dev/settings", action="link_repo", repo="~ada/nope", default="yes"
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "No repository ~ada/nope." in page
    assert 'value="~ada/nope"' in page and 'name="default" value="yes" checked' in page
    done = post_form(client, "/dev/settings", action="link_repo", repo="~ada/tool", default="yes")
    assert done.status_code == 303
    post_form(client, "/dev/settings", action="link_repo", repo="~ada/docs")
    page = client.get("/dev/settings").get_data(as_text=True)
    assert re.search(r"~ada/tool</a></td>\s*<td>directly, the default", page)
    assert re.search(r"~ada/docs</a></td>\s*<td>directly</td>", page)
    post_form(client, "/dev/settings", action="unlink_repo", repo="~ada/docs")
    session.expire_all()
    assert default_repository(session, dev.id).name == "tool"
    sign_in_user(client, repos["ada"])  # may not manage the list
    assert (
        post_form(client, "/dev/settings", action="link_repo", repo="~ada/docs").status_code == 403
    )


def _patchset_page(client, subject_words: str) -> str:
    listing = client.get("/dev/patches").get_data(as_text=True)
    [pid] = re.findall(rf'href="/dev/patches/(\d+)/"><bdi>{subject_words}', listing)
    return client.get(f"/dev/patches/{pid}/").get_data(as_text=True)


def test_patchset_page_names_its_repository_and_its_base(
    client,
    session,
    settings,
    dev,
    repos,
) -> None:
    cli = MailyardCli(settings, "list")
    assert cli("set", "dev", "--repo", "~ada/tool", "--default").returncode == 0
    assert cli("set", "dev", "--repo", "~ada/net-next").returncode == 1  # not there yet
    net = create_repository(session, settings, repos["ada"], "net-next")
    session.commit()
    assert cli("set", "dev", "--repo", "~ada/net-next").returncode == 0
    page = _patchset_page(client, "greet loudly")  # base-commit 1234567890ab…, not in tool
    assert re.search(r'<dt>Repository</dt><dd><a href="/~ada/tool">~ada/tool</a>', page)
    assert (
        "the list's default" in page
        and '1234567890ab</span> <span class="warn">not found there' in page
    )
    page = _patchset_page(client, "typo: fix")  # [PATCH net-next]
    assert '<a href="/~ada/net-next">~ada/net-next</a>' in page and "named in the subject" in page
    set_visibility(net, "private")
    session.commit()
    assert "net-next</a>" not in _patchset_page(client, "typo: fix")
    # A series whose base is in the repository links to that commit.
    from patchsets.models import Patchset

    series = session.query(Patchset).filter_by(name="greet loudly").one()
    series.base_commit = repos["head"]
    session.commit()
    page = _patchset_page(client, "greet loudly")
    assert f'href="/~ada/tool/commit/{repos["head"]}">{repos["head"][:12]}</a> is there' in page
