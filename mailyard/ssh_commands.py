"""`mailyard ssh ...`: git over SSH through the host's own sshd, as git.sr.ht does it.

sshd asks `mailyard ssh authorized-keys %u %t %k` (its AuthorizedKeysCommand) whether a
key may log in as the git user. For a key a Mailyard user registered, the answer is an
authorized_keys line whose forced command is `mailyard ssh shell KEY-ID`; that command
reads what the client asked for (SSH_ORIGINAL_COMMAND), checks the user's right on the
repository (`repos.ssh_access`) and becomes git's server side on it.

sshd clears the environment for both commands, so the settings come from the
configuration file (mailyard.toml in the data directory, or --config), and the forced
command names the same data directory and file as the command sshd ran. Nothing else
goes on that command line: every local user can read it in `ps`.
"""

from __future__ import annotations

import base64
import binascii
import os
import sys
from pathlib import Path

import click

from accounts.access import actor_for_user
from accounts.ssh_keys import user_of_ssh_key, user_of_ssh_key_id
from core.db import dispose_engines, session_scope
from core.params import parse_id
from core.settings import Settings, get_settings
from repos import storage
from repos.access import repo_rights
from repos.models import PushVia
from repos.repositories import get_repository
from repos.ssh_access import SshRefused, authorize, authorized_keys_line, parse_ssh_command


@click.group(name="ssh")
def ssh_group() -> None:
    """git over SSH: what sshd runs (see "Git over SSH" in the README)."""


@ssh_group.command(name="authorized-keys")
@click.argument("login", metavar="USER")
@click.argument("key_type", metavar="KEYTYPE")
@click.argument("key_base64", metavar="KEY")
def authorized_keys(login: str, key_type: str, key_base64: str) -> None:
    """sshd's AuthorizedKeysCommand, with its tokens %u %t %k: print the one
    authorized_keys line that lets this key in as USER (the git user, ssh_user in the
    settings) to run `mailyard ssh shell`, or nothing for a key no user registered."""
    settings = get_settings()
    if login != settings.ssh_user:
        return  # another system account: none of Mailyard's business
    try:
        blob = base64.b64decode(key_base64, validate=True)
    except (binascii.Error, ValueError):
        return
    with session_scope() as session:
        found = user_of_ssh_key(session, key_type, blob)
        key_id = found[0].id if found else None
    if key_id is not None:
        click.echo(authorized_keys_line(_shell_command(settings, key_id), key_type, key_base64))


def _shell_command(settings: Settings, key_id: int) -> list[str]:
    """`mailyard ssh shell KEY-ID` as this very program, on the same settings."""
    command = [sys.executable, "-m", "mailyard", "--data-dir", str(settings.data_dir)]
    config = click.get_current_context().find_root().params.get("config")
    if config:
        command += ["--config", str(Path(config).resolve())]
    return [*command, "ssh", "shell", str(key_id)]


@ssh_group.command(name="shell")
@click.argument("key_number", metavar="KEY-ID")
def shell(key_number: str) -> None:
    """The forced command of a Mailyard key: run the git command SSH_ORIGINAL_COMMAND
    asks for, if the key's user may; otherwise one line saying why, and exit code 1."""
    key_id = parse_id("KEY-ID", key_number)
    settings = get_settings()
    asked = os.environ.get("SSH_ORIGINAL_COMMAND")
    with session_scope() as session:
        user = user_of_ssh_key_id(session, key_id)
        if user is None:
            raise SshRefused("this SSH key is no longer registered; add it again")
        request = parse_ssh_command(asked, username=user.username)
        repository = get_repository(session, request.owner_name, request.name)
        rights = (
            repo_rights(session, repository, actor_for_user(session, user))
            if repository is not None
            else frozenset()
        )
        authorize(request, rights)
        assert repository is not None  # authorize refuses a missing one
        path = storage.path_of(settings, repository)
        env = storage.git_environment(settings, repository, pusher_id=user.id, via=PushVia.ssh)
    storage.install_hooks(path)
    dispose_engines()  # git gets the process, not our connections
    os.execvpe("git", [*request.service.git_args, str(path)], env)
