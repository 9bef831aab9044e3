"""git over SSH: what an SSH login may ask for (`repos.ssh_access`), what sshd's
AuthorizedKeysCommand answers, and real clones, fetches and pushes through a real sshd
configured with the README's own sshd_config block."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.access import Visibility
from accounts.ssh_keys import add_ssh_key
from core.settings import Settings
from repos.access import RepoRight, set_access
from repos.models import HooksState, Push, PushVia, RefUpdate
from repos.repositories import create_repository, get_repository
from repos.ssh_access import (
    NO_SHELL,
    GitRequest,
    GitService,
    SshRefused,
    authorize,
    authorized_keys_line,
    parse_ssh_command,
)
from tests.accounts.helpers import ED25519, make_user, ssh_keygen
from tests.cli_runner import MailyardCli
from tests.repos.helpers import git, git_env, work_tree
from tests.smtp_sink import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
SSHD = Path("/usr/sbin/sshd")

# --- what a login may ask for -----------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "service"),
    [
        ("git-upload-pack '~ada/x'", GitService.upload_pack),
        ("git-upload-pack '/~ada/x.git'", GitService.upload_pack),
        ("git-upload-pack 'ada/x'", GitService.upload_pack),
        ("git-upload-pack '~ADA/X.git/'", GitService.upload_pack),
        ("git upload-pack '~ada/x'", GitService.upload_pack),
        ("git-receive-pack '~ada/x'", GitService.receive_pack),
        ("git receive-pack '/~ada/x'", GitService.receive_pack),
        ("git-upload-archive '~ada/x'", GitService.upload_archive),
        ("git-upload-pack ~ada/x", GitService.upload_pack),
    ],
)
def test_git_commands_are_read_as_git_sends_them(command, service) -> None:
    request = parse_ssh_command(command)
    assert request == GitRequest(service, "ada", "x")
    assert request.path_name == "~ada/x"


def test_the_right_each_command_needs() -> None:
    assert parse_ssh_command("git-upload-pack '~a/x'").right is RepoRight.read
    assert parse_ssh_command("git-upload-archive '~a/x'").right is RepoRight.read
    assert parse_ssh_command("git-receive-pack '~a/x'").right is RepoRight.write
    assert GitService.receive_pack.git_args == ("git", "receive-pack")


def test_git_quoting_is_undone() -> None:
    """git's sq_quote writes ' as '\\'' and ! as '\\!': a name with them is read back
    whole (and then refused as no repository name, not split into arguments)."""
    with pytest.raises(SshRefused, match=r"\"~ada/it's!\" is not a repository"):
        parse_ssh_command("git-upload-pack '~ada/it'\\''s'\\!''")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (None, NO_SHELL),
        ("", NO_SHELL),
        ("   ", NO_SHELL),
        ("ls", "'ls' is not run here; only git's clone, fetch, push and archive"),
        ("sh -c 'id'", "'sh' is not run here"),
        ("git-shell -c x", "'git-shell' is not run here"),
        ("git --exec-path=/tmp upload-pack '~a/x'", "'git' is not run here"),
        ("scp -t /etc", "'scp' is not run here"),
        ("git-upload-pack", "git-upload-pack takes one repository"),
        ("git-upload-pack '~a/x' '~a/y'", "git-upload-pack takes one repository"),
        ("git-upload-pack --strict '~a/x'", "git-upload-pack takes one repository"),
        ("git-upload-pack '~ada/../etc'", "'~ada/../etc' is not a repository"),
        ("git-upload-pack '~ada/x/../../y'", "is not a repository"),
        ("git-upload-pack '..'", "is not a repository"),
        ("git-upload-pack '~ada'", "'~ada' is not a repository"),
        ("git-upload-pack '~ada/x/y'", "is not a repository"),
        ("git-upload-pack '/srv/git/x.git'", "is not a repository"),
        ("git-upload-pack '~ada/-x'", "is not a repository"),
        ("git-upload-pack '~ada/x\nid'", "is not a repository"),
        ("git-upload-pack 'unclosed", "cannot read the command"),
    ],
)
def test_anything_else_is_refused_with_one_line(command, message) -> None:
    with pytest.raises(SshRefused) as refused:
        parse_ssh_command(command)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_interactive_login_is_greeted_and_refused() -> None:
    with pytest.raises(SshRefused, match=r"^Hi ada! You are signed in, but there is no shell"):
        parse_ssh_command(None, username="ada")


def test_a_long_command_is_shortened_in_the_refusal() -> None:
    with pytest.raises(SshRefused) as refused:
        parse_ssh_command("x" * 5000)
    assert len(str(refused.value)) < 200


def test_no_rights_is_one_refusal_whether_or_not_the_repository_exists() -> None:
    fetch = parse_ssh_command("git-upload-pack '~ada/x'")
    push = parse_ssh_command("git-receive-pack '~ada/x'")
    with pytest.raises(SshRefused, match=r"^no repository ~ada/x$"):
        authorize(fetch, frozenset())
    with pytest.raises(SshRefused, match=r"^no repository ~ada/x$"):
        authorize(push, frozenset())
    with pytest.raises(SshRefused, match=r"^you may not push to ~ada/x"):
        authorize(push, frozenset({RepoRight.read}))
    authorize(fetch, frozenset({RepoRight.read}))
    authorize(push, frozenset({RepoRight.read, RepoRight.write}))


def _sshd_dequote(option: str) -> str:
    """How sshd reads command="..." back (auth-options.c, opt_dequote): only \\" is an
    escape, and the value ends at the first other "."""
    assert option.startswith('"')
    out, i = [], 1
    while option[i] != '"':
        if option[i] == "\\" and option[i + 1] == '"':
            i += 1
        out.append(option[i])
        i += 1
    return "".join(out)


