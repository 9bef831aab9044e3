"""patchsets.diff against Patchwork's parser test mails, the generated archive and hand-made
diffs.

The mail facts are the assertions Patchwork's own tests make about each file through
`find_patch_content` (see patchwork/expectations.json), translated by hand; their
descriptions are the assertion texts, so a test can check that every one is translated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

from archive.parse import parse_message
from patchsets.diff import FileDiff, diff_files, diffstat, split_patch
from patchsets.pull import parse_pull_request
from tests.corpus import CORPUS, generated_messages, patchwork_files, require_corpus, truth


class Split(NamedTuple):
    message: str
    diff: str | None
    pull_url: str | None  # parse_pull_request(message), Patchwork style


def mail_body(path: Path) -> str:
    """The decoded text of a corpus mail, as the project's own parser gives it."""
    raw = path.read_bytes()
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]  # the mbox separator line
    return parse_message(raw).body


@cache
def split_mail(name: str) -> Split:
    message, diff = split_patch(mail_body(require_corpus() / "patchwork" / "mail" / name))
    pull = parse_pull_request(message)
    return Split(message, diff, pull.patchwork_style if pull else None)


Fact = tuple[str, Callable[[Split], bool]]

DIFF_NONE: Fact = ("diff is None", lambda s: s.diff is None)
DIFF_SOME: Fact = ("diff is not None", lambda s: s.diff is not None)
MESSAGE_SOME: Fact = ("message is not None", lambda s: s.message is not None)
PULL_SOME: Fact = ("pull_url is not None", lambda s: s.pull_url is not None)
RENAMES: list[Fact] = [
    ("diff.count('\\nrename from ') == 2", lambda s: s.diff.count("\nrename from ") == 2),
    ("diff.count('\\nrename to ') == 2", lambda s: s.diff.count("\nrename to ") == 2),
]
NO_NEWLINE = "\\ No newline at end of file"

