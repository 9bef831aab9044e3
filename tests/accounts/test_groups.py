"""Groups and projects as the accounts domain keeps them (roles, the last owner, names,
links), and the `mailyard group`, `project` and `tracker set` commands with their
one-line errors."""

from __future__ import annotations

import pytest

from accounts.access import actor_for_user
from accounts.groups import (
    GroupError,
    create_group,
    get_group,
    groups_acted_for,
    groups_of,
    may_manage_members,
    members_of,
    remove_member,
    role_of,
    set_member,
)
from accounts.models import GroupRole, User
from accounts.projects import (
    ProjectError,
    add_link,
    create_project,
    get_project,
    links_of,
    may_manage_project,
    parse_link,
    parse_project_path,
    remove_link,
    repo_scope,
)
from core.db import new_session
from tests.accounts.helpers import make_user
from tests.cli_runner import CliResult, MailyardCli
from trackers.access import may, tracker_rights
from trackers.tickets import create_tracker, get_tracker


@pytest.fixture
def users(session) -> dict[str, User]:
    made = {name: make_user(session, name) for name in ("ora", "mia", "max", "eve")}
    session.commit()
    return made


# -- groups ----------------------------------------------------------------------------------


def test_the_creator_of_a_group_is_its_owner(session, users):
    acme = create_group(session, "Acme", users["ora"], "  Makers of things ")
    assert acme.name == "acme" and acme.description == "Makers of things"
    assert role_of(session, acme, users["ora"]) is GroupRole.owner
    assert groups_of(session, users["ora"]) == [(acme, GroupRole.owner)]


def test_group_names_share_the_namespace_of_usernames(session, users):
    with pytest.raises(GroupError, match="taken"):
        create_group(session, "ora", users["mia"])
    create_group(session, "acme", users["ora"])
    with pytest.raises(GroupError, match="taken"):
        create_group(session, "ACME", users["mia"])
    with pytest.raises(GroupError, match="reserved"):
        create_group(session, "admin", users["mia"])
    with pytest.raises(GroupError, match="invalid name"):
        create_group(session, "a.b", users["mia"])


def test_members_are_added_their_roles_changed_and_removed(session, users):
    acme = create_group(session, "acme", users["ora"])
    set_member(session, acme, users["mia"], GroupRole.maintainer)
    set_member(session, acme, users["max"], GroupRole.member)
    assert [(u.username, r) for u, r in members_of(session, acme)] == [
        ("ora", GroupRole.owner),
        ("mia", GroupRole.maintainer),
        ("max", GroupRole.member),
    ]
    set_member(session, acme, users["max"], GroupRole.owner)
    assert role_of(session, acme, users["max"]) is GroupRole.owner
    remove_member(session, acme, users["mia"])
    assert role_of(session, acme, users["mia"]) is None
    with pytest.raises(GroupError, match="not a member"):
        remove_member(session, acme, users["eve"])


def test_the_last_owner_can_neither_leave_nor_be_demoted(session, users):
    acme = create_group(session, "acme", users["ora"])
    set_member(session, acme, users["mia"], GroupRole.maintainer)
    with pytest.raises(GroupError, match="last owner"):
        remove_member(session, acme, users["ora"])
    with pytest.raises(GroupError, match="last owner"):
        set_member(session, acme, users["ora"], GroupRole.member)
    set_member(session, acme, users["mia"], GroupRole.owner)
    set_member(session, acme, users["ora"], GroupRole.member)  # now she may
    remove_member(session, acme, users["ora"])
    assert [u.username for u, _ in members_of(session, acme)] == ["mia"]


def test_only_owners_manage_members_and_owners_or_maintainers_act_for_the_group(session, users):
    acme = create_group(session, "acme", users["ora"])
    set_member(session, acme, users["mia"], GroupRole.maintainer)
    set_member(session, acme, users["max"], GroupRole.member)
    session.commit()
    actor = {name: actor_for_user(session, user) for name, user in users.items()}
    assert may_manage_members(actor["ora"], acme)
    assert not may_manage_members(actor["mia"], acme)
    assert groups_acted_for(session, actor["mia"]) == [acme]
    assert groups_acted_for(session, actor["max"]) == []


