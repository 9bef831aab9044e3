"""Commands in replies to tickets: where they are found, what they parse to, what is
refused and why, and what is left of the reply as its comment."""

from __future__ import annotations

import pytest

from trackers.commands import (
    TRIAGE_COMMANDS,
    Command,
    CommandName,
    CommandProblem,
    Resolution,
    Status,
    format_command_help,
    parse_reply,
)


def only_command(text: str) -> Command:
    parsed = parse_reply(text)
    assert parsed.problems == []
    assert len(parsed.commands) == 1
    return parsed.commands[0]


def only_problem(text: str) -> CommandProblem:
    parsed = parse_reply(text)
    assert parsed.commands == []
    assert len(parsed.problems) == 1
    return parsed.problems[0]


# --- where commands are found --------------------------------------------------------------


def test_commands_in_the_middle_with_a_signature_after_all_act():
    text = (
        "Confirmed on 6.1 too.\n"
        "\n"
        "!status confirmed\n"
        "!label regression\n"
        "\n"
        "Will look at it next week.\n"
        "\n"
        "-- \n"
        "Ann\n"
    )
    parsed = parse_reply(text)
    assert [(c.name, c.args) for c in parsed.commands] == [
        (CommandName.status, ("confirmed",)),
        (CommandName.label, ("regression",)),
    ]
    assert parsed.problems == []
    assert parsed.comment == ("Confirmed on 6.1 too.\n\nWill look at it next week.\n\n-- \nAnn")


def test_commands_after_the_signature_separator_still_act_and_the_signature_stays():
    parsed = parse_reply("Fixed in v2.\n\n-- \nAnn Author\n!resolve fixed\n")
    assert [c.name for c in parsed.commands] == [CommandName.resolve]
    assert parsed.comment == "Fixed in v2.\n\n-- \nAnn Author"


def test_quoted_commands_are_ignored_and_stay_in_the_comment():
    text = "On Monday Bob wrote:\n> !resolve wont_fix\n>  !label x\n\nI disagree.\n"
    parsed = parse_reply(text)
    assert parsed.commands == []
    assert parsed.problems == []
    assert parsed.comment == "On Monday Bob wrote:\n> !resolve wont_fix\n>  !label x\n\nI disagree."


def test_indented_command_lines_count():
    assert only_command("   !reopen   \n").name is CommandName.reopen


def test_command_words_are_case_insensitive():
    command = only_command("!ReSoLvE FIXED")
    assert command.name is CommandName.resolve
    assert command.args == ("fixed",)
    assert command.line == "!ReSoLvE FIXED"


@pytest.mark.parametrize("text", ["!", "!!", "!!!", "! note", "!1st", "!-x", "!_x", "!resolve2"])
def test_lines_that_are_not_commands_are_ordinary_text(text: str):
    parsed = parse_reply(f"Hello\n{text}\n")
    assert parsed.commands == []
    assert parsed.problems == []
    assert parsed.comment == f"Hello\n{text}"


def test_exclamation_inside_a_line_is_not_a_command():
    parsed = parse_reply("Please !resolve fixed this\n")
    assert parsed.commands == [] and parsed.problems == []


def test_crlf_input_is_read_like_lf():
    parsed = parse_reply("Thanks!\r\n\r\n!assign me\r\n\r\n-- \r\nAnn\r\n")
    assert [(c.name, c.args, c.line) for c in parsed.commands] == [
        (CommandName.assign, ("me",), "!assign me")
    ]
    assert parsed.comment == "Thanks!\n\n-- \nAnn"


def test_unicode_text_and_titles_survive():
    parsed = parse_reply("Ça marche pas — 日本語\n!title Crash beim Öffnen «Datei»\n")
    assert parsed.comment == "Ça marche pas — 日本語"
    assert parsed.commands[0].args == ("Crash beim Öffnen «Datei»",)


def test_non_breaking_spaces_around_a_command_are_stripped():
    assert only_command("\u00a0!subscribe\u00a0").name is CommandName.subscribe


# --- the comment ---------------------------------------------------------------------------


def test_a_reply_of_only_commands_leaves_an_empty_comment():
    parsed = parse_reply("!resolve fixed\n!bogus\n\n\n")
    assert parsed.comment == ""
    assert len(parsed.commands) == 1 and len(parsed.problems) == 1


def test_removing_a_command_between_paragraphs_leaves_one_blank_line():
    parsed = parse_reply("First.\n\n!label a\n\nSecond.\n")
    assert parsed.comment == "First.\n\nSecond."


def test_removing_leading_commands_leaves_no_leading_blank_lines():
    assert parse_reply("!reopen\n\nStill broken.\n").comment == "Still broken."


def test_comment_keeps_indentation_and_inner_blank_lines():
    text = "Trace:\n\n    at foo()\n\n\n    at bar()\n"
    assert parse_reply(text).comment == "Trace:\n\n    at foo()\n\n\n    at bar()"


def test_invalid_command_lines_are_removed_from_the_comment_too():
    parsed = parse_reply("Hi\n!resolve someday\n")
    assert parsed.comment == "Hi"
    assert parsed.problems[0].line == "!resolve someday"


# --- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [r for r in Resolution if r is not Resolution.unresolved])
def test_every_resolution_but_unresolved_resolves(resolution: Resolution):
    command = only_command(f"!resolve {resolution.value}")
    assert command.args == (resolution.value,)
    assert command.resolution is resolution
    assert command.status is None


def test_resolution_accepts_hyphens_for_underscores():
    assert only_command("!resolve Wont-Fix").resolution is Resolution.wont_fix
    assert only_command("!resolve not-our-bug").resolution is Resolution.not_our_bug


