"""`mailyard repo ls|rm|set|access|import|bundle` as an operator runs them (in-process,
tests/cli_runner.py), against real bare repositories and real git: round trips,
one-line refusals that change nothing, and imports from a local repository, a bundle, a
file:// URL and a (dumb) HTTP server on 127.0.0.1 that give the source's very refs and
are recorded as a push whose hooks ran."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.access import actor_for_user
from accounts.groups import create_group
from accounts.models import Project
from accounts.projects import add_link, create_project, links_of
from mailyard.celery_app import app as celery_app
from repos import storage
from repos.access import RepoRight, grant_access, repo_rights
from repos.hooks import AFTER_PUSH
from repos.models import HooksState, Push, PushVia, Repository
from repos.pushes import ZERO_SHA
from repos.repositories import get_repository
from tests.accounts.helpers import make_user
from tests.cli_runner import CliResult, MailyardCli
from tests.repos.helpers import git, work_tree


@pytest.fixture
def run(settings):
    return MailyardCli(settings, "repo")


@pytest.fixture
def people(session):
    ada = make_user(session, "ada", "ada@example.org")
    bea = make_user(session, "bea", "bea@example.org")
    acme = create_group(session, "acme", ada)
    session.commit()
    return {"ada": ada, "bea": bea, "acme": acme}


def ok(out: CliResult) -> str:
    assert out.returncode == 0, out.stderr
    return out.stdout


def one_line_error(out: CliResult, text: str) -> None:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert text in out.stderr and len(lines) == 1, out.stderr


def refs(path: Path) -> list[str]:
    """`git for-each-ref` of the branches and tags: what an import must reproduce."""
    listed = git(
        path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"
    )
    return listed.stdout.splitlines()


# -- ls, set, rm -----------------------------------------------------------------------------


def test_create_ls_set_and_rm_round_trip(run, session, settings, people):
    assert "no repositories yet" in ok(run("ls"))
    ok(run("create", "~ada/Tool", "--description", "A tool"))
    ok(run("create", "~acme/site", "--visibility", "unlisted"))
    assert ok(run("ls")).splitlines() == [
        "~acme/site\tunlisted\tmain\tnever pushed",
        "~ada/tool\tpublic\tmain\tnever pushed",
    ]
    assert ok(run("ls", "~ada")).splitlines() == ["~ada/tool\tpublic\tmain\tnever pushed"]
    assert ok(run("ls", "bea")) == ""

    out = ok(
        run(
            "set",
            "~ada/tool",
            "--visibility",
            "private",
            "--description",
            "Now private",
            "--default-branch",
            "trunk",
            "--default-rights",
            "read, write",
            "--group",
            "acme",
        )
    )
    assert out == "~ada/tool\tprivate\ttrunk\tdefault rights read,write\tgroup ~acme\n"
    tool = get_repository(session, "ada", "tool")
    assert (tool.description, tool.owner_group_id) == ("Now private", people["acme"].id)
    assert (storage.path_of(settings, tool) / "HEAD").read_text() == "ref: refs/heads/trunk\n"
    assert ok(run("set", "~ada/tool", "--no-group")).endswith("\tgroup none\n")
    assert ok(run("ls", "~ada")).splitlines() == ["~ada/tool\tprivate\ttrunk\tnever pushed"]

    path = storage.path_of(settings, tool)
    assert ok(run("rm", "~ada/tool", "--yes")) == "deleted ~ada/tool\n"
    session.expire_all()
    assert get_repository(session, "ada", "tool") is None
    assert not path.exists()
    assert ok(run("ls")).splitlines() == ["~acme/site\tunlisted\tmain\tnever pushed"]


def test_rm_asks_for_the_name_and_a_wrong_answer_keeps_the_repository(
    run, session, settings, people
):
    ok(run("create", "~ada/keep"))
    path = storage.path_of(settings, get_repository(session, "ada", "keep"))
    out = run("rm", "~ada/keep", input="kept\n")
    assert out.returncode == 1 and "type its name to go on" in out.stdout
    one_line_error(out, "'kept' is not ~ada/keep: nothing deleted")
    session.expire_all()
    assert get_repository(session, "ada", "keep") is not None and path.is_dir()
    assert ok(run("rm", "~ada/keep", input="~ada/keep\n")).endswith("deleted ~ada/keep\n")
    assert not path.exists()


def test_rm_takes_the_access_entries_and_project_links_along(run, session, people):
    """They name the repository by id, which a later repository may get again."""
    ok(run("create", "~ada/gone"))
    gone = get_repository(session, "ada", "gone")
    grant_access(session, gone, "bea", "read")
    project = create_project(session, people["ada"], "hub")
    add_link(session, project, f"repo:{gone.id}")
    session.commit()
    ok(run("rm", "~ada/gone", "--yes"))
    ok(run("create", "~ada/next"))
    session.expire_all()
    assert links_of(session, project) == []
    bea = actor_for_user(session, people["bea"])
    assert repo_rights(session, get_repository(session, "ada", "next"), bea) == {RepoRight.read}


def test_set_and_rm_refuse_in_one_line_and_change_nothing(run, session, settings, people, tmp_path):
    ok(run("create", "~ada/tool"))
    ok(run("create", "~acme/site"))
    tree = work_tree(tmp_path / "work", commits=1)
    git(
        tree,
        "push",
        "-q",
        str(storage.path_of(settings, get_repository(session, "ada", "tool"))),
        "main",
    )
    one_line_error(run("set", "~ada/tool", "--default-branch", "nope"), "has no branch 'nope'")
    one_line_error(run("set", "~ada/tool", "--default-branch", "a..b"), "not a valid branch name")
    one_line_error(run("set", "~ada/tool", "--default-rights", "push"), "unknown right 'push'")
    one_line_error(run("set", "~ada/tool", "--group", "nobody"), "no group named ~nobody")
    one_line_error(run("set", "~ada/tool", "--group", "acme", "--no-group"), "choose one")
    one_line_error(run("set", "~acme/site", "--no-group"), "belongs to a group")
    one_line_error(run("set", "~ada/none", "--description", "x"), "no repository ~ada/none")
    one_line_error(run("set", "nonsense", "--description", "x"), "is not a repository")
    one_line_error(run("rm", "~ada/none", "--yes"), "no repository ~ada/none")
    one_line_error(run("ls", "~nobody"), "no user or group named ~nobody")
    session.expire_all()
    tool = get_repository(session, "ada", "tool")
    assert (tool.default_branch, tool.default_rights, tool.owner_group_id) == ("main", "read", None)


def test_access_gives_exact_rights_to_a_user_or_an_address_and_removes_them(run, session, people):
    ok(run("create", "~ada/tool", "--visibility", "private"))
    assert (
        ok(run("access", "~ada/tool", "~Bea", "read,write")) == "~bea\tread,write\ton ~ada/tool\n"
    )
    out = ok(run("access", "~ada/tool", "Carol@Example.org", "read"))
    assert out == "carol@example.org\tread\ton ~ada/tool\n"
    tool = get_repository(session, "ada", "tool")
    bea = actor_for_user(session, people["bea"])
    assert repo_rights(session, tool, bea) == {RepoRight.read, RepoRight.write}
    assert (
        ok(run("access", "~ada/tool", "bea", "none"))
        == "~bea\tno rights (shut out)\ton ~ada/tool\n"
    )
    assert ok(run("access", "~ada/tool", "bea", "--remove")) == "bea\tentry removed\n"
    assert ok(run("access", "~ada/tool", "bea", "--remove")) == "bea\thad no entry\n"
    session.expire_all()
    assert repo_rights(session, tool, bea) == frozenset()
    one_line_error(run("access", "~ada/tool", "nobody", "read"), "no user named ~nobody")
    one_line_error(run("access", "~ada/tool", "acme", "read"), "is a group")
    one_line_error(run("access", "~ada/tool", "bea", "push"), "unknown right 'push'")
    one_line_error(run("access", "~ada/tool", "a@b@c", "read"), "is not an address")
    one_line_error(run("access", "~ada/tool", "bea"), "give RIGHTS, or --remove")


# -- import ----------------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path) -> Path:
    """A repository whose default branch is `trunk`, with a second branch, an annotated
    and a lightweight tag."""
    tree = work_tree(tmp_path / "source", commits=3, branch="trunk")
    git(tree, "tag", "-a", "v1.0", "-m", "Version 1.0")
    git(tree, "checkout", "-q", "-b", "topic")
    (tree / "topic.txt").write_text("topic\n")
    git(tree, "add", ".")
    git(tree, "commit", "-q", "-m", "on topic")
    git(tree, "tag", "light")
    git(tree, "checkout", "-q", "trunk")
    return tree


@pytest.fixture
def hook_calls(settings, monkeypatch):
    """What the AFTER_PUSH hooks were given: (push id, [(ref, old, new)]). Celery is
    configured from the test's settings first (tasks eager), as by any test that
    enqueues, so the CLI's enqueue runs the hooks in this process."""
    assert celery_app.conf.task_always_eager
    calls: list[tuple[int, list[tuple[str, str, str]]]] = []

    def record(session, push, updates) -> None:
        calls.append((push.id, [(u.ref, u.old_sha, u.new_sha) for u in updates]))

    monkeypatch.setattr(AFTER_PUSH, "_functions", [record])
    return calls


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _serve_dumb_http(directory: Path) -> http.server.ThreadingHTTPServer:
    """A static file server on 127.0.0.1: git's dumb HTTP protocol, the real one."""
    handler = functools.partial(QuietFiles, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("kind", ["path", "bundle", "file-url", "http"])
def test_import_gives_the_source_refs_and_records_a_push_whose_hooks_ran(
    run, session, settings, people, source, tmp_path, hook_calls, kind
):
    server = None
    if kind == "path":
        given = str(source)
    elif kind == "bundle":
        given = str(tmp_path / "source.bundle")
        git(source, "bundle", "create", "-q", given, "--all")
    elif kind == "file-url":
        given = source.as_uri()
    else:  # a bare copy served over dumb HTTP, as a static public-inbox mirror would be
        bare = tmp_path / "www" / "source.git"
        git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
        git(bare, "update-server-info")
        server = _serve_dumb_http(tmp_path / "www")
        given = f"http://127.0.0.1:{server.server_address[1]}/source.git"
    try:
        out = ok(run("import", "~ada/copy", given, "--description", "Imported"))
    finally:
        if server is not None:
            server.shutdown()
    assert out == "imported ~ada/copy: 4 branches and tags, default branch trunk\n"

    copy = get_repository(session, "ada", "copy")
    path = storage.path_of(settings, copy)
    assert refs(path) == refs(source)
    assert (path / "HEAD").read_text() == "ref: refs/heads/trunk\n"
    assert (copy.default_branch, copy.description) == ("trunk", "Imported")
    assert copy.pushed_at is not None

    push = session.scalars(select(Push)).one()
    assert (push.repository_id, push.via, push.pusher_user_id) == (copy.id, PushVia.local, None)
    assert push.hooks_state == HooksState.done
    [(push_id, updates)] = hook_calls
    expected = sorted((ref, ZERO_SHA, sha) for sha, ref in (line.split() for line in refs(source)))
    assert push_id == push.id and sorted(updates) == expected


def test_import_of_an_empty_repository_makes_an_empty_one(run, session, tmp_path, people):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "--bare")
    assert ok(run("import", "~ada/blank", str(empty))) == (
        "imported ~ada/blank: 0 branches and tags, default branch main\n"
    )
    assert session.scalars(select(Push)).all() == []