def test_a_groups_roles_give_rights_on_its_private_tracker(session, users):
    acme = create_group(session, "acme", users["ora"])
    set_member(session, acme, users["mia"], GroupRole.maintainer)
    set_member(session, acme, users["max"], GroupRole.member)
    tracker = create_tracker(session, "sec", "someone@example.org")
    tracker.visibility, tracker.owner_group_id = "private", acme.id
    session.commit()
    actor = {name: actor_for_user(session, user) for name, user in users.items()}
    assert tracker_rights(session, tracker, actor["mia"]) == {
        "browse",
        "submit",
        "comment",
        "edit",
        "triage",
    }
    assert tracker_rights(session, tracker, actor["max"]) == {"browse", "submit", "comment"}
    assert not may(session, tracker, actor["eve"], "browse")


# -- projects ------------------------------------------------------------------------------


def test_projects_belong_to_a_user_or_a_group(session, users):
    acme = create_group(session, "acme", users["ora"])
    mine = create_project(session, users["mia"], "Dotfiles", "My dotfiles")
    theirs = create_project(session, acme, "widget")
    assert (mine.owner_name, mine.name, mine.owner_user_id) == ("mia", "dotfiles", users["mia"].id)
    assert (theirs.owner_name, theirs.owner_group_id) == ("acme", acme.id)
    assert get_project(session, "~ACME", "Widget") is theirs
    with pytest.raises(ProjectError, match="already exists"):
        create_project(session, acme, "widget")
    with pytest.raises(ProjectError, match="invalid project name"):
        create_project(session, acme, "members")
    with pytest.raises(ProjectError, match="invalid project name"):
        create_project(session, acme, "a/b")


def test_who_manages_a_project(session, users):
    acme = create_group(session, "acme", users["ora"])
    set_member(session, acme, users["mia"], GroupRole.maintainer)
    set_member(session, acme, users["max"], GroupRole.member)
    widget = create_project(session, acme, "widget")
    dotfiles = create_project(session, users["eve"], "dotfiles")
    session.commit()
    actor = {name: actor_for_user(session, user) for name, user in users.items()}
    assert may_manage_project(actor["ora"], widget) and may_manage_project(actor["mia"], widget)
    assert not may_manage_project(actor["max"], widget)
    assert may_manage_project(actor["eve"], dotfiles)
    assert not may_manage_project(actor["ora"], dotfiles)


def test_links_are_scopes_added_once_and_removed(session, users):
    project = create_project(session, users["mia"], "dotfiles")
    add_link(session, project, "list:3")
    add_link(session, project, "list:3")
    add_link(session, project, repo_scope("https://git.example.org/mia/dotfiles"))
    assert [link.scope for link in links_of(session, project)] == [
        "list:3",
        "repo:https://git.example.org/mia/dotfiles",
    ]
    assert remove_link(session, project, "list:3") and not remove_link(session, project, "list:3")


@pytest.mark.parametrize(
    "text,error",
    [
        ("wiki:foo", "is not a link"),
        ("list:", "is not a link"),
        ("repo:javascript:alert(1)", "not a repository URL"),
        ("repo:https://", "not a repository URL"),
    ],
)
def test_bad_links_say_what_is_wrong(text, error):
    with pytest.raises(ProjectError, match=error):
        kind, value = parse_link(text)
        repo_scope(value)


def test_project_paths_are_owner_slash_name():
    assert parse_project_path("~Acme/Widget") == ("acme", "widget")
    assert parse_project_path("acme/widget") == ("acme", "widget")
    for bad in ("acme", "~acme/", "/widget", "a/b/c"):
        with pytest.raises(ProjectError, match="~OWNER/NAME"):
            parse_project_path(bad)


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def run(settings, users):
    """The CLI in-process (tests/cli_runner.py); tests/mailyard/test_cli.py runs real ones."""
    return MailyardCli(settings)


def one_line_error(out: CliResult, text: str) -> None:
    assert out.returncode == 1, out
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("Error: "), out.stderr
    assert text in out.stderr, out.stderr


def test_group_commands(run, settings, users):
    out = run("group", "create", "acme", "--owner", "ora", "--description", "Makers")
    assert out.returncode == 0 and "created ~acme" in out.stdout, out.stderr
    assert run("group", "add", "acme", "mia", "--role", "maintainer").returncode == 0
    assert run("group", "add", "acme", "~max").returncode == 0
    out = run("group", "ls")
    assert "~acme\t3 members\tMakers" in out.stdout
    out = run("group", "ls", "acme")
    assert out.stdout.splitlines() == ["~ora\towner", "~mia\tmaintainer", "~max\tmember"]
    assert run("group", "remove", "acme", "max").returncode == 0
    with new_session(settings) as session:
        assert [u.username for u, _ in members_of(session, get_group(session, "acme"))] == [
            "ora",
            "mia",
        ]


