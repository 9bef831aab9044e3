"""Commands in a reply to a ticket: `!resolve fixed`, `!label bug, ui`, `!assign me`...

A command is a line of its own starting with `!` and a word, anywhere in the reply: people
write them above a signature, between paragraphs, or below the text they answer, so a
command is never required to be the last line. Quoted lines (`>`) are someone else's
words and never act. Every command line, valid or not, is taken out of the comment that
gets posted; an invalid one becomes a `CommandProblem` whose reason is written for the
sender, so the reply to them can say exactly what to fix.

Pure string work: who may run a command, and what it changes, is decided elsewhere.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "TRIAGE_COMMANDS",
    "Command",
    "CommandName",
    "CommandProblem",
    "ParsedReply",
    "Resolution",
    "Status",
    "format_command_help",
    "parse_reply",
]


class CommandName(enum.Enum):
    """The commands a reply can carry; values are the words as written after `!`."""

    resolve = "resolve"
    reopen = "reopen"
    status = "status"
    label = "label"
    unlabel = "unlabel"
    assign = "assign"
    unassign = "unassign"
    title = "title"
    subscribe = "subscribe"
    unsubscribe = "unsubscribe"


class Status(enum.Enum):
    """Where a ticket is in its life."""

    reported = "reported"
    confirmed = "confirmed"
    in_progress = "in_progress"
    pending = "pending"
    resolved = "resolved"


class Resolution(enum.Enum):
    """Why a ticket was resolved; `unresolved` while it is open."""

    unresolved = "unresolved"
    fixed = "fixed"
    implemented = "implemented"
    wont_fix = "wont_fix"
    by_design = "by_design"
    invalid = "invalid"
    duplicate = "duplicate"
    not_our_bug = "not_our_bug"
    closed = "closed"


# Commands that change the ticket (and so need triage rights); the rest only concern the
# sender's own mail.
TRIAGE_COMMANDS: frozenset[CommandName] = frozenset(CommandName) - {
    CommandName.subscribe,
    CommandName.unsubscribe,
}

# `!resolve unresolved` would be a reopen in disguise; `!reopen` says it plainly.
_RESOLVE_CHOICES = tuple(r for r in Resolution if r is not Resolution.unresolved)


@dataclass(frozen=True)
class Command:
    """One valid command; `line` is kept as written so replies can quote it."""

    name: CommandName
    args: tuple[str, ...]
    line: str

    @property
    def status(self) -> Status | None:
        """The status a `!status` command asks for."""
        return Status(self.args[0]) if self.name is CommandName.status else None

    @property
    def resolution(self) -> Resolution | None:
        """The resolution a `!resolve` command asks for."""
        return Resolution(self.args[0]) if self.name is CommandName.resolve else None


@dataclass(frozen=True)
class CommandProblem:
    """A command line that cannot act, and why, in words for the sender."""

    line: str
    reason: str


@dataclass(frozen=True)
class ParsedReply:
    """A reply split into the comment to post and the commands it carries."""

    comment: str
    commands: list[Command]
    problems: list[CommandProblem]


# A letter must follow the `!`: "!!!" and "! note" are ordinary text.
_COMMAND_LINE = re.compile(r"^!([A-Za-z][A-Za-z_-]*)\b(.*)$", re.DOTALL)
_LABEL = re.compile(r"^[a-z0-9._-]{1,50}$")
_TITLE_MAX = 200

_ARGUMENTS = {
    CommandName.resolve: "RESOLUTION",
    CommandName.reopen: "",
    CommandName.status: "STATUS",
    CommandName.label: "NAME...",
    CommandName.unlabel: "NAME...",
    CommandName.assign: "ADDRESS|me",
    CommandName.unassign: "ADDRESS|me",
    CommandName.title: "NEW TITLE",
    CommandName.subscribe: "",
    CommandName.unsubscribe: "",
}

_PURPOSE = {
    CommandName.resolve: "resolve the ticket; RESOLUTION is one of: "
    + ", ".join(r.value for r in _RESOLVE_CHOICES),
    CommandName.reopen: "reopen a resolved ticket",
    CommandName.status: "set the status; STATUS is one of: " + ", ".join(s.value for s in Status),
    CommandName.label: "add labels (separated by spaces or commas)",
    CommandName.unlabel: "remove labels (separated by spaces or commas)",
    CommandName.assign: "assign the ticket to an address, or to yourself with 'me'",
    CommandName.unassign: "take an address, or yourself with 'me', off the ticket",
    CommandName.title: "give the ticket a new title",
    CommandName.subscribe: "get mail about every change to this ticket",
    CommandName.unsubscribe: "stop getting mail about this ticket",
}


class _Invalid(ValueError):
    """A command's arguments are wrong; the message is the reason for the sender."""


