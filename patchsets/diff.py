"""Find the diff in a mail body and describe it file by file; pure, never raises.

`split_patch` works like Patchwork's `parse_patch` state machine: a diff starts at a line
that begins a file's diff (`diff --git`, `diff -u...`, `Index:`, or a `---`/`+++` pair
followed by a hunk) and runs while the lines are diff lines. Hunk headers are trusted for
their line counts, so a hunk line that reads like prose is still diff, and a quoted diff
(`> diff --git`) never starts one. Unlike a generic unified-diff parser it also takes what
git writes without hunks: binary patches, mode changes, pure renames and copies, empty new
and deleted files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["FileDiff", "diff_files", "diffstat", "split_patch"]

_HUNK_RE = re.compile(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_BINARY_FILES_RE = re.compile(r"Binary files (.+) and (.+) differ$")
_BINARY_HUNK_RE = re.compile(r"(literal|delta) (\d+)$")
# A line of git's base85 binary data: a length letter, then base85 characters.
_BASE85_RE = re.compile(r"[A-Za-z][0-9A-Za-z!#$%&()*+;<=>?@^_`{|}~-]+$")

# Git's extended header lines (git-diff(1), "Generating patches with -p").
_EXTENDED = (
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "copy from ",
    "copy to ",
    "rename from ",
    "rename to ",
    "similarity index ",
    "dissimilarity index ",
    "index ",
)
# Lines CVS and Subversion put between `Index:` and the `---` line.
_INDEX_HEADER = ("====", "RCS file: ", "retrieving revision ", "diff ")
_MNEMONIC = frozenset("abciow")  # git's a/ b/ and diff.mnemonicPrefix's c/ i/ o/ w/


@dataclass
class FileDiff:
    old_path: str | None  # None for a new file
    new_path: str | None  # None for a deleted file
    status: str  # 'added' | 'deleted' | 'modified' | 'renamed' | 'copied' | 'mode'
    added: int  # lines added (0 for binary)
    removed: int  # lines removed
    binary: bool
    text: str  # this file's part of the diff, verbatim (header lines + hunks)

    @property
    def path(self) -> str:
        """The path to show: the new one, or the old one for a deleted file."""
        return self.new_path or self.old_path or ""


@dataclass
class _Block:
    """One file's diff as found by `_scan_file`: where it is and what it says."""

    start: int
    end: int  # exclusive line index
    kind: str  # 'git' | 'diff' | 'index' | 'plain'
    first: str  # the line the file's diff starts with
    headers: list[str] = field(default_factory=list)  # extended header lines
    minus: str | None = None  # the `--- ` line, without its marker
    plus: str | None = None  # the `+++ ` line, without its marker
    hunks: int = 0
    added: int = 0
    removed: int = 0
    binary: bool = False
    binary_line: str | None = None  # a `Binary files X and Y differ` line


def split_patch(body: str) -> tuple[str, str | None]:
    """(message, diff): the text before the diff, and the diff itself (None when the body
    holds no diff).

    The diff runs from the first file's diff to the end of the last one; text after it
    (a `-- ` signature, a list footer, comments below an inline diff) is appended to the
    message, so message and diff together hold every line of the body.
    """
    try:
        lines, keys = _lines(body)
        blocks = _scan_all(keys)
        if not blocks:
            return body, None
        start, end = blocks[0].start, blocks[-1].end
        diff = "".join(lines[start:end])
        if not diff.endswith("\n"):
            diff += "\n"  # a body cut off without its last newline; git wants one
        return "".join(lines[:start]) + "".join(lines[end:]), diff
    except Exception:  # the contract is an answer for any input: bad input is "no diff"
        return body if isinstance(body, str) else "", None


def diff_files(diff: str) -> list[FileDiff]:
    """Each file's change in the diff, in order (text between files is left out)."""
    try:
        lines, keys = _lines(diff)
        files = []
        for block in _scan_all(keys):
            files.append(_file_diff(block, "".join(lines[block.start : block.end])))
        return files
    except Exception:
        return []


