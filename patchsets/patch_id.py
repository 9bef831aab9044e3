"""`git patch-id --stable` of a diff, computed here: the same id git gives, so a patch
can be recognised across versions, re-sends and the commits it became.

Follows git's builtin/patch-id.c (non-verbatim, stable): every line of each file's diff
is hashed with all whitespace removed, except `index` lines (whose blob ids stand in for
a binary patch), hunk headers (line numbers must not matter) and `\\ No newline` markers;
each file's SHA-1 is added, as a 160-bit number, to the total, so the order of files
does not matter either.
"""

from __future__ import annotations

import hashlib
import re

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_HEX_OID = re.compile(r"^[0-9a-f]{40}")
_ASCII_SPACE = b" \t\n\x0b\x0c\r"


def git_patch_id(diff: str) -> str | None:
    """The stable patch id of `diff` (text from its first `diff ` line on), or None when
    it holds nothing git would hash."""
    total = bytearray(20)
    digest = hashlib.sha1()
    hashed = 0
    before = after = -1
    binary = False
    pre_oid = post_oid = ""
    for line in diff.split("\n"):
        if line.startswith("\\ ") and len(line) + 1 > 12:
            continue  # '\ No newline at end of file'
        if _HEX_OID.match(line):
            break  # the next commit of a 'git log -p' stream
        if not hashed and not line.startswith("diff "):
            continue
        if before == -1:
            if line.startswith(("GIT binary patch", "Binary files")):
                binary, before = True, 0
                digest.update(pre_oid.encode() + post_oid.encode())
                _add(total, digest)
                digest = hashlib.sha1()
                continue
            if line.startswith("index "):
                pre_oid, post_oid = _index_oids(line)
                continue
            if line.startswith("--- "):
                before = after = 1
            elif not line[:1].isalpha():
                break
        if binary:  # git skips the rest, and the next file's 'diff' line too
            if line.startswith("diff "):
                binary, before = False, -1
            continue
        if before == 0 and after == 0:
            hunk = _HUNK.match(line)
            if hunk:
                before = int(hunk.group(1)) if hunk.group(1) is not None else 1
                after = int(hunk.group(2)) if hunk.group(2) is not None else 1
                continue
            if not line.startswith("diff "):
                break
            _add(total, digest)
            digest = hashlib.sha1()
            before = after = -1
        if line[:1] in ("-", " "):
            before -= 1
        if line[:1] in ("+", " "):
            after -= 1
        # git's isspace() knows ASCII only: a no-break space is content.
        text = line.encode("utf-8", "surrogateescape").translate(None, _ASCII_SPACE)
        hashed += len(text)
        digest.update(text)
    if not hashed:
        return None
    _add(total, digest)
    return total.hex()


def _index_oids(line: str) -> tuple[str, str]:
    """'index abc..def 100644' -> ('abc', 'def'), as git cuts them."""
    rest = line[len("index ") :]
    pre, dots, post = rest.partition("..")
    if not dots:
        return "", ""
    return pre[:64], post.split(" ", 1)[0][:64]


def _add(total: bytearray, digest) -> None:
    """total += digest, byte by byte with carry, as git's flush_one_hunk does."""
    carry = 0
    for i, byte in enumerate(digest.digest()):
        carry += total[i] + byte
        total[i] = carry & 0xFF
        carry >>= 8