def parse_reply(text: str) -> ParsedReply:
    """The comment to post and the commands (valid or not) a reply to a ticket carries."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    commands: list[Command] = []
    problems: list[CommandProblem] = []
    removed_here = False  # a command line was taken out since the last kept line
    for raw in lines:
        line = raw.strip()
        found = _COMMAND_LINE.match(line)
        if found is None:
            blank = not line
            # Taking a command out from between two paragraphs must not leave a double gap.
            if blank and removed_here and kept and not kept[-1].strip():
                continue
            kept.append(raw)
            removed_here = False
            continue
        removed_here = True
        word, rest = found.groups()
        try:
            commands.append(_parse_command(word, rest, line))
        except _Invalid as invalid:
            problems.append(CommandProblem(line=line, reason=str(invalid)))
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    return ParsedReply(comment="\n".join(kept), commands=commands, problems=problems)


def _parse_command(word: str, rest: str, line: str) -> Command:
    try:
        name = CommandName(word.lower())
    except ValueError:
        commands = ", ".join(f"!{n.value}" for n in CommandName)
        raise _Invalid(f"unknown command !{word}; the commands are: {commands}") from None
    return Command(name=name, args=_parse_args(name, rest.strip()), line=line)


def _parse_args(name: CommandName, rest: str) -> tuple[str, ...]:
    words = rest.split()
    if name is CommandName.resolve:
        return (_choose(name, words, _RESOLVE_CHOICES),)
    if name is CommandName.status:
        return (_choose(name, words, tuple(Status)),)
    if name in (CommandName.label, CommandName.unlabel):
        return _labels(name, rest)
    if name in (CommandName.assign, CommandName.unassign):
        return (_person(name, words),)
    if name is CommandName.title:
        if not 1 <= len(rest) <= _TITLE_MAX:
            raise _Invalid(f"!title needs a new title of 1 to {_TITLE_MAX} characters")
        return (rest,)
    if words:  # reopen, subscribe, unsubscribe
        raise _Invalid(f"!{name.value} takes no arguments")
    return ()


def _choose(name: CommandName, words: list[str], choices: tuple[enum.Enum, ...]) -> str:
    """The one choice named by `words`; `in-progress` is accepted for `in_progress`."""
    values = [c.value for c in choices]
    if len(words) == 1 and (value := words[0].lower().replace("-", "_")) in values:
        return value
    raise _Invalid(f"!{name.value} needs one of: {', '.join(values)}")


def _labels(name: CommandName, rest: str) -> tuple[str, ...]:
    labels = [w.lower() for w in re.split(r"[\s,]+", rest) if w]
    if not labels:
        raise _Invalid(f"!{name.value} needs one or more label names")
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad:
        raise _Invalid(
            f"!{name.value}: not a label name: {', '.join(repr(b) for b in bad)} "
            "(a name is 1 to 50 characters of a-z, 0-9, '.', '_' and '-')"
        )
    return tuple(dict.fromkeys(labels))


def _person(name: CommandName, words: list[str]) -> str:
    """'me', or an address (angle brackets around it are dropped)."""
    if len(words) == 1:
        word = words[0]
        if word.lower() == "me":
            return "me"
        if word.startswith("<") and word.endswith(">"):
            word = word[1:-1]
        local, at, domain = word.partition("@")
        if at and local and domain and "@" not in domain:
            return word
    raise _Invalid(f"!{name.value} needs an address or 'me'")


def format_command_help() -> str:
    """One line per command and its arguments, for the reply to an unknown command."""
    usages = {n: f"!{n.value} {_ARGUMENTS[n]}".rstrip() for n in CommandName}
    width = max(len(u) for u in usages.values()) + 2
    return "\n".join(f"{usages[n]:<{width}}{_PURPOSE[n]}" for n in CommandName) + "\n"