def test_the_forced_command_survives_sshd_and_the_shell_whatever_its_paths() -> None:
    argv = ["/opt/my venv/bin/python", "-m", "mailyard", "--data-dir", '/srv/it\'s "odd" \\$x']
    line = authorized_keys_line(argv, "ssh-ed25519", "AAAAC3Nz+/=")
    assert line.endswith('",restrict ssh-ed25519 AAAAC3Nz+/=')
    command = _sshd_dequote(line.removeprefix("command="))
    assert shlex.split(command) == argv
    with pytest.raises(SshRefused):
        authorized_keys_line([*argv, "a\nb"], "ssh-ed25519", "AAAA")
    with pytest.raises(SshRefused):
        authorized_keys_line(argv, "ssh-ed25519", 'AAAA" command="sh')


# --- sshd's AuthorizedKeysCommand and the forced command, in-process --------------------

ED25519_TYPE, ED25519_BASE64 = ED25519.split()[:2]


@pytest.fixture
def ada(session):
    return make_user(session, "ada", "ada@example.org")


@pytest.fixture
def ssh_cli(settings) -> MailyardCli:
    return MailyardCli(settings, "ssh")


def test_authorized_keys_prints_a_forced_command_for_a_registered_key(
    session, settings, ada, ssh_cli
) -> None:
    key = add_ssh_key(session, ada, ED25519)
    session.commit()
    result = ssh_cli("authorized-keys", "git", ED25519_TYPE, ED25519_BASE64)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.endswith(f",restrict {ED25519_TYPE} {ED25519_BASE64}")
    command = shlex.split(_sshd_dequote(line.removeprefix("command=")))
    assert command == [
        sys.executable,
        "-m",
        "mailyard",
        "--data-dir",
        str(settings.data_dir),
        "ssh",
        "shell",
        str(key.id),
    ]