# Patchwork's find_patch_content assertions, file by file.
FACTS: dict[str, list[Fact]] = {
    "0001-git-pull-request.mbox": [DIFF_NONE, MESSAGE_SOME, PULL_SOME],
    "0002-git-pull-request-wrapped.mbox": [DIFF_NONE, MESSAGE_SOME, PULL_SOME],
    "0003-git-pull-request-with-diff.mbox": [
        (
            "pull_url == 'git://git.kernel.org/pub/scm/linux/kernel/git/tip/linux-2.6-tip.git"
            " x86-fixes-for-linus'",
            lambda s: (
                s.pull_url == "git://git.kernel.org/pub/scm/linux/kernel/git/tip/linux-2.6-tip.git"
                " x86-fixes-for-linus"
            ),
        ),
        (
            "diff.startswith('diff --git a/arch/x86/include/asm/smp.h')",
            lambda s: s.diff.startswith("diff --git a/arch/x86/include/asm/smp.h"),
        ),
    ],
    "0004-git-pull-request-git+ssh.mbox": [DIFF_NONE, MESSAGE_SOME, PULL_SOME],
    "0005-git-pull-request-ssh.mbox": [DIFF_NONE, MESSAGE_SOME, PULL_SOME],
    "0006-git-pull-request-http.mbox": [DIFF_NONE, MESSAGE_SOME, PULL_SOME],
    "0007-cvs-format-diff.mbox": [
        ("diff.startswith('Index')", lambda s: s.diff.startswith("Index")),
    ],
    "0008-git-rename.mbox": [DIFF_SOME, *RENAMES],
    "0009-git-rename-with-diff.mbox": [
        DIFF_SOME,
        MESSAGE_SOME,
        *RENAMES,
        ("diff.count('\\n-a\\n+b') == 1", lambda s: s.diff.count("\n-a\n+b") == 1),
    ],
    "0010-invalid-charset.mbox": [DIFF_SOME, MESSAGE_SOME],
    "0011-no-newline-at-end-of-file.mbox": [
        DIFF_SOME,
        MESSAGE_SOME,
        (
            "diff.startswith('diff --git a/tools/testing/selftests/powerpc/Makefile')",
            lambda s: s.diff.startswith("diff --git a/tools/testing/selftests/powerpc/Makefile"),
        ),
        (
            "not message.rstrip().endswith('\\\\ No newline at end of file')",
            lambda s: not s.message.rstrip().endswith(NO_NEWLINE),
        ),
        (
            "diff.rstrip().endswith('\\\\ No newline at end of file')",
            lambda s: s.diff.rstrip().endswith(NO_NEWLINE),
        ),
        (
            "diff.count('\\\\ No newline at end of file') == 2",
            lambda s: s.diff.count(NO_NEWLINE) == 2,
        ),
    ],
    "0016-no-subject.mbox": [DIFF_SOME, MESSAGE_SOME],
    "0017-git-pull-request-git-2-14-3.mbox": [DIFF_NONE, MESSAGE_SOME, PULL_SOME],
    "0019-multipart-patch.mbox": [
        DIFF_SOME,
        MESSAGE_SOME,
        ("'<div' not in diff", lambda s: "<div" not in s.diff),
        ("'<div' not in message", lambda s: "<div" not in s.message),
    ],
    "0021-git-empty-new-file.mbox": [DIFF_SOME, MESSAGE_SOME],
    "0022-git-mode-change.mbox": [DIFF_SOME, MESSAGE_SOME],
    "0023-git-pull-request-newline-in-url.mbox": [
        (
            "pull_url == 'https://git.kernel.org/pub/scm/linux/kernel/git/matthias.bgg/linux.git/"
            " tags/v5.4-next-soc'",
            lambda s: (
                s.pull_url
                == "https://git.kernel.org/pub/scm/linux/kernel/git/matthias.bgg/linux.git/"
                " tags/v5.4-next-soc"
            ),
        ),
    ],
    "0024-git-pull-request-trailing-space.mbox": [
        (
            "pull_url == 'git://git.kernel.org/pub/scm/linux/kernel/git/nsekhar/linux-davinci.git"
            " tags/davinci-for-v5.6/soc'",
            lambda s: (
                s.pull_url
                == "git://git.kernel.org/pub/scm/linux/kernel/git/nsekhar/linux-davinci.git"
                " tags/davinci-for-v5.6/soc"
            ),
        ),
    ],
    "0025-git-add-binary-file.mbox": [
        DIFF_SOME,
        MESSAGE_SOME,
        (
            "diff.startswith('diff --git pixel.bmp pixel.bmp')",
            lambda s: s.diff.startswith("diff --git pixel.bmp pixel.bmp"),
        ),
        ("'GIT binary patch\\n' in diff", lambda s: "GIT binary patch\n" in s.diff),
        ("'literal 142\\n' in diff", lambda s: "literal 142\n" in s.diff),
        ("'literal 0\\n' in diff", lambda s: "literal 0\n" in s.diff),
    ],
    "0026-git-add-mixed-binary-text-files.mbox": [
        DIFF_SOME,
        MESSAGE_SOME,
        (
            "diff.startswith('diff --git pixel.bmp pixel.bmp')",
            lambda s: s.diff.startswith("diff --git pixel.bmp pixel.bmp"),
        ),
        ("'GIT binary patch\\n' in diff", lambda s: "GIT binary patch\n" in s.diff),
        (
            "'diff --git quit.sh quit.sh\\n' in diff",
            lambda s: "diff --git quit.sh quit.sh\n" in s.diff,
        ),
    ],
    "0027-git-modify-binary-file.mbox": [
        DIFF_SOME,
        MESSAGE_SOME,
        (
            "diff.startswith('diff --git pixel.bmp pixel.bmp')",
            lambda s: s.diff.startswith("diff --git pixel.bmp pixel.bmp"),
        ),
        ("'GIT binary patch\\n' in diff", lambda s: "GIT binary patch\n" in s.diff),
        ("'literal 0\\n' in diff", lambda s: "literal 0\n" in s.diff),
        ("'literal 142\\n' in diff", lambda s: "literal 142\n" in s.diff),
    ],
}

# The other mails, which Patchwork's tests feed through parse_mail or
# find_comment_content rather than find_patch_content: what those tests imply.
OTHER_FACTS: dict[str, list[Fact]] = {
    # parse_mail stores exactly one Patch: the mail holds a diff.
    "0012-invalid-header-char.mbox": [DIFF_SOME],
    "0013-with-utf8-body.mbox": [DIFF_SOME],
    "0014-with-unencoded-utf8-headers.mbox": [DIFF_SOME],
    "0015-with-invalid-utf8-headers.mbox": [DIFF_SOME],
    # A reply in text and HTML: no diff, and the HTML part is not in the text.
    "0020-multipart-comment.mbox": [
        DIFF_NONE,
        MESSAGE_SOME,
        ("'<div' not in message", lambda s: "<div" not in s.message),
    ],
}


