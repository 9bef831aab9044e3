"""The program's entry: `mailyard ssh ...`, which sshd starts for every git operation,
runs without importing the rest of Mailyard; everything else is the whole CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mailyard.entry import command_of


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["ssh", "shell", "3"], "ssh"),
        (["--data-dir", "/var/lib/mailyard", "ssh", "authorized-keys"], "ssh"),
        (["--config", "ssh", "serve"], "serve"),  # a file called ssh is no command
        (["--data-dir=/x", "repo", "ls"], "repo"),
        (["--help"], ""),
        ([], ""),
    ],
)
def test_command_of(argv, command) -> None:
    assert command_of(argv) == command


CHECK = """
import sys
sys.argv = ["mailyard", *sys.argv[1:]]
from mailyard.entry import main
try:
    main()
except SystemExit:
    pass
print("FULL" if "mailyard.cli" in sys.modules else "LIGHT", "web" in sys.modules)
"""


def test_the_ssh_commands_start_light_and_the_rest_whole() -> None:
    def loaded(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, "-c", CHECK, *args], capture_output=True, text=True, check=True
        )
        return run.stdout.strip().splitlines()[-1]

    assert loaded("ssh", "--help") == "LIGHT False"
    assert loaded("repo", "--help") == "FULL True"
