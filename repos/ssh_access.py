"""What an SSH login may run: git's three server commands on one repository, nothing else.

sshd runs `mailyard ssh shell KEY-ID` for every login with a Mailyard key (the forced
command `mailyard ssh authorized-keys` gives it) and puts what the client asked for in
SSH_ORIGINAL_COMMAND. git asks for one of

    git-upload-pack '~ada/x'          (clone, fetch; git@host:~ada/x)
    git-upload-pack '/~ada/x.git'     (ssh://git@host/~ada/x.git keeps the slash)
    git upload-pack '~ada/x'          (older clients)
    git-receive-pack '~ada/x'         (push)
    git-upload-archive '~ada/x'       (git archive --remote)

quoted as git's `sq_quote` writes it. `parse_ssh_command` reads that into a `GitRequest`
(which command, which repository, which right it needs) or refuses it with one line: an
interactive login, any other program, a path with `..` or more than one argument. No
I/O here: `mailyard/ssh_commands.py` looks the repository up and runs git.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.errors import UserError
from repos.access import RepoRight

# ~OWNER/NAME's parts as `accounts.names` and `repos.repositories.check_name` allow them
# (looser: an invalid name finds no repository, but never reaches a message unescaped).
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHOWN_MAX = 80
# A key as sshd's %t %k give it: its type, and its base64.
_KEY_WORD = re.compile(r"^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}$")


class GitService(StrEnum):
    """git's server side of a transport, by the dashed name the client asks for."""

    upload_pack = "git-upload-pack"
    receive_pack = "git-receive-pack"
    upload_archive = "git-upload-archive"

    @property
    def right(self) -> RepoRight:
        return RepoRight.write if self is GitService.receive_pack else RepoRight.read

    @property
    def git_args(self) -> tuple[str, ...]:
        """How `git` itself runs it (`git upload-pack`: found wherever git keeps it)."""
        return ("git", self.value.removeprefix("git-"))


class SshRefused(UserError):
    """What an SSH login asked for is not run; the message is the one line git shows."""


@dataclass(frozen=True)
class GitRequest:
    service: GitService
    owner_name: str
    name: str

    @property
    def right(self) -> RepoRight:
        return self.service.right

    @property
    def path_name(self) -> str:
        return f"~{self.owner_name}/{self.name}"


NO_SHELL = "there is no shell here, only git: clone, fetch and push ~OWNER/NAME over SSH"


def parse_ssh_command(command: str | None, username: str = "") -> GitRequest:
    """SSH_ORIGINAL_COMMAND (None for an interactive login) as a git request, or
    SshRefused with the reason in one line (greeting `username` on an interactive one)."""
    if command is None or not command.strip():
        raise SshRefused(
            f"Hi {username}! You are signed in, but {NO_SHELL}" if username else NO_SHELL
        )
    try:
        words = shlex.split(command)
    except ValueError:
        raise SshRefused(f"cannot read the command {_shown(command)}") from None
    if not words:
        raise SshRefused(NO_SHELL)
    if len(words) >= 2 and words[0] == "git" and not words[1].startswith("-"):
        words = [f"git-{words[1]}", *words[2:]]  # 'git upload-pack' as 'git-upload-pack'
    try:
        service = GitService(words[0])
    except ValueError:
        raise SshRefused(
            f"{_shown(words[0])} is not run here; only git's clone, fetch, push and archive"
        ) from None
    if len(words) != 2:
        raise SshRefused(f"{service.value} takes one repository, like '~OWNER/NAME'")
    owner_name, name = parse_ssh_path(words[1])
    return GitRequest(service, owner_name, name)


def parse_ssh_path(path: str) -> tuple[str, str]:
    """'~owner/name', '/~owner/name.git', 'owner/name/' -> ('owner', 'name'), lower-cased
    as the repositories are named; SshRefused for anything else."""
    text = path.removeprefix("/").removeprefix("~").removesuffix("/").removesuffix(".git")
    owner, slash, name = text.partition("/")
    if not slash or ".." in text or not _PART.match(owner) or not _PART.match(name):
        raise SshRefused(f"{_shown(path)} is not a repository: write ~OWNER/NAME")
    return owner.lower(), name.lower()


def authorize(request: GitRequest, rights: frozenset[str]) -> None:
    """SshRefused unless `rights` on the repository allow the request. No rights at all
    (no such repository, or a private one the user may not read) is one refusal, word
    for word, so that SSH never tells whether a private repository exists."""
    if RepoRight.read not in rights:
        raise SshRefused(f"no repository {request.path_name}")
    if request.right not in rights:
        raise SshRefused(f"you may not push to {request.path_name}; ask its owner for write access")


def authorized_keys_line(command: Sequence[str], key_type: str, key_base64: str) -> str:
    """One authorized_keys line for sshd: the key, logging in only to run `command`
    (argv, quoted for the login shell that sshd runs it with), with `restrict`: no
    terminal, no forwarding of any kind, no ~/.ssh/rc."""
    if any(c in arg for arg in command for c in "\0\n\r") or not _KEY_WORD.match(
        f"{key_type} {key_base64}"
    ):
        raise SshRefused("cannot write this key or command into an authorized_keys line")
    # sshd reads command="..." taking only \" as an escape (auth-options.c, opt_dequote).
    quoted = shlex.join(command).replace('"', '\\"')
    return f'command="{quoted}",restrict {key_type} {key_base64}'


def _shown(text: str) -> str:
    """`text` fit for a one-line message: quoted, escaped, shortened."""
    shown = repr(text[:_SHOWN_MAX])
    return shown if len(text) <= _SHOWN_MAX else f"{shown}..."