def mail_names() -> list[str]:
    return [p.name for p in patchwork_files("mail")] if CORPUS.is_dir() else []


@cache
def patchwork_asserts() -> dict[str, list[str]]:
    """File name -> the find_patch_content assertions expectations.json lists for it."""
    data = json.loads((require_corpus() / "patchwork" / "expectations.json").read_text())
    found: dict[str, list[str]] = {}
    for key, entry in data["files"].items():
        for expectation in entry["expectations"]:
            if expectation["via"].startswith("find_patch_content"):
                found.setdefault(key, []).extend(expectation["asserts"])
    return found


def test_every_find_patch_content_assertion_is_translated() -> None:
    wanted = {
        key.removeprefix("mail/"): asserts
        for key, asserts in patchwork_asserts().items()
        if key.startswith("mail/")
    }
    assert set(wanted) == set(FACTS)
    for name, asserts in wanted.items():
        assert [description for description, _ in FACTS[name]] == asserts, name


def test_every_corpus_mail_has_facts() -> None:
    require_corpus()
    assert set(mail_names()) == set(FACTS) | set(OTHER_FACTS)


@pytest.mark.parametrize("name", mail_names())
def test_split_patch_keeps_patchworks_facts_about_the_mail(name: str) -> None:
    split = split_mail(name)
    for description, holds in FACTS.get(name, []) + OTHER_FACTS.get(name, []):
        assert holds(split), f"{name}: {description}"


@pytest.mark.parametrize("name", mail_names())
def test_message_and_diff_together_are_the_whole_body(name: str) -> None:
    body = mail_body(CORPUS / "patchwork" / "mail" / name)
    message, diff = split_patch(body)
    if diff is None:
        assert message == body
    else:
        start = body.index(diff)
        assert body[:start] + body[start + len(diff) :] == message


# --- patches/*.patch, the diffs Patchwork's tests wrap in a mail -----------------------

PATCH_MESSAGES = {
    "0001-add-line.patch": "Test for attached patch",
    "0002-utf-8.patch": "UTF-8 patch with meëp",
}


def test_every_corpus_patch_has_a_message() -> None:
    assert {p.name for p in patchwork_files("patches")} == set(PATCH_MESSAGES)


@pytest.mark.parametrize("name", sorted(PATCH_MESSAGES))
def test_split_patch_finds_the_attached_patch_exactly(name: str) -> None:
    """Patchwork: body = content + '\\n' + patch gives diff == patch and message ==
    content. Patchwork strips the message; here message.strip() is compared (the body
    line's newline stays with the message)."""
    patch = (require_corpus() / "patchwork" / "patches" / name).read_text(encoding="utf-8")
    message, diff = split_patch(PATCH_MESSAGES[name] + "\n" + patch)
    assert diff == patch
    assert message.strip() == PATCH_MESSAGES[name]


def test_diff_files_counts_the_added_line_of_the_first_patch() -> None:
    patch = (require_corpus() / "patchwork" / "patches" / "0001-add-line.patch").read_text()
    [meep] = diff_files(patch)
    assert (meep.old_path, meep.new_path, meep.status) == ("meep.text", "meep.text", "modified")
    assert (meep.added, meep.removed, meep.binary) == (1, 0, False)
    assert meep.text == patch


# --- diff_files on the Patchwork mails --------------------------------------------------


def files_of(name: str) -> list[FileDiff]:
    diff = split_mail(name).diff
    assert diff is not None
    return diff_files(diff)


@pytest.mark.parametrize("name", ["0008-git-rename.mbox", "0016-no-subject.mbox"])
def test_pure_renames_are_renamed_with_both_paths(name: str) -> None:
    first, second = files_of(name)
    assert first.status == second.status == "renamed"
    assert first.old_path == "package/rpi-userland/rpi-userland-add-pkgconfig-files.patch"
    assert first.new_path == "package/rpi-userland/rpi-userland-000-add-pkgconfig-files.patch"
    assert second.old_path == (
        "package/rpi-userland/"
        "rpi-userland-makefiles-0001-cmake-vmcs.cmake-allow-to-override-VMCS_IN.patch"
    )
    assert second.new_path == (
        "package/rpi-userland/"
        "rpi-userland-001-makefiles-cmake-vmcs.cmake-allow-to-override-VMCS_IN.patch"
    )
    assert (first.added, first.removed, second.added, second.removed) == (0, 0, 0, 0)


