"""`mailyard user create|ls|admin` as an operator runs them: in-process (tests/cli_runner.py),
with one real process reading the password from a real pipe, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from accounts.access import actor_for_address
from accounts.passwords import check_password
from accounts.users import find_user
from tests.cli_runner import CliResult, MailyardCli
from tests.served import ServedMailyard


@pytest.fixture
def run(settings):
    cli = MailyardCli(settings, "user")

    def run_cli(*args: str, stdin: str = "") -> CliResult:
        return cli(*args, input=stdin)

    return run_cli


@pytest.fixture
def run_process(settings):
    """`mailyard user ...` in a real process, for what a real stdin pipe does."""
    env = ServedMailyard(settings).env

    def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mailyard.cli", "user", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run_cli


def one_line_error(out: CliResult, text: str) -> None:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr
    assert text in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_create_confirms_at_once_and_reads_the_password_from_stdin(run, run_process, session):
    out = run_process(
        "create",
        "Ada",
        "Ada@Example.org",
        "--admin",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "created ~ada <Ada@example.org>, admin (with a password)\n"
    ada = find_user(session, "ada")
    assert ada.is_admin and ada.confirmed_at is not None
    assert check_password(ada, "a long enough password")
    assert actor_for_address(session, "ada@example.org").user_id == ada.id

    out = run("create", "bea", "bea@example.org")
    assert "no password yet: set one at /account/reset" in out.stdout
    out = run("ls")
    assert out.stdout.splitlines() == [
        "ada\tAda@example.org\tadmin\tconfirmed",
        "bea\tbea@example.org\t-\tconfirmed",
    ]
    assert run("admin", "bea").stdout == "~bea is an admin\n"
    assert run("admin", "ada", "--revoke").stdout == "~ada is no longer an admin\n"
    assert run("ls").stdout.splitlines()[0] == "ada\tAda@example.org\t-\tconfirmed"


def test_bad_input_is_one_line_and_changes_nothing(run, session):
    assert run("create", "ada", "ada@example.org").returncode == 0
    one_line_error(run("create", "Bad Name!", "b@example.org"), "invalid name 'bad name!'")
    one_line_error(run("create", "bea", "not-an-address"), "invalid address 'not-an-address'")
    one_line_error(run("create", "bea", "ADA@example.org"), "already an address of ~ada")
    one_line_error(run("create", "ada", "other@example.org"), "the name 'ada' is taken")
    one_line_error(
        run("create", "bea", "bea@example.org", "--password-stdin", stdin="short\n"),
        "at least 10 characters",
    )
    one_line_error(run("create", "bea", "bea@example.org", "--password-stdin"), "no password")
    one_line_error(run("admin", "nobody"), "no user named 'nobody'")
    assert find_user(session, "bea") is None
    assert run("ls").stdout.splitlines() == ["ada\tada@example.org\t-\tconfirmed"]
