"""Managing repositories on the web: the creation form (a refused one keeps what was
typed), the settings page at the URL projects share (admins only; a private repository
is not there for anyone else, exactly as a missing one), access entries, deleting by
typing the name, the bundle download that `git clone` reads, the owner page's list, and
a hosted repository linked to a project showing its clone URLs and recent commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.access import actor_for_user
from accounts.groups import create_group
from accounts.projects import create_project
from repos import storage
from repos.access import RepoRight, grant_access, repo_rights
from repos.repositories import create_repository, get_repository, update_repository
from tests.accounts.helpers import CSRF_TOKEN, make_user, post_form, sign_in_user
from tests.cli_runner import MailyardCli
from tests.repos.helpers import git, work_tree


def text(response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    return response.get_data(as_text=True)


@pytest.fixture
def people(session):
    ada = make_user(session, "ada", "ada@example.org")
    bea = make_user(session, "bea", "bea@example.org")
    acme = create_group(session, "acme", ada)
    session.commit()
    return {"ada": ada, "bea": bea, "acme": acme}


@pytest.fixture
def tool(session, settings, people):
    """~ada/tool, public and empty."""
    repository = create_repository(session, settings, people["ada"], "tool", description="A tool")
    session.commit()
    return repository


def push_history(settings, repository, where: Path, commits: int = 3) -> Path:
    """A work tree with `commits` commits and a tag, pushed straight into the repository."""
    tree = work_tree(where, commits=commits)
    git(tree, "tag", "-a", "v1", "-m", "One")
    path = str(storage.path_of(settings, repository))
    git(tree, "push", "-q", path, "main", "--tags")
    return tree


def refs(path: Path) -> list[str]:
    listed = git(
        path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"
    )
    return listed.stdout.splitlines()


# -- creating ----------------------------------------------------------------------------------


def test_the_new_repository_form_offers_yourself_and_your_groups(client, people):
    assert client.get("/repos/new").status_code == 403
    sign_in_user(client, people["ada"])
    html = text(client.get("/repos/new"))
    assert 'value="ada" selected' in html and 'value="acme"' in html
    assert 'value="public" checked' in html
    sign_in_user(client, people["bea"])
    assert 'value="acme"' not in text(client.get("/repos/new"))


def test_creating_a_repository_for_a_group(client, session, settings, people):
    sign_in_user(client, people["ada"])
    response = post_form(
        client,
        "/repos/new",
        owner="acme",
        name="Site",
        description="The site",
        visibility="private",
        default_branch="trunk",
    )
    assert response.status_code == 303 and response.location == "/~acme/site"
    site = get_repository(session, "acme", "site")
    assert (site.owner_group_id, site.visibility, site.description) == (
        people["acme"].id,
        "private",
        "The site",
    )
    assert (storage.path_of(settings, site) / "HEAD").read_text() == "ref: refs/heads/trunk\n"


def test_a_refused_form_keeps_what_was_typed(client, session, settings, people):
    sign_in_user(client, people["ada"])
    typed = dict(owner="acme", description="Keep <me>", visibility="unlisted", default_branch="dev")
    html = text(post_form(client, "/repos/new", name="-bad-", **typed), 400)
    assert "Invalid repository name" in html
    assert 'value="-bad-"' in html and 'value="Keep &lt;me&gt;"' in html
    assert 'value="unlisted" checked' in html and 'value="dev"' in html
    assert 'value="acme" selected' in html
    html = text(
        post_form(client, "/repos/new", name="ok", **{**typed, "default_branch": "a..b"}), 400
    )
    assert "not a valid branch name" in html and 'value="ok"' in html
    create_project(session, people["ada"], "hub")
    session.commit()
    assert "is a project already" in text(
        post_form(client, "/repos/new", owner="ada", name="hub"), 400
    )
    assert not (Path(settings.repos_dir) / "acme").exists()
    assert not (Path(settings.repos_dir) / "ada").exists()


def test_creating_for_someone_else_or_without_the_form_token_is_refused(client, session, people):
    sign_in_user(client, people["bea"])
    assert post_form(client, "/repos/new", owner="acme", name="x").status_code == 403
    assert post_form(client, "/repos/new", owner="ada", name="x").status_code == 403
    assert post_form(client, "/repos/new", owner="nobody", name="x").status_code == 403
    forged = client.post("/repos/new", data={"owner": "bea", "name": "x", "csrf_token": "no"})
    assert forged.status_code == 400
    assert get_repository(session, "bea", "x") is None


# -- settings ----------------------------------------------------------------------------------


def test_an_admin_changes_the_settings(client, session, settings, people, tool, tmp_path):
    push_history(settings, tool, tmp_path / "work")
    git(tmp_path / "work", "push", "-q", str(storage.path_of(settings, tool)), "main:stable")
    sign_in_user(client, people["ada"])
    html = text(client.get("/~ada/tool/settings"))
    assert "Settings of ~ada/tool" in html and 'value="A tool"' in html
    response = post_form(
        client,
        "/~ada/tool/settings",
        action="details",
        description="Sharper",
        default_branch="stable",
        visibility="unlisted",
        default=["read", "write"],
        group="acme",
    )
    assert response.status_code == 303 and response.location == "/~ada/tool/settings"
    session.expire_all()
    tool = get_repository(session, "ada", "tool")
    assert (tool.description, tool.default_branch, tool.visibility, tool.default_rights) == (
        "Sharper",
        "stable",
        "unlisted",
        "read,write",
    )
    assert tool.owner_group_id == people["acme"].id
    assert (storage.path_of(settings, tool) / "HEAD").read_text() == "ref: refs/heads/stable\n"


def test_refused_settings_keep_what_was_typed_and_change_nothing(
    client, session, settings, people, tool, tmp_path
):
    push_history(settings, tool, tmp_path / "work")
    sign_in_user(client, people["ada"])
    sent = dict(
        action="details", description="Typed <here>", visibility="private", default=["read"]
    )
    html = text(post_form(client, "/~ada/tool/settings", default_branch="nope", **sent), 400)
    assert "has no branch &#39;nope&#39;" in html
    assert 'value="Typed &lt;here&gt;"' in html and 'value="nope"' in html
    assert 'value="private" checked' in html
    html = text(
        post_form(
            client,
            "/~ada/tool/settings",
            **{**sent, "default_branch": "main", "visibility": "secret"},
        ),
        400,
    )
    assert "Unknown visibility" in html
    assert (
        post_form(
            client,
            "/~ada/tool/settings",
            **{**sent, "default_branch": "main", "group": "elsewhere"},
        ).status_code
        == 403
    )
    assert post_form(client, "/~ada/tool/settings", action="bogus").status_code == 400
    session.expire_all()
    tool = get_repository(session, "ada", "tool")
    assert (tool.description, tool.visibility, tool.default_branch) == ("A tool", "public", "main")


def test_access_entries_are_added_and_removed(client, session, people, tool):
    sign_in_user(client, people["ada"])
    response = post_form(
        client, "/~ada/tool/settings", action="grant", who="~bea", rights=["read", "write"]
    )
    assert response.status_code == 303
    bea = actor_for_user(session, people["bea"])
    session.expire_all()
    assert repo_rights(session, tool, bea) == {RepoRight.read, RepoRight.write}
    html = text(
        post_form(client, "/~ada/tool/settings", action="grant", who="~nobody", rights=["admin"]),
        400,
    )
    assert "No user named ~nobody" in html and 'value="~nobody"' in html
    assert 'value="admin" checked' in html
    assert (
        post_form(
            client, "/~ada/tool/settings", action="grant", who="cy@example.org", rights=["read"]
        ).status_code
        == 303
    )
    html = text(client.get("/~ada/tool/settings"))
    assert "~bea" in html and "read, write" in html and "cy@example.org" in html
    entry_ids = [e.split('"')[0] for e in html.split('name="entry" value="')[1:]]
    assert len(entry_ids) == 2
    assert (
        post_form(client, "/~ada/tool/settings", action="revoke", entry=entry_ids[0]).status_code
        == 303
    )
    assert "There is no such access entry" in text(
        post_form(client, "/~ada/tool/settings", action="revoke", entry="999"), 400
    )
    session.expire_all()
    assert repo_rights(session, tool, bea) == {RepoRight.read}


def test_a_private_repository_is_not_there_for_strangers(client, session, settings, people, tool):
    """Its settings, bundle and delete answer as for a repository that never existed,
    anonymously and signed in; the admin still gets them."""
    sign_in_user(client, people["ada"])
    sent = dict(action="details", description="A tool", default_branch="main", default=["read"])
    assert post_form(client, "/~ada/tool/settings", visibility="private", **sent).status_code == 303
    assert text(client.get("/~ada/tool/settings")).count("Settings of ~ada/tool") == 1
    for who in (None, people["bea"]):
        sign_in_user(client, who)
        for method, suffix in (
            ("GET", "settings"),
            ("GET", "bundle"),
            ("POST", "settings"),
            ("POST", "delete"),
        ):
            real = client.open(
                f"/~ada/tool/{suffix}", method=method, data={"csrf_token": CSRF_TOKEN}
            )
            ghost = client.open(
                f"/~ada/ghost/{suffix}", method=method, data={"csrf_token": CSRF_TOKEN}
            )
            assert real.status_code == ghost.status_code == 404, (who, suffix)
            assert real.get_data(as_text=True).replace("tool", "ghost") == ghost.get_data(
                as_text=True
            )
            assert real.headers["Content-Type"] == ghost.headers["Content-Type"]
    # Private to strangers, still a project-or-repository 404 naming nothing else.
    assert "There is no project or repository ~ada/ghost here." in client.get(
        "/~ada/ghost/settings"
    ).get_data(as_text=True)


def test_readers_who_are_not_admins_are_refused(client, session, people, tool):
    sign_in_user(client, people["bea"])
    assert client.get("/~ada/tool/settings").status_code == 403
    assert client.get("/~ada/tool/bundle").status_code == 403
    assert post_form(client, "/~ada/tool/delete", confirm="tool").status_code == 403
    assert (
        post_form(
            client, "/~ada/tool/settings", action="grant", who="~bea", rights=["admin"]
        ).status_code
        == 403
    )
    grant_access(session, tool, "bea", "read,write")
    session.commit()
    assert client.get("/~ada/tool/settings").status_code == 403
    grant_access(session, tool, "bea", "read,admin")
    session.commit()
    assert client.get("/~ada/tool/settings").status_code == 200
    assert get_repository(session, "ada", "tool") is not None


def test_project_settings_are_still_a_projects(client, session, people):
    create_project(session, people["ada"], "hub", "The hub")
    session.commit()
    sign_in_user(client, people["ada"])
    assert "Settings of ~ada/hub" in text(client.get("/~ada/hub/settings"))
    response = post_form(
        client, "/~ada/hub/settings", action="details", description="New", readme=""
    )
    assert response.status_code == 303 and response.location == "/~ada/hub/settings"


# -- deleting and downloading --------------------------------------------------------------------


def test_deleting_needs_the_typed_name(client, session, settings, people, tool):
    path = storage.path_of(settings, tool)
    sign_in_user(client, people["ada"])
    html = text(post_form(client, "/~ada/tool/delete", confirm="tol"), 400)
    assert "Type tool to delete the repository" in html
    assert get_repository(session, "ada", "tool") is not None and path.is_dir()
    response = post_form(client, "/~ada/tool/delete", confirm="tool")
    assert response.status_code == 303 and response.location == "/~ada"
    session.expire_all()
    assert get_repository(session, "ada", "tool") is None and not path.exists()


def test_a_downloaded_bundle_clones_with_the_same_refs(
    client, session, settings, people, tool, tmp_path
):
    sign_in_user(client, people["ada"])
    empty = client.get("/~ada/tool/bundle")
    assert empty.status_code == 409 and "is empty" in empty.get_data(as_text=True)
    push_history(settings, tool, tmp_path / "work")
    response = client.get("/~ada/tool/bundle")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="tool.bundle"'
    bundle = tmp_path / "tool.bundle"
    bundle.write_bytes(response.get_data())
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bundle), str(clone))
    assert (clone / "file2.txt").read_text() == "line 2\n"
    mirror = tmp_path / "mirror"
    git(tmp_path, "clone", "-q", "--mirror", str(bundle), str(mirror))
    assert refs(mirror) == refs(storage.path_of(settings, tool))


# -- where repositories show -----------------------------------------------------------------


def test_the_owner_page_lists_the_repositories_the_visitor_may_read(
    client, session, settings, people, tool
):
    create_repository(session, settings, people["ada"], "secret", visibility="private")
    create_repository(session, settings, people["acme"], "site", description="Our site")
    session.commit()
    html = text(client.get("/~ada"))
    assert 'href="/~ada/tool"' in html and "A tool" in html and "secret" not in html
    assert 'href="/~acme/site"' in text(client.get("/~acme"))
    sign_in_user(client, people["ada"])
    html = text(client.get("/~ada"))
    assert 'href="/~ada/secret"' in html and "new repository" in html


@pytest.fixture
def hub(session, settings, people, tool, tmp_path):
    """~ada/hub linking ~ada/tool (three commits) by `mailyard project link`."""
    create_project(session, people["ada"], "hub")
    session.commit()
    push_history(settings, tool, tmp_path / "work")
    out = MailyardCli(settings, "project")("link", "~ada/hub", "repo:~Ada/Tool")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "linked repo ~ada/tool to ~ada/hub\n"
    listed = MailyardCli(settings, "project")("ls", "ada")
    assert listed.stdout.startswith("~ada/hub\trepo:~ada/tool\t")
    return tool


def test_a_linked_repository_shows_its_recent_commits_on_the_project_page(client, hub):
    html = text(client.get("/~ada/hub"))
    assert 'href="/~ada/tool"' in html
    assert "git clone http://archive.example.org/~ada/tool" in html
    assert "git clone git@archive.example.org:~ada/tool" in html
    # Newest first, though all three were made in the same second.
    assert html.index("commit 2") < html.index("commit 1") < html.index("commit 0")


def test_a_private_linked_repository_does_not_show_to_strangers(
    client, session, settings, people, hub
):
    update_repository(session, settings, hub, visibility="private")
    session.commit()
    for who in (None, people["bea"]):
        sign_in_user(client, who)
        html = text(client.get("/~ada/hub"))
        assert "~ada/tool" not in html and "commit 0" not in html
    sign_in_user(client, people["ada"])
    assert "commit 0" in text(client.get("/~ada/hub"))


def test_linking_a_hosted_repository_on_the_web_needs_its_admin(
    client, session, settings, people, tool
):
    create_project(session, people["bea"], "fork")
    create_repository(session, settings, people["ada"], "secret", visibility="private")
    session.commit()
    sign_in_user(client, people["bea"])
    for name in ("tool", "secret", "nothing"):
        html = text(
            post_form(client, "/~bea/fork/settings", action="link", link=f"repo:~ada/{name}"), 400
        )
        assert f"You administer no repository ~ada/{name}." in html
    assert "is not a repository" in text(
        post_form(client, "/~bea/fork/settings", action="link", link="repo:~ada"), 400
    )
    grant_access(session, tool, "bea", "read,admin")
    session.commit()
    assert (
        post_form(client, "/~bea/fork/settings", action="link", link="repo:~ada/tool").status_code
        == 303
    )
    assert "~ada/tool" in text(client.get("/~bea/fork/settings"))
    assert 'href="/~ada/tool"' in text(client.get("/~bea/fork"))