def diffstat(files: list[FileDiff], width: int = 72) -> str:
    """A `git diff --stat`-like summary, for showing a patch without its diff: one line
    per file (' path | N ++--') and the total line (' 3 files changed, 10 insertions(+),
    2 deletions(-)'); '' for no files. The layout is git's; width 72 is format-patch's."""
    try:
        return _diffstat(files, width) if files else ""
    except Exception:  # a summary for display is not worth a crash
        return ""


def _diffstat(files: list[FileDiff], width: int) -> str:
    names = [_stat_name(f) for f in files]
    sizes = [_binary_sizes(f) if f.binary else None for f in files]
    max_change = max([f.added + f.removed for f in files if not f.binary] or [0])
    number_width = len(str(max_change))
    bin_width = 0  # of 'Bin OLD -> NEW bytes'
    for f, size in zip(files, sizes, strict=True):
        if f.binary:
            number_width = max(number_width, 3)  # change counts align with "Bin"
            bin_width = max(bin_width, 14 + len(str(size[0])) + len(str(size[1])) if size else 3)
    # git's show_stats: take what is wanted, then give the graph 3/8 of a line too long.
    width = max(width, 16 + 6 + number_width)
    graph_width = max_change if max_change + 4 > bin_width else bin_width - 4
    name_width = max(len(n) for n in names)
    if name_width + number_width + 6 + graph_width > width:
        if graph_width > width * 3 // 8 - number_width - 6:
            graph_width = max(width * 3 // 8 - number_width - 6, 6)
        if name_width > width - number_width - 6 - graph_width:
            name_width = width - number_width - 6 - graph_width
        else:
            graph_width = width - number_width - 6 - name_width
    out = []
    for f, name, size in zip(files, names, sizes, strict=True):
        shown = _fit_name(name, name_width)
        if f.binary:
            tail = f" {size[0]} -> {size[1]} bytes" if size else ""
            out.append(f" {shown:<{name_width}} | {'Bin':>{number_width}}{tail}")
            continue
        add, delete = f.added, f.removed
        if graph_width <= max_change:
            total = _scale(add + delete, graph_width, max_change)
            if total < 2 and add and delete:
                total = 2
            if add < delete:
                add = _scale(add, graph_width, max_change)
                delete = total - add
            else:
                delete = _scale(delete, graph_width, max_change)
                add = total - delete
        graph = "+" * add + "-" * delete
        count = f.added + f.removed
        out.append(f" {shown:<{name_width}} | {count:>{number_width}} {graph}".rstrip())
    out.append(_stat_total(files))
    return "\n".join(out)


# --- scanning ---------------------------------------------------------------------------


def _lines(text: str) -> tuple[list[str], list[str]]:
    """The lines with their endings (to copy verbatim) and without (to match on).

    Only '\\n' ends a line: str.splitlines() would also split on form feeds and other
    characters that appear inside real diffs."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    keys = [line.rstrip("\n").removesuffix("\r") for line in lines]
    return lines, keys


def _scan_all(keys: list[str]) -> list[_Block]:
    """Every file's diff in the text, in order; lines that start none are skipped."""
    blocks = []
    i, n = 0, len(keys)
    while i < n:
        block = _scan_file(keys, i) if keys[i][:1] in ("d", "I", "-") else None
        if block is None:
            i += 1
        else:
            blocks.append(block)
            i = block.end
    return blocks


def _scan_file(keys: list[str], i: int) -> _Block | None:
    """The file's diff that starts at line i, or None when no valid one starts there."""
    first = keys[i]
    if first.startswith("diff --git "):
        block = _Block(i, i + 1, "git", first)
    elif first.startswith("diff "):
        block = _Block(i, i + 1, "diff", first)
    elif first.startswith("Index: "):
        block = _Block(i, i + 1, "index", first)
    elif first.startswith("--- "):
        block = _Block(i, i, "plain", first)
    else:
        return None
    n = len(keys)
    j = block.end
    if block.kind == "index":
        while j < n and keys[j].startswith(_INDEX_HEADER):
            j += 1
    if block.kind in ("git", "diff"):
        while j < n and keys[j].startswith(_EXTENDED):
            block.headers.append(keys[j])
            j += 1
    if j < n and keys[j] == "GIT binary patch" and block.kind != "plain":
        block.binary = True
        block.end = _scan_binary(keys, j + 1)
        return block
    if j < n and _BINARY_FILES_RE.match(keys[j]) and block.kind != "plain":
        block.binary = True
        block.binary_line = keys[j]
        block.end = j + 1
        return block
    if j + 1 < n and keys[j].startswith("--- ") and keys[j + 1].startswith("+++ "):
        block.minus, block.plus = keys[j][4:], keys[j + 1][4:]
        j += 2
    elif block.kind == "plain":
        return None
    j = _scan_hunks(keys, j, block)
    block.end = j
    if block.hunks:
        return block
    if block.kind == "git" and (block.headers or block.minus is not None):
        return block  # mode change, pure rename or copy, empty new or deleted file
    return None


def _scan_hunks(keys: list[str], j: int, block: _Block) -> int:
    """Consume the hunks from line j, trusting each header's line counts; the line after."""
    n = len(keys)
    while j < n:
        match = _HUNK_RE.match(keys[j])
        if not match:
            break
        old, new = (1 if g is None else int(g) for g in match.groups())
        j += 1
        while j < n and (old > 0 or new > 0):
            line = keys[j]
            c = line[:1]
            if c == "-":
                old -= 1
                block.removed += 1
            elif c == "+":
                new -= 1
                block.added += 1
            elif c == " " or line == "":  # '' is a context line whose space a mailer ate
                old -= 1
                new -= 1
            elif c != "\\":  # not a hunk line: the hunk was cut short
                break
            j += 1
        block.hunks += 1
        while j < n and keys[j].startswith("\\ "):  # '\ No newline at end of file'
            j += 1
    return j


def _scan_binary(keys: list[str], j: int) -> int:
    """Consume git's binary hunks (`literal N`/`delta N`, base85 lines, a blank line)."""
    n = len(keys)
    while j < n:
        if not _BINARY_HUNK_RE.match(keys[j]):
            break
        j += 1
        while j < n and _BASE85_RE.match(keys[j]):
            j += 1
        if j < n and keys[j] == "":
            j += 1
    return j


# --- describing -------------------------------------------------------------------------


def _file_diff(block: _Block, text: str) -> FileDiff:
    old, new = _paths(block)
    headers = block.headers
    added = any(h.startswith("new file mode ") for h in headers)
    deleted = any(h.startswith("deleted file mode ") for h in headers)
    if added or (old is None and new is not None):
        status, old = "added", None
    elif deleted or (new is None and old is not None):
        status, new = "deleted", None
    elif any(h.startswith("rename from ") for h in headers):
        status = "renamed"
    elif any(h.startswith("copy from ") for h in headers):
        status = "copied"
    elif any(h.startswith("new mode ") for h in headers) and not (block.hunks or block.binary):
        status = "mode"
    else:
        status = "modified"
    added_lines = 0 if block.binary else block.added
    removed_lines = 0 if block.binary else block.removed
    return FileDiff(old, new, status, added_lines, removed_lines, block.binary, text)


def _paths(block: _Block) -> tuple[str | None, str | None]:
    """(old, new) paths without a/ b/ prefixes; None for /dev/null."""
    old: str | None = None
    new: str | None = None
    strip = False
    if block.kind == "git":
        old, new, strip = _git_header_paths(block.first)
    elif block.kind == "index":
        old = new = block.first[len("Index: ") :].strip()
    sides = None
    if block.minus is not None and block.plus is not None:
        sides = (_diff_path(block.minus), _diff_path(block.plus))
    elif block.binary_line is not None:
        match = _BINARY_FILES_RE.match(block.binary_line)
        if match:
            sides = (_unquote(match.group(1)), _unquote(match.group(2)))
    if sides is not None:
        a, b = sides
        if block.kind == "git":
            a = _strip_component(a) if strip else a
            b = _strip_component(b) if strip else b
        else:
            a, b = _strip_prefixes(a, b)
        old, new = a, b
    for header in block.headers:
        if header.startswith(("rename from ", "copy from ")):
            old = _unquote(header.split(" ", 2)[2])
        elif header.startswith(("rename to ", "copy to ")):
            new = _unquote(header.split(" ", 2)[2])
    return old, new


def _git_header_paths(line: str) -> tuple[str | None, str | None, bool]:
    """(old, new, had_prefixes) from a `diff --git A B` line, where paths may hold spaces
    (then both sides name the same file, which is how the split is found) or be quoted."""
    rest = line[len("diff --git ") :]
    if rest.startswith('"'):
        end = _quoted_end(rest)
        a, b = rest[:end], rest[end:].lstrip(" ")
        pair = (_unquote(a) or "", _unquote(b) or "")
    elif rest.endswith('"') and ' "' in rest:
        k = rest.index(' "')
        pair = (rest[:k], _unquote(rest[k + 1 :]) or "")
    else:
        # Both sides name the same file with same-length prefixes, so the split is in the
        # middle; failing that (a rename), at ' b/', else at the middle space.
        middle = (len(rest) - 1) // 2
        if rest[middle : middle + 1] == " " and _same_file(rest[:middle], rest[middle + 1 :]):
            pair = (rest[:middle], rest[middle + 1 :])
        elif " b/" in rest:
            k = rest.index(" b/")
            pair = (rest[:k], rest[k + 1 :])
        else:
            spaces = [k for k, c in enumerate(rest) if c == " "]
            k = spaces[len(spaces) // 2] if spaces else len(rest)
            pair = (rest[:k], rest[k + 1 :])
    a, b = pair
    if _has_prefix(a) and _has_prefix(b) and a[0] != b[0]:
        return _strip_component(a), _strip_component(b), True
    return a or None, b or None, False


def _same_file(a: str, b: str) -> bool:
    return a == b or _strip_component(a) == _strip_component(b)


def _has_prefix(path: str) -> bool:
    return len(path) > 2 and path[1] == "/" and path[0] in _MNEMONIC


def _diff_path(text: str) -> str | None:
    """The path of a `---`/`+++` line: before a tab (GNU diff's timestamp), unquoted."""
    path, tab, _ = text.partition("\t")
    path = path.rstrip()
    if not tab and not path.startswith('"') and re.search(r" \d", path):
        path = path.split(" ", 1)[0]  # `--- file 2011-12-05 ...` with spaces, not a tab
    path = _unquote(path) or ""
    return None if path in ("/dev/null", "") else path


def _strip_prefixes(a: str | None, b: str | None) -> tuple[str | None, str | None]:
    """Drop the first component of non-git paths when it is what differs (a/ vs b/,
    linux.orig/ vs linux/), as `patch -p1` would; keep paths that are already alike."""
    if a is not None and b is not None:
        if a != b and "/" in a and "/" in b and a.split("/", 1)[1] == b.split("/", 1)[1]:
            return a.split("/", 1)[1], b.split("/", 1)[1]
        return a, b
    if a is not None and a.startswith("a/"):
        a = a[2:]
    if b is not None and b.startswith("b/"):
        b = b[2:]
    return a, b


def _strip_component(path: str | None) -> str | None:
    if path is None:
        return None
    return path[2:] if _has_prefix(path) else path


def _quoted_end(text: str) -> int:
    """Index just past the C-quoted string that opens text."""
    k = 1
    while k < len(text):
        if text[k] == "\\":
            k += 2
            continue
        if text[k] == '"':
            return k + 1
        k += 1
    return len(text)


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(text: str | None) -> str | None:
    """A path as git quotes it ("a/caf\\303\\251") back to text; other text unchanged."""
    if text is None or len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    out = bytearray()
    body = text[1:-1]
    k = 0
    while k < len(body):
        c = body[k]
        if c == "\\" and k + 1 < len(body):
            nxt = body[k + 1]
            if nxt in "01234567" and re.match(r"[0-7]{3}", body[k + 1 : k + 4]):
                out.append(int(body[k + 1 : k + 4], 8) & 0xFF)
                k += 4
                continue
            out.append(_ESCAPES.get(nxt, ord(nxt) & 0xFF if ord(nxt) < 128 else 63))
            k += 2
            continue
        out.extend(c.encode("utf-8", "surrogateescape"))
        k += 1
    return out.decode("utf-8", "replace")


# --- diffstat ---------------------------------------------------------------------------


def _stat_name(f: FileDiff) -> str:
    """The path as git's diffstat shows it, with renames as 'dir/{old => new}/file'
    (git's pprint_rename: the common prefix up to a '/', the common suffix from one)."""
    if f.status not in ("renamed", "copied") or not f.old_path or not f.new_path:
        return f.path
    a, b = f.old_path, f.new_path
    prefix = 0
    k = 0
    while k < len(a) and k < len(b) and a[k] == b[k]:
        if a[k] == "/":
            prefix = k + 1
        k += 1
    # Walk back from the ends (the terminators match); when there is a common prefix,
    # one step into it, so that its closing '/' can open the suffix too.
    floor = prefix - 1 if prefix else 0
    ends_a, ends_b = a + "\0", b + "\0"
    i, j, suffix = len(a), len(b), 0
    while i >= floor and j >= floor and ends_a[i] == ends_b[j]:
        if ends_a[i] == "/":
            suffix = len(a) - i
        i -= 1
        j -= 1
    if not prefix and not suffix:
        return f"{a} => {b}"
    a_mid = a[prefix : prefix + max(len(a) - prefix - suffix, 0)]
    b_mid = b[prefix : prefix + max(len(b) - prefix - suffix, 0)]
    return f"{a[:prefix]}{{{a_mid} => {b_mid}}}{a[len(a) - suffix :]}"


def _binary_sizes(f: FileDiff) -> tuple[int, int] | None:
    """(old, new) byte sizes when git sent both sides whole (forward hunk, then reverse)."""
    hunks = re.findall(r"^(literal|delta) (\d+)$", f.text.partition("GIT binary patch\n")[2], re.M)
    if len(hunks) == 2 and hunks[0][0] == hunks[1][0] == "literal":
        return int(hunks[1][1]), int(hunks[0][1])
    return None


def _fit_name(name: str, width: int) -> str:
    """A name too long for its column, as git cuts it: '...' and the tail from a '/'."""
    if len(name) <= width:
        return name
    tail = name[len(name) - max(width - 3, 0) :]
    slash = tail.find("/")
    return "..." + (tail[slash:] if slash >= 0 else tail)


def _scale(value: int, width: int, max_change: int) -> int:
    """git's scale_linear: at least one mark for any change."""
    if value == 0:
        return 0
    return 1 + (value * (width - 1)) // max_change


def _stat_total(files: list[FileDiff]) -> str:
    insertions = sum(f.added for f in files)
    deletions = sum(f.removed for f in files)
    parts = [f" {len(files)} file{'s' if len(files) != 1 else ''} changed"]
    if insertions or not deletions:
        parts.append(f"{insertions} insertion{'s' if insertions != 1 else ''}(+)")
    if deletions or not insertions:
        parts.append(f"{deletions} deletion{'s' if deletions != 1 else ''}(-)")
    return ", ".join(parts)
