"""`mailyard list set/grant/revoke/ls` for who may see and use a list, as an operator
runs them: in-process (tests/cli_runner.py), one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from accounts.access import Actor, actor_for_user
from accounts.models import Group, User, UserAddress
from archive.lists import get_list
from lists.access import may
from tests.cli_runner import MailyardCli

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def run(settings, session):
    """The CLI on the test database, with the list `dev`, the user ~ada and the group
    ~acme in it."""
    run_cli = MailyardCli(settings)
    assert run_cli("list", "create", "dev", "--owner", "owner@example.org").returncode == 0
    ada = User(username="ada", confirmed_at=NOW)
    session.add_all([ada, Group(name="acme")])
    session.flush()
    session.add(
        UserAddress(
            user_id=ada.id,
            address="ada@example.com",
            address_key="ada@example.com",
            confirmed_at=NOW,
        )
    )
    session.commit()
    return run_cli


def lines(out) -> list[str]:
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_set_changes_visibility_rights_moderation_and_group(run, session):
    out = lines(
        run(
            "list",
            "set",
            "dev",
            "--visibility",
            "private",
            "--default-rights",
            "post, browse",
            "--moderation",
            "unsubscribed",
            "--moderation-days",
            "3",
            "--group",
            "~acme",
        )
    )
    for line in (
        "visibility\t'private'",
        "default-rights\t'browse,post'",
        "moderation\t'unsubscribed'",
        "moderation-days\t3",
        "group\t~acme",
    ):
        assert line in out
    assert "dev@lists.example.org\tprivate\t" in run("list", "ls").stdout
    mlist = get_list(session, "dev")
    assert mlist.owner_group_id == session.scalar(select(Group.id).where(Group.name == "acme"))
    assert "group\tnone" in lines(run("list", "set", "dev", "--group", "none"))
    assert "visibility\t'private'" in lines(run("list", "set", "dev"))  # unchanged


def test_grant_and_revoke_by_username_and_by_address(run, session):
    assert lines(run("list", "set", "dev", "--visibility", "private"))
    assert lines(run("list", "grant", "dev", "~Ada", "--rights", "browse,post")) == [
        "~ada\tbrowse,post\ton dev"
    ]
    assert lines(run("list", "grant", "dev", "Bob@Example.org", "--rights", "")) == [
        "bob@example.org\tno rights (shut out)\ton dev"
    ]
    shown = lines(run("list", "set", "dev"))
    assert "access\t~ada\tbrowse,post" in shown and "access\tbob@example.org\t(none)" in shown
    session.expire_all()
    mlist = get_list(session, "dev")
    ada = actor_for_user(session, session.scalars(select(User)).one())
    assert may(session, mlist, ada, "browse") and may(session, mlist, ada, "post")
    assert lines(run("list", "revoke", "dev", "~ada")) == ["~ada\tentry removed"]
    assert lines(run("list", "revoke", "dev", "~ada")) == ["~ada\thad no entry"]
    session.expire_all()
    assert not may(session, get_list(session, "dev"), ada, "browse")
    assert not may(session, mlist, Actor(addresses=frozenset({"bob@example.org"})), "browse")


@pytest.mark.parametrize(
    "args, message",
    [
        (["set", "dev", "--visibility", "secret"], "unknown visibility 'secret'"),
        (["set", "dev", "--default-rights", "browse,fly"], "unknown right 'fly'"),
        (["set", "dev", "--moderation", "sometimes"], "unknown moderation 'sometimes'"),
        (
            ["set", "dev", "--moderation-days", "soon"],
            "--moderation-days must be a whole number from 1 to 365, not 'soon'",
        ),
        (["set", "dev", "--moderation-days", "0"], "--moderation-days must be from 1 to 365"),
        (["set", "dev", "--group", "nogroup"], "no group named 'nogroup'"),
        (["set", "nosuchlist", "--visibility", "private"], "no list named 'nosuchlist'"),
        (["grant", "dev", "~nobody", "--rights", "browse"], "no user named ~nobody"),
        (["grant", "dev", "~acme", "--rights", "browse"], "~acme is a group"),
        (["grant", "dev", "not an address", "--rights", "browse"], "neither ~username nor"),
        (["grant", "dev", "~ada", "--rights", "browse,fly"], "unknown right 'fly'"),
        (["grant", "nosuchlist", "~ada", "--rights", "browse"], "no list named 'nosuchlist'"),
        (["revoke", "dev", "~nobody"], "no user named ~nobody"),
    ],
)
def test_bad_input_is_one_line(run, args, message):
    out = run("list", *args)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_the_new_commands_have_help(run):
    for command in ("grant", "revoke", "set"):
        out = run("list", command, "--help")
        assert out.returncode == 0 and "Usage: mailyard list" in out.stdout