def test_a_rename_with_a_hunk_counts_its_lines() -> None:
    first, second = files_of("0009-git-rename-with-diff.mbox")
    assert (first.status, first.added, first.removed) == ("renamed", 1, 1)
    assert "@@ -100,7 +100,7 @@\n a\n a\n-a\n+b\n c\n c\n c\n" in first.text
    assert (second.status, second.added, second.removed) == ("renamed", 0, 0)


def test_a_binary_new_file_is_binary_and_added() -> None:
    [pixel] = files_of("0025-git-add-binary-file.mbox")
    assert (pixel.old_path, pixel.new_path, pixel.status) == (None, "pixel.bmp", "added")
    assert (pixel.binary, pixel.added, pixel.removed) == (True, 0, 0)
    assert pixel.text.endswith("literal 0\nHcmV?d00001\n\n")


def test_binary_and_text_files_mixed_are_told_apart() -> None:
    pixel, quit_sh = files_of("0026-git-add-mixed-binary-text-files.mbox")
    assert (pixel.path, pixel.status, pixel.binary) == ("pixel.bmp", "added", True)
    assert (quit_sh.old_path, quit_sh.new_path, quit_sh.status) == (None, "quit.sh", "added")
    assert (quit_sh.binary, quit_sh.added, quit_sh.removed) == (False, 3, 0)


def test_a_modified_binary_file_is_binary_and_modified() -> None:
    [pixel] = files_of("0027-git-modify-binary-file.mbox")
    assert (pixel.old_path, pixel.new_path) == ("pixel.bmp", "pixel.bmp")
    assert (pixel.status, pixel.binary) == ("modified", True)


def test_a_mode_change_alone_has_status_mode() -> None:
    [script] = files_of("0022-git-mode-change.mbox")
    assert script.status == "mode"
    assert script.old_path == script.new_path == "scripts/kconfig/nconf-cfg.sh"
    assert script.text.endswith("old mode 100644\nnew mode 100755\n")


def test_an_empty_new_file_is_added() -> None:
    [banana] = files_of("0021-git-empty-new-file.mbox")
    assert (banana.old_path, banana.new_path, banana.status) == (None, "banana", "added")
    assert (banana.added, banana.removed, banana.binary) == (0, 0, False)


def test_counts_of_a_simple_diff_are_right() -> None:
    """Counted by hand from 0003: smp.h -4 +1, sleep.c -1 +1, main.c -1 +9."""
    counts = [
        (f.path, f.added, f.removed) for f in files_of("0003-git-pull-request-with-diff.mbox")
    ]
    assert counts == [
        ("arch/x86/include/asm/smp.h", 1, 4),
        ("arch/x86/kernel/acpi/sleep.c", 1, 1),
        ("arch/x86/kernel/cpu/mtrr/main.c", 9, 1),
    ]


def test_cvs_index_diff_gives_paths_as_written() -> None:
    counts = [(f.path, f.status, f.added, f.removed) for f in files_of("0007-cvs-format-diff.mbox")]
    assert counts == [
        ("bfd/elf-bfd.h", "modified", 2, 0),
        ("bfd/elflink.c", "modified", 3, 0),
        ("bfd/elfxx-mips.c", "modified", 1, 0),
    ]


def test_new_symlinks_without_newline_at_end_are_added() -> None:
    makefile, vphn_c, vphn_h = files_of("0011-no-newline-at-end-of-file.mbox")
    assert (makefile.status, makefile.added, makefile.removed) == ("modified", 1, 1)
    assert (vphn_c.status, vphn_c.new_path) == (
        "added",
        "tools/testing/selftests/powerpc/vphn/vphn.c",
    )
    assert vphn_h.text.endswith("+../../../../../arch/powerpc/mm/vphn.h\n" + NO_NEWLINE + "\n")


@pytest.mark.parametrize(
    "name",
    [
        "0013-with-utf8-body.mbox",
        "0019-multipart-patch.mbox",
        "0022-git-mode-change.mbox",
        "0025-git-add-binary-file.mbox",
        "0026-git-add-mixed-binary-text-files.mbox",
        "0027-git-modify-binary-file.mbox",
    ],
)
def test_diffstat_is_what_git_format_patch_wrote(name: str) -> None:
    split = split_mail(name)
    assert "\n---\n" + diffstat(diff_files(split.diff)) + "\n" in split.message