def test_a_refused_import_leaves_nothing_behind(run, session, settings, people, source, tmp_path):
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"not a bundle at all\n")
    # A bundle that needs commits the new repository has not.
    git(source, "bundle", "create", "-q", str(tmp_path / "thin.bundle"), "HEAD~1..trunk")
    cases = [
        (str(junk), "git bundle failed"),
        (str(tmp_path / "thin.bundle"), "git bundle failed"),
        (str(tmp_path / "nowhere"), "no such repository, bundle or URL"),
        (str(tmp_path), "git fetch failed"),  # a directory that is no repository
        ("https://example.com/x.git", "from this machine only"),
        ("ssh://127.0.0.1/x.git", "import from a path, a bundle"),
        ("file://elsewhere/x.git", "a file:// URL names a path on this machine"),
        ("http://127.0.0.1:9/none.git", "git fetch failed"),
    ]
    for given, message in cases:
        one_line_error(run("import", "~ada/copy", given), message)
        assert get_repository(session, "ada", "copy") is None, given
        assert not storage.repository_path(settings, "ada", "copy").exists(), given
    ok(run("create", "~ada/taken"))
    one_line_error(run("import", "~ada/taken", str(source)), "~ada/taken already exists")
    assert storage.repository_path(settings, "ada", "taken").is_dir()
    one_line_error(run("import", "~nobody/x", str(source)), "no user or group named ~nobody")
    assert session.scalars(select(Repository)).all() and session.scalars(select(Push)).all() == []