def test_group_commands_refuse_bad_input_in_one_line(run, users):
    one_line_error(run("group", "create", "ora", "--owner", "ora"), "is taken")
    one_line_error(run("group", "create", "acme", "--owner", "nobody"), "no user named ~nobody")
    assert run("group", "create", "acme", "--owner", "ora").returncode == 0
    one_line_error(run("group", "add", "acme", "mia", "--role", "boss"), "unknown role 'boss'")
    one_line_error(run("group", "add", "nope", "mia"), "no group named ~nope")
    one_line_error(run("group", "remove", "acme", "ora"), "last owner")
    one_line_error(run("group", "remove", "acme", "mia"), "not a member")


def test_project_commands(run, settings, users):
    assert run("group", "create", "acme", "--owner", "ora").returncode == 0
    assert run("list", "create", "dev", "--owner", "o@example.org").returncode == 0
    assert run("tracker", "create", "bugs", "--owner", "o@example.org").returncode == 0
    out = run("project", "create", "~acme/widget", "--description", "The widget")
    assert out.returncode == 0 and "/~acme/widget" in out.stdout, out.stderr
    for link in ("list:dev", "tracker:bugs", "repo:https://git.example.org/acme/widget"):
        out = run("project", "link", "~acme/widget", link)
        assert out.returncode == 0, out.stderr
    out = run("project", "ls")
    assert out.stdout.splitlines() == [
        "~acme/widget\tlist:dev tracker:bugs repo:https://git.example.org/acme/widget\tThe widget"
    ]
    assert run("project", "link", "~acme/widget", "list:dev", "--remove").returncode == 0
    assert "list:dev" not in run("project", "ls", "~acme").stdout


def test_project_commands_refuse_bad_input_in_one_line(run, users):
    one_line_error(run("project", "create", "widget"), "write ~OWNER/NAME")
    one_line_error(run("project", "create", "~nobody/widget"), "no user or group named ~nobody")
    assert run("project", "create", "~ora/widget").returncode == 0
    one_line_error(run("project", "create", "~ora/widget"), "already exists")
    one_line_error(run("project", "link", "~ora/nope", "list:dev"), "no project ~ora/nope")
    one_line_error(run("project", "link", "~ora/widget", "list:dev"), "no list named 'dev'")
    one_line_error(run("project", "link", "~ora/widget", "wiki:x"), "is not a link")
    one_line_error(run("project", "link", "~ora/widget", "repo:ftp://x"), "not a repository URL")


def test_tracker_set_and_grant(run, settings, users):
    assert run("group", "create", "acme", "--owner", "ora").returncode == 0
    assert run("tracker", "create", "sec", "--owner", "o@example.org").returncode == 0
    out = run(
        "tracker",
        "set",
        "sec",
        "--visibility",
        "private",
        "--default-rights",
        "",
        "--group",
        "acme",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "sec: private, default rights none, group ~acme"
    assert run("tracker", "grant", "sec", "~mia", "--rights", "browse,comment").returncode == 0
    with new_session(settings) as session:
        tracker = get_tracker(session, "sec")
        mia = actor_for_user(session, session.get(User, users["mia"].id))
        assert tracker_rights(session, tracker, mia) == {"browse", "comment"}
    out = run("tracker", "set", "sec", "--group", "none")
    assert out.stdout.strip() == "sec: private, default rights none, group none"


def test_tracker_set_refuses_bad_input_in_one_line(run, users):
    assert run("tracker", "create", "sec", "--owner", "o@example.org").returncode == 0
    one_line_error(run("tracker", "set", "sec"), "nothing to change")
    one_line_error(run("tracker", "set", "nope", "--visibility", "private"), "no tracker named")
    one_line_error(run("tracker", "set", "sec", "--visibility", "secret"), "unknown visibility")
    one_line_error(run("tracker", "set", "sec", "--default-rights", "read"), "unknown right")
    one_line_error(run("tracker", "set", "sec", "--group", "nope"), "no group named ~nope")
    one_line_error(run("tracker", "grant", "sec", "~nobody"), "no user named ~nobody")
    one_line_error(run("tracker", "grant", "sec", "a@b.c", "--rights", "x"), "unknown right")