def test_authorized_keys_repeats_the_config_file(session, settings, ada, ssh_cli) -> None:
    add_ssh_key(session, ada, ED25519)
    session.commit()
    config = settings.data_dir / "elsewhere.toml"
    config.write_text("")
    result = MailyardCli(settings, "--config", str(config), "ssh")(
        "authorized-keys", "git", ED25519_TYPE, ED25519_BASE64
    )
    command = shlex.split(_sshd_dequote(result.stdout.strip().removeprefix("command=")))
    assert command[5:7] == ["--config", str(config)]


@pytest.mark.parametrize(
    ("login", "key_type", "key"),
    [
        ("root", ED25519_TYPE, ED25519_BASE64),  # not the git user
        ("git", "ssh-rsa", ED25519_BASE64),  # the blob is not of that type
        (
            "git",
            ED25519_TYPE,
            "AAAAC3NzaC1lZDI1NTE5AAAAIFaybGfKy3n4H9yrXRjU0MSnIOiI0OxHolmgiLs2qsZn",
        ),
        ("git", ED25519_TYPE, "not base64!"),
    ],
)
def test_authorized_keys_prints_nothing_for_anything_else(
    session, ada, ssh_cli, login, key_type, key
) -> None:
    add_ssh_key(session, ada, ED25519)
    session.commit()
    result = ssh_cli("authorized-keys", login, key_type, key)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_an_unconfirmed_users_key_does_not_log_in(session, ada, ssh_cli) -> None:
    add_ssh_key(session, ada, ED25519)
    ada.confirmed_at = None
    session.commit()
    assert ssh_cli("authorized-keys", "git", ED25519_TYPE, ED25519_BASE64).stdout == ""


@pytest.fixture
def shell_as(session, settings, ada):
    """`mailyard ssh shell KEY-ID` of a key of ada's, as sshd runs it for `command`. Only
    for refusals: a command it accepts execs git in place of the test process."""
    key = add_ssh_key(session, ada, ED25519)
    session.commit()

    def run(command: str | None, key_id: int = key.id):
        cli = MailyardCli(settings, "ssh")
        cli.env["SSH_ORIGINAL_COMMAND"] = command
        return cli("shell", str(key_id))

    return run


def _refusal(result) -> str:
    assert result.returncode == 1 and result.stdout == "", result
    [line] = result.stderr.splitlines()
    return line


def test_the_shell_refuses_what_is_not_git(shell_as) -> None:
    assert _refusal(shell_as(None)).startswith("Error: Hi ada! You are signed in, but")
    assert "'ls' is not run here" in _refusal(shell_as("ls"))


def test_a_private_repository_is_refused_as_a_missing_one(session, settings, ada, shell_as) -> None:
    bob = make_user(session, "bob")
    create_repository(session, settings, bob, "secret", visibility=Visibility.private)
    session.commit()
    private = shell_as("git-upload-pack '~bob/secret'")
    missing = shell_as("git-upload-pack '~bob/nothing'")
    assert _refusal(private) == "Error: no repository ~bob/secret"
    assert _refusal(private) == _refusal(missing).replace("nothing", "secret")


def test_a_reader_may_not_push(session, settings, ada, shell_as) -> None:
    bob = make_user(session, "bob")
    create_repository(session, settings, bob, "tool")
    session.commit()
    refused = _refusal(shell_as("git-receive-pack '~bob/tool'"))
    assert refused.startswith("Error: you may not push to ~bob/tool")


def test_a_removed_key_is_refused(shell_as) -> None:
    assert "no longer registered" in _refusal(shell_as("git-upload-pack '~ada/x'", key_id=999))


# --- a real sshd ------------------------------------------------------------------------


def readme_sshd_config() -> str:
    [block] = re.findall(r"```sshd_config\n(.*?)```", README.read_text(), re.S)
    for line in ("Match User git", "AuthorizedKeysCommandUser git", "/opt/mailyard/venv/bin/"):
        assert line in block, f"the test makes the README's block its own by {line!r}"
    return block


