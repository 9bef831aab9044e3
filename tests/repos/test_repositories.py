"""Repositories: made on disk with pygit2, named like projects, and pushes recorded by
git's own post-receive hook, whose hooks then run."""

from __future__ import annotations

import subprocess

import pygit2
import pytest
from sqlalchemy import select

from accounts.access import ANONYMOUS, actor_for_user
from accounts.projects import ProjectError, create_project
from repos import storage
from repos.access import RepoRight, repo_rights
from repos.models import HooksState, Push, PushVia, RefUpdate
from repos.pushes import PushInputError, parse_post_receive
from repos.repositories import RepoError, create_repository, get_repository
from tests.accounts.helpers import make_user
from tests.repos.helpers import git, git_env, work_tree


@pytest.fixture
def ada(session):
    user = make_user(session, "ada", "ada@example.org")
    session.commit()
    return user


def test_create_makes_a_bare_repository_with_hooks(session, settings, ada) -> None:
    repo = create_repository(session, settings, ada, "Hello", description="hi")
    session.commit()
    path = storage.path_of(settings, repo)
    assert path == settings.data_dir / "repos" / "ada" / "hello.git"
    assert pygit2.Repository(str(path)).is_bare
    assert (path / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (path / "hooks" / "post-receive").stat().st_mode & 0o111
    assert get_repository(session, "~ADA", "hello.git").id == repo.id


@pytest.mark.parametrize("name", ["x.git", "a..b", "settings", "-x", "a/b", "", "a.lock"])
def test_bad_names_are_refused(session, settings, ada, name) -> None:
    with pytest.raises(RepoError):
        create_repository(session, settings, ada, name)


def test_repositories_and_projects_share_names(session, settings, ada) -> None:
    create_repository(session, settings, ada, "tool")
    create_project(session, ada, "hub")
    with pytest.raises(ProjectError, match="is a repository"):
        create_project(session, ada, "tool")
    with pytest.raises(RepoError, match="is a project"):
        create_repository(session, settings, ada, "hub")


def test_rights(session, settings, ada) -> None:
    public = create_repository(session, settings, ada, "open")
    private = create_repository(session, settings, ada, "closed", visibility="private")
    assert repo_rights(session, public, ANONYMOUS) == {RepoRight.read}
    assert repo_rights(session, private, ANONYMOUS) == frozenset()
    assert repo_rights(session, private, actor_for_user(session, ada)) == set(RepoRight)


def test_post_receive_input() -> None:
    old, new = "0" * 40, "a" * 40
    [change] = parse_post_receive(f"{old} {new} refs/heads/main\n")
    assert change.created and not change.deleted
    with pytest.raises(PushInputError):
        parse_post_receive("nonsense\n")


def test_a_push_is_recorded_and_its_hooks_run(session, settings, ada, tmp_path) -> None:
    """git runs the hook in its own process, which records the push and (tasks run
    eagerly here) runs the AFTER_PUSH hooks there."""
    repo = create_repository(session, settings, ada, "pushed")
    session.commit()
    tree = work_tree(tmp_path / "work", commits=2)
    env = storage.git_environment(settings, repo, pusher_id=ada.id, via=PushVia.ssh)
    result = git(
        tree, "push", str(storage.path_of(settings, repo)), "main", env={**env, **git_env()}
    )
    assert result.returncode == 0, result.stderr
    head = git(tree, "rev-parse", "HEAD").stdout.strip()
    session.expire_all()
    push = session.scalars(select(Push)).one()
    assert (push.via, push.pusher_user_id) == (PushVia.ssh, ada.id)
    assert push.hooks_state == HooksState.done
    update = session.scalars(select(RefUpdate)).one()
    assert (update.ref, update.old_sha, update.new_sha) == ("refs/heads/main", "0" * 40, head)


def test_a_push_git_was_not_started_for_records_nothing(session, settings, ada, tmp_path):
    repo = create_repository(session, settings, ada, "direct")
    session.commit()
    tree = work_tree(tmp_path / "work", commits=1)
    git(tree, "push", str(storage.path_of(settings, repo)), "main")
    assert session.scalars(select(Push)).all() == []


def test_a_push_of_a_thousand_commits_is_one_ref_update(session, settings, ada, tmp_path):
    """What a push records is its ref updates, not its commits: 1,000 commits are one
    row (hooks walk the commits with pygit2 when they need them)."""
    repo = create_repository(session, settings, ada, "many")
    session.commit()
    tree = tmp_path / "many"
    tree.mkdir()
    git(tree, "init", "-q", "-b", "main")
    stream = []
    for i in range(1000):
        data = f"{i}\n"
        stream.append(
            f"commit refs/heads/main\ncommitter Ada <ada@example.org> {1700000000 + i} +0000\n"
            f"data {len(f'change {i}')}\nchange {i}\n"
            f"M 100644 inline n.txt\ndata {len(data)}\n{data}\n"
        )
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=tree, input="".join(stream), text=True, check=True
    )
    env = storage.git_environment(settings, repo, pusher_id=ada.id, via=PushVia.http)
    result = git(
        tree, "push", str(storage.path_of(settings, repo)), "main", env={**env, **git_env()}
    )
    assert result.returncode == 0, result.stderr
    session.expire_all()
    push = session.scalars(select(Push)).one()
    assert push.hooks_state == HooksState.done
    assert len(session.scalars(select(RefUpdate)).all()) == 1
    assert git(tree, "rev-list", "--count", "main").stdout.strip() == "1000"