def test_diffstat_cuts_long_rename_names_like_git_at_width_80() -> None:
    split = split_mail("0008-git-rename.mbox")
    assert diffstat(diff_files(split.diff), width=80) + "\n" in split.message


# --- robustness and the generated archive ------------------------------------------------


@pytest.mark.parametrize("path", patchwork_files("fuzz") if CORPUS.is_dir() else [], ids=str)
def test_malformed_mail_never_raises(path: Path) -> None:
    body = mail_body(path)
    message, diff = split_patch(body)
    assert isinstance(message, str)
    files = diff_files(diff or body)
    diffstat(files)
    parse_pull_request(body)
    parse_pull_request(message)


@cache
def generated_small() -> list[tuple[dict, str]]:
    messages = truth("small")["messages"]
    return [
        (m, parse_message(raw).body)
        for m, raw in zip(messages, generated_messages("small"), strict=True)
    ]


def test_generated_archive_diffs_are_found_in_patches_only() -> None:
    require_corpus()
    seen = set()
    for m, body in generated_small():
        message, diff = split_patch(body)
        kind = m["kind"]
        seen.add(kind)
        if kind == "patch":
            assert diff is not None, m["message_id"]
            assert diff_files(diff), m["message_id"]
        elif kind in ("cover", "discussion", "discussion_reply"):
            assert diff is None, m["message_id"]
        elif kind == "reply" and not m.get("has_inline_diff"):
            assert diff is None, m["message_id"]  # quoted hunks are not a diff
    assert {"patch", "cover", "reply", "discussion", "discussion_reply"} <= seen


# --- hand-made diffs --------------------------------------------------------------------

GIT_DIFF = (
    "diff --git a/README b/README\n"
    "index 3d75d48..a57f4dd 100644\n"
    "--- a/README\n"
    "+++ b/README\n"
    "@@ -1,4 +1,4 @@\n"
    " Title\n"
    "-- a list item that reads like a signature\n"
    "+From: a line that reads like a header\n"
    " \n"
    " last line\n"
)


def test_hunk_counts_keep_prose_looking_lines_in_the_diff() -> None:
    body = "Fix the list.\n\n---\n" + GIT_DIFF + "-- \n2.43.0\n"
    message, diff = split_patch(body)
    assert diff == GIT_DIFF
    assert message == "Fix the list.\n\n---\n-- \n2.43.0\n"
    [readme] = diff_files(diff)
    assert (readme.path, readme.added, readme.removed) == ("README", 1, 1)


def test_a_blank_context_line_whose_space_was_eaten_stays_in_the_hunk() -> None:
    diff = GIT_DIFF.replace("\n \n", "\n\n")
    assert split_patch("Hi\n" + diff + "\nThanks\n") == ("Hi\n\nThanks\n", diff)


def test_a_quoted_diff_is_not_a_diff() -> None:
    quoted = "".join("> " + line + "\n" for line in GIT_DIFF.splitlines())
    body = "On Monday, Ann wrote:\n" + quoted + "\nLooks good.\n"
    assert split_patch(body) == (body, None)


def test_a_minus_plus_pair_without_a_hunk_is_prose() -> None:
    body = "Compare:\n--- old behaviour\n+++ new behaviour\nthat is all\n"
    assert split_patch(body) == (body, None)


def test_empty_and_odd_bodies_have_no_diff() -> None:
    for body in ("", "\n", "diff --git a/x b/x\n", "@@ -1 +1 @@\n-a\n+b\n", "Index: foo\n"):
        assert split_patch(body) == (body, None)
        assert diff_files(body) == []


def test_a_body_without_final_newline_gives_a_diff_with_one() -> None:
    message, diff = split_patch("x\n" + GIT_DIFF.rstrip("\n"))
    assert diff == GIT_DIFF


def test_crlf_lines_are_recognised_and_kept() -> None:
    body = ("Fix.\n" + GIT_DIFF).replace("\n", "\r\n")
    message, diff = split_patch(body)
    assert message == "Fix.\r\n"
    assert diff == GIT_DIFF.replace("\n", "\r\n")
    assert [(f.path, f.added, f.removed) for f in diff_files(diff)] == [("README", 1, 1)]