def test_a_bundle_written_by_the_cli_clones_with_the_same_refs(
    run, session, settings, people, source, tmp_path
):
    ok(run("import", "~ada/copy", str(source)))
    target = tmp_path / "copy.bundle"
    out = ok(run("bundle", "~ada/copy", str(target)))
    assert out.startswith(f"wrote ~ada/copy to {target} (")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--mirror", str(target), str(clone))
    assert refs(clone) == refs(source)
    ok(run("create", "~ada/empty"))
    one_line_error(run("bundle", "~ada/empty", str(tmp_path / "e.bundle")), "is empty")


def test_project_link_names_a_hosted_repository_by_owner_and_name(run, settings, session, people):
    project = MailyardCli(settings, "project")
    ok(project("create", "~ada/hub"))
    ok(run("create", "~ada/tool"))
    tool = get_repository(session, "ada", "tool")
    assert (
        ok(project("link", "~ada/hub", "repo:~ada/tool")) == "linked repo ~ada/tool to ~ada/hub\n"
    )
    ok(project("link", "~ada/hub", "repo:https://example.org/x.git"))
    listed = ok(project("ls", "ada"))
    assert listed == "~ada/hub\trepo:~ada/tool repo:https://example.org/x.git\t\n"
    hub = session.scalars(select(Project)).one()
    assert [link.scope for link in links_of(session, hub)] == [
        f"repo:{tool.id}",
        "repo:https://example.org/x.git",
    ]
    one_line_error(project("link", "~ada/hub", "repo:~ada/none"), "no repository ~ada/none")
    one_line_error(project("link", "~ada/hub", "repo:~ada"), "is not a repository")
    assert ok(project("link", "~ada/hub", "repo:~ada/tool", "--remove")).startswith("unlinked")
    assert ok(project("ls", "ada")) == "~ada/hub\trepo:https://example.org/x.git\t\n"