@pytest.mark.parametrize("status", list(Status))
def test_every_status_can_be_set(status: Status):
    command = only_command(f"!status {status.value.replace('_', '-')}")
    assert command.status is status
    assert command.args == (status.value,)


@pytest.mark.parametrize("text", ["!reopen", "!subscribe", "!unsubscribe"])
def test_commands_without_arguments(text: str):
    assert only_command(text).args == ()


def test_labels_split_on_commas_and_spaces_lower_cased_and_deduplicated():
    command = only_command("!label Bug,ui  needs-info, ,v1.2_x BUG")
    assert command.args == ("bug", "ui", "needs-info", "v1.2_x")


def test_unlabel_takes_names_like_label():
    command = only_command("!unlabel wontfix")
    assert (command.name, command.args) == (CommandName.unlabel, ("wontfix",))


def test_label_of_fifty_characters_is_accepted():
    assert only_command("!label " + "a" * 50).args == ("a" * 50,)


def test_assign_me_and_addresses():
    assert only_command("!assign ME").args == ("me",)
    assert only_command("!assign ann@example.org").args == ("ann@example.org",)
    assert only_command("!unassign <Bob@Example.org>").args == ("Bob@Example.org",)


def test_title_is_the_rest_of_the_line_with_its_spaces():
    command = only_command("!title   Crash when  opening a file, again  ")
    assert command.args == ("Crash when  opening a file, again",)


def test_title_of_two_hundred_characters_is_accepted():
    assert only_command("!title " + "x" * 200).args == ("x" * 200,)


# --- problems: every message -----------------------------------------------------------------


def test_unknown_command_names_the_commands():
    problem = only_problem("!frobnicate now")
    assert problem.line == "!frobnicate now"
    assert problem.reason == (
        "unknown command !frobnicate; the commands are: !resolve, !reopen, !status, !label, "
        "!unlabel, !assign, !unassign, !title, !subscribe, !unsubscribe"
    )


RESOLVE_NEEDS = (
    "!resolve needs one of: fixed, implemented, wont_fix, by_design, invalid, duplicate, "
    "not_our_bug, closed"
)
STATUS_NEEDS = "!status needs one of: reported, confirmed, in_progress, pending, resolved"


@pytest.mark.parametrize(
    "text", ["!resolve", "!resolve unresolved", "!resolve someday", "!resolve fixed in v2"]
)
def test_resolve_needs_exactly_one_resolution(text: str):
    assert only_problem(text).reason == RESOLVE_NEEDS


@pytest.mark.parametrize("text", ["!status", "!status done", "!status in progress"])
def test_status_needs_exactly_one_status(text: str):
    assert only_problem(text).reason == STATUS_NEEDS


@pytest.mark.parametrize("word", ["reopen", "subscribe", "unsubscribe"])
def test_commands_without_arguments_refuse_them(word: str):
    assert only_problem(f"!{word} please").reason == f"!{word} takes no arguments"


@pytest.mark.parametrize("word", ["label", "unlabel"])
def test_label_needs_names(word: str):
    assert only_problem(f"!{word}  , ").reason == f"!{word} needs one or more label names"


def test_label_names_out_of_the_alphabet_or_too_long_are_refused():
    problem = only_problem("!label ok bug! " + "a" * 51 + " grün")
    assert problem.reason == (
        f"!label: not a label name: 'bug!', '{'a' * 51}', 'grün' "
        "(a name is 1 to 50 characters of a-z, 0-9, '.', '_' and '-')"
    )


@pytest.mark.parametrize("word", ["assign", "unassign"])
@pytest.mark.parametrize(
    "arg", ["", "ann", "ann@", "@example.org", "a@b@c", "ann@example.org bob@example.org"]
)
def test_assign_needs_an_address_or_me(word: str, arg: str):
    assert only_problem(f"!{word} {arg}").reason == f"!{word} needs an address or 'me'"


@pytest.mark.parametrize("text", ["!title", "!title    ", "!title " + "x" * 201])
def test_title_needs_one_to_two_hundred_characters(text: str):
    assert only_problem(text).reason == "!title needs a new title of 1 to 200 characters"


def test_problem_reason_names_the_command_in_lower_case():
    assert only_problem("!STATUS later").reason == STATUS_NEEDS


def test_problems_and_commands_keep_their_order():
    parsed = parse_reply("!label a\n!nope\n!assign me\n!status ???\n")
    assert [c.name for c in parsed.commands] == [CommandName.label, CommandName.assign]
    assert [p.line for p in parsed.problems] == ["!nope", "!status ???"]


# --- the closed sets and the help ------------------------------------------------------------


def test_triage_commands_are_all_but_the_subscription_ones():
    assert TRIAGE_COMMANDS == set(CommandName) - {
        CommandName.subscribe,
        CommandName.unsubscribe,
    }


def test_command_values_are_the_words():
    assert [n.value for n in CommandName] == [n.name for n in CommandName]


def test_help_has_one_line_per_command_with_its_arguments():
    lines = format_command_help().splitlines()
    assert len(lines) == len(CommandName)
    for line, name in zip(lines, CommandName, strict=True):
        assert line.startswith(f"!{name.value}")
    assert lines[0].startswith("!resolve RESOLUTION ")
    assert "wont_fix" in lines[0] and "unresolved" not in lines[0]
    assert lines[2].startswith("!status STATUS ")
    assert lines[5].startswith("!assign ADDRESS|me ")
    assert lines[7].startswith("!title NEW TITLE ")