def test_deleted_and_copied_files() -> None:
    diff = (
        "diff --git a/old.txt b/old.txt\n"
        "deleted file mode 100644\n"
        "index 3d75d48..0000000\n"
        "--- a/old.txt\n"
        "+++ /dev/null\n"
        "@@ -1,2 +0,0 @@\n"
        "-one\n"
        "-two\n"
        "diff --git a/src/a.py b/src/b.py\n"
        "similarity index 90%\n"
        "copy from src/a.py\n"
        "copy to src/b.py\n"
        "index 3d75d48..a57f4dd 100644\n"
        "--- a/src/a.py\n"
        "+++ b/src/b.py\n"
        "@@ -1 +1 @@\n"
        "-x = 1\n"
        "+x = 2\n"
    )
    deleted, copied = diff_files(diff)
    assert (deleted.old_path, deleted.new_path, deleted.status) == ("old.txt", None, "deleted")
    assert (deleted.added, deleted.removed) == (0, 2)
    assert (copied.old_path, copied.new_path, copied.status) == ("src/a.py", "src/b.py", "copied")
    assert deleted.text + copied.text == diff
    assert diffstat([deleted, copied]) == (
        " old.txt            | 2 --\n"
        " src/{a.py => b.py} | 2 +-\n"
        " 2 files changed, 1 insertion(+), 3 deletions(-)"
    )


def test_quoted_paths_with_spaces_and_utf8_are_unquoted() -> None:
    diff = (
        'diff --git "a/caf\\303\\251 menu.txt" "b/caf\\303\\251 menu.txt"\n'
        "new file mode 100644\n"
        "index 0000000..a57f4dd\n"
        "--- /dev/null\n"
        '+++ "b/caf\\303\\251 menu.txt"\n'
        "@@ -0,0 +1 @@\n"
        "+soup\n"
        "diff --git a/my notes.txt b/my notes.txt\n"
        "old mode 100644\n"
        "new mode 100755\n"
    )
    menu, notes = diff_files(diff)
    assert (menu.old_path, menu.new_path, menu.status) == (None, "café menu.txt", "added")
    assert (notes.path, notes.status) == ("my notes.txt", "mode")


def test_gnu_diff_with_timestamps_and_binary_files_line() -> None:
    diff = (
        "diff -urN linux.orig/Makefile linux/Makefile\n"
        "--- linux.orig/Makefile\t2011-12-05 16:49:35.000000000 -0800\n"
        "+++ linux/Makefile\t2011-12-06 10:01:02.000000000 -0800\n"
        "@@ -1,2 +1,2 @@\n"
        "-VERSION = 3\n"
        "+VERSION = 4\n"
        " PATCHLEVEL = 1\n"
        "diff --git a/logo.png b/logo.png\n"
        "index 3d75d48..a57f4dd 100644\n"
        "Binary files a/logo.png and b/logo.png differ\n"
    )
    message, found = split_patch("Bump.\n" + diff + "\nBye\n")
    assert found == diff
    makefile, logo = diff_files(diff)
    assert (makefile.old_path, makefile.new_path) == ("Makefile", "Makefile")
    assert (makefile.added, makefile.removed) == (1, 1)
    assert (logo.path, logo.binary, logo.status, logo.added) == ("logo.png", True, "modified", 0)


def test_diffstat_scales_a_big_change_to_the_width() -> None:
    big = FileDiff("a.py", "a.py", "modified", 300, 100, False, "")
    small = FileDiff(None, "b.py", "added", 1, 0, False, "")
    lines = diffstat([big, small]).split("\n")
    assert all(len(line) <= 72 for line in lines)
    assert lines[0].startswith(" a.py | 400 +") and lines[0].endswith("-")
    assert lines[1] == " b.py |   1 +"
    assert lines[2] == " 2 files changed, 301 insertions(+), 100 deletions(-)"
    assert diffstat([]) == ""


def test_garbage_never_raises() -> None:
    samples = [
        "diff --git \n--- \n+++ \n@@ -x +y @@\n",
        "diff --git a b\nrename from\nrename to\n",
        'diff --git "a/\\\n',
        "@@ -1,99999999999999999999 +1 @@\n" * 3,
        "diff --git a/x b/x\nGIT binary patch\nliteral 99999999999999999999\n\x00\x01\n\n",
        "--- a\n+++ b\n@@ -1 +1 @@\n" + "\u2028\x0c\r" * 50,
        "\n".join("diff --git a/f b/f\nindex 1..2\n" for _ in range(200)),
    ]
    for body in samples:
        message, diff = split_patch(body)
        diffstat(diff_files(diff or body))
