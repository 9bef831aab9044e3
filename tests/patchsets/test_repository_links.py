"""Which repositories a list's patches are for: direct links, a default, projects that
link both, and the subject prefix naming one."""

from __future__ import annotations

import pytest

from accounts.projects import add_link, create_project, hosted_repo_scope
from lists.manage import create_list
from patchsets.models import Patchset
from patchsets.repositories import (
    default_repository,
    link_repository,
    linked_repositories,
    lists_of_repository,
    repository_for,
    repository_named_by,
    unlink_repository,
)
from repos.repositories import create_repository
from tests.accounts.helpers import make_user


@pytest.fixture
def world(session, settings):
    ada = make_user(session, "ada", "ada@example.org")
    mlist = create_list(session, "dev", "ada@example.org")
    tool = create_repository(session, settings, ada, "tool")
    docs = create_repository(session, settings, ada, "docs")
    session.commit()
    return mlist, tool, docs, ada


def _patchset(session, mlist, tags) -> Patchset:
    patchset = Patchset(list_id=mlist.id, first_message_id=f"{tags}@x", tags=list(tags))
    session.add(patchset)
    session.flush()
    return patchset


def test_prefix_names_a_linked_repository_else_the_default(session, world) -> None:
    mlist, tool, docs, _ = world
    link_repository(session, mlist, tool, default=True)
    link_repository(session, mlist, docs)
    assert [r.name for r in linked_repositories(session, mlist.id)] == ["tool", "docs"]
    assert repository_for(session, _patchset(session, mlist, ["DOCS"])).id == docs.id
    assert repository_for(session, _patchset(session, mlist, ["net-next"])).id == tool.id
    assert repository_for(session, _patchset(session, mlist, [])).id == tool.id


def test_no_default_among_several_is_none_one_link_is_the_default(session, world) -> None:
    mlist, tool, docs, _ = world
    assert default_repository(session, mlist.id) is None
    link_repository(session, mlist, tool)
    assert default_repository(session, mlist.id).id == tool.id
    link_repository(session, mlist, docs)
    assert default_repository(session, mlist.id) is None
    link_repository(session, mlist, docs, default=True)
    assert default_repository(session, mlist.id).id == docs.id
    link_repository(session, mlist, tool, default=True)  # one default per list
    assert default_repository(session, mlist.id).id == tool.id
    assert unlink_repository(session, mlist, tool)
    assert not unlink_repository(session, mlist, tool)
    assert default_repository(session, mlist.id).id == docs.id


def test_a_project_links_its_list_to_its_repositories(session, world) -> None:
    mlist, tool, _, ada = world
    project = create_project(session, ada, "hub")
    add_link(session, project, f"list:{mlist.id}")
    add_link(session, project, hosted_repo_scope(tool.id))
    assert [r.id for r in linked_repositories(session, mlist.id)] == [tool.id]
    assert lists_of_repository(session, tool.id) == [mlist.id]
    assert repository_for(session, _patchset(session, mlist, [])).id == tool.id


def test_repository_named_by_is_pure() -> None:
    assert repository_named_by(["net", "Tool"], ["docs", "tool"]) == 1
    assert repository_named_by([], ["tool"]) is None