def _skip_unless_sshd_can_run() -> None:
    if not SSHD.exists() or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH is missing (apt-get install openssh-server openssh-client)")
    if os.geteuid() != 0:
        pytest.skip("sshd must run as root to log anyone in (these tests log in as root)")
    if not Path(sys.executable).is_absolute():
        pytest.skip("the Python running the tests has no absolute path for sshd to run")


@dataclass
class Sshd:
    port: int
    directory: Path
    process: subprocess.Popen

    def log(self) -> str:
        return (self.directory / "sshd.log").read_text(errors="replace")


def _write_config(settings: Settings, path: Path) -> None:
    """The settings `mailyard` run by sshd reads (it gets no environment): this test's,
    with root as the git user (sshd here can only log in its own user)."""
    values = {
        "database_url": settings.database_url,
        "broker_url": settings.broker_url,
        "repos_dir": settings.repos_dir,
        "domain": settings.domain,
        "base_url": settings.base_url,
        "ssh_user": "root",
    }
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join([*lines, "tasks_eager = true", ""]))


@pytest.fixture
def sshd(settings, tmp_path) -> Iterator[Sshd]:
    """sshd on a free loopback port, in the foreground, with a host key of its own and
    the README's `Match User git` block (the paths and the user made this test's)."""
    _skip_unless_sshd_can_run()
    _write_config(settings, settings.data_dir / "mailyard.toml")
    directory = tmp_path / "sshd"
    directory.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "host_key")],
        check=True,
        capture_output=True,
    )
    block = (
        readme_sshd_config()
        .replace("/opt/mailyard/venv/bin/mailyard", f"{sys.executable} -m mailyard")
        .replace("/var/lib/mailyard", str(settings.data_dir))
        .replace("Match User git", "Match User root")
        .replace("AuthorizedKeysCommandUser git", "AuthorizedKeysCommandUser root")
    )
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {directory / 'host_key'}\n"
        "PidFile none\n"
        "UsePAM no\n"
        "StrictModes yes\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "AuthorizedKeysFile none\n"
        "LogLevel VERBOSE\n" + block
    )
    # sshd's privilege separation directory, which its service makes at boot.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    log = open(directory / "sshd.log", "wb")
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    server = Sshd(port, directory, process)
    try:
        _wait_for_port(port, process, server)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen, server: Sshd) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sshd exited: {server.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"sshd did not listen: {server.log()}")


@dataclass
class Client:
    """ssh and git as a person with one private key runs them against the test's sshd."""

    sshd: Sshd
    key: Path
    home: Path

    def ssh_command(self) -> list[str]:
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(self.key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-p",
            str(self.sshd.port),
        ]

    def url(self, path: str) -> str:
        return f"ssh://root@127.0.0.1:{self.sshd.port}/{path}"

    def env(self) -> dict[str, str]:
        env = git_env(GIT_SSH_COMMAND=shlex.join(self.ssh_command()))
        env["HOME"] = str(self.home)
        env.pop("SSH_AUTH_SOCK", None)
        return env

    def git(self, cwd: Path, *args: str):
        return git(cwd, *args, env=self.env(), check=False)

    def ssh(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.ssh_command(), "root@127.0.0.1", *command],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=self.env(),
            timeout=60,
        )


@pytest.fixture
def client_for(sshd, session, tmp_path):
    """`client_for(user)`: a fresh ed25519 key registered to `user` (None: registered to
    nobody), and a client that uses it."""

    def make(user, name: str) -> Client:
        home = tmp_path / f"home-{name}"
        home.mkdir()
        made = ssh_keygen(home, "ed25519")
        assert made is not None
        if user is not None:
            add_ssh_key(session, user, made[0])
            session.commit()
        return Client(sshd, home / "id_ed25519_0", home)

    return make


def _ok(result) -> None:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


