"""The `mailyard` program (and `python -m mailyard`): the whole CLI, except that the
commands sshd runs for every git operation over SSH (`mailyard ssh ...`) start without
importing the rest of Mailyard, which would cost them most of a second each, and sshd
runs two or three of them per clone or push."""

from __future__ import annotations

import sys

ROOT_OPTIONS_WITH_VALUES = ("--data-dir", "--config")


def command_of(argv: list[str]) -> str:
    """The subcommand `argv` names, past the root options: 'ssh', 'serve', ... or ''."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ROOT_OPTIONS_WITH_VALUES:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return ""


def main() -> None:
    if command_of(sys.argv[1:]) == "ssh":
        from mailyard.root import root_group
        from mailyard.ssh_commands import ssh_group

        root = root_group("mailyard", "Mailyard: git over SSH.")
        root.add_command(ssh_group)
        root(prog_name="mailyard")
    else:
        from mailyard.cli import main as full

        full()


if __name__ == "__main__":
    main()