@pytest.mark.slow
@pytest.mark.e2e
def test_push_clone_fetch_and_archive_over_ssh(session, settings, ada, client_for, tmp_path):
    repo = create_repository(session, settings, ada, "x")
    session.commit()
    client = client_for(ada, "ada")
    work = work_tree(tmp_path / "work", commits=2)

    _ok(client.git(work, "push", client.url("~ada/x"), "main"))
    [push] = session.scalars(select(Push).where(Push.repository_id == repo.id))
    assert (push.via, push.pusher_user_id, push.hooks_state) == (
        PushVia.ssh,
        ada.id,
        HooksState.done,
    )
    [update] = session.scalars(select(RefUpdate).where(RefUpdate.push_id == push.id))
    head = git(work, "rev-parse", "HEAD").stdout.strip()
    assert (update.ref, update.new_sha) == ("refs/heads/main", head)

    # git@HOST:~OWNER/NAME, the scp-like form the pages show (-p in GIT_SSH_COMMAND).
    _ok(client.git(tmp_path, "clone", "-q", "root@127.0.0.1:~ada/x", "clone"))
    clone = tmp_path / "clone"
    assert git(clone, "rev-parse", "HEAD").stdout.strip() == head

    (work / "more.txt").write_text("more\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "more")
    _ok(client.git(work, "push", "-q", client.url("~ada/x.git"), "main"))
    _ok(client.git(clone, "fetch", "-q", "origin"))
    new_head = git(work, "rev-parse", "HEAD").stdout.strip()
    assert git(clone, "rev-parse", "origin/main").stdout.strip() == new_head
    assert session.scalar(select(Push.id).where(Push.id != push.id)) is not None

    archive = subprocess.run(
        ["git", "archive", f"--remote={client.url('~ada/x')}", "main", "more.txt"],
        capture_output=True,
        env=client.env(),
        cwd=tmp_path,
    )
    assert archive.returncode == 0, archive.stderr
    assert b"more\n" in archive.stdout  # a tar holding the file


@pytest.mark.slow
@pytest.mark.e2e
def test_refusals_over_ssh(session, settings, ada, client_for, tmp_path):
    bob = make_user(session, "bob")
    create_repository(session, settings, ada, "x")
    create_repository(session, settings, ada, "secret", visibility=Visibility.private)
    session.commit()
    bobs = client_for(bob, "bob")
    stranger = client_for(None, "stranger")
    work = work_tree(tmp_path / "work", commits=1)

    # A key nobody registered does not get in.
    denied = stranger.git(tmp_path, "ls-remote", stranger.url("~ada/x"))
    assert denied.returncode != 0 and "Permission denied (publickey)" in denied.stderr

    # Bob reads the public repository, but may not push to it.
    _ok(bobs.git(tmp_path, "ls-remote", bobs.url("~ada/x")))
    pushed = bobs.git(work, "push", bobs.url("~ada/x"), "main")
    assert pushed.returncode != 0
    assert "Error: you may not push to ~ada/x; ask its owner" in pushed.stderr

    # Ada's private repository looks to Bob exactly like one that does not exist.
    private = bobs.git(tmp_path, "ls-remote", bobs.url("~ada/secret"))
    missing = bobs.git(tmp_path, "ls-remote", bobs.url("~ada/gone"))
    assert private.returncode == missing.returncode != 0
    assert "Error: no repository ~ada/secret\n" in private.stderr
    assert private.stderr == missing.stderr.replace("gone", "secret")
    # ... and the check can tell: given read access, Bob sees it.
    set_access(session, get_repository(session, "ada", "secret"), "read", user_id=bob.id)
    session.commit()
    _ok(bobs.git(tmp_path, "ls-remote", bobs.url("~ada/secret")))

    # No shell, no other command: one line and exit code 1.
    listed = bobs.ssh("ls", "/")
    assert (listed.returncode, listed.stdout) == (1, "")
    assert listed.stderr.splitlines() == [
        "Error: 'ls' is not run here; only git's clone, fetch, push and archive"
    ]
    login = bobs.ssh()
    assert (login.returncode, login.stdout) == (1, "")
    assert login.stderr.splitlines() == [f"Error: Hi bob! You are signed in, but {NO_SHELL}"]
