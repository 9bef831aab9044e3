"""Patchwork's patch hash (`patchwork/hasher.py` `hash_diff`, see ANCHORS §5.2), written
here only to show in the tests that it misses a rebased patch where Mailyard's fallback
does not: it hashes context lines and hunk line counts, which a rebase changes."""

from __future__ import annotations

import hashlib
import re

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_FILENAME = re.compile(r"^(---|\+\+\+) (\S+)")


def patchwork_hash(diff: str) -> str:
    digest = hashlib.sha1()
    for raw in diff.replace("\r", "").split("\n"):
        line = raw
        if _FILENAME.match(line):
            prefix, name = _FILENAME.match(line).groups()  # type: ignore[union-attr]
            if name != "/dev/null":
                parts = name.split("/", 1)
                name = ("a/" if prefix == "---" else "b/") + (parts[1] if len(parts) > 1 else "")
            line = f"{prefix} {name}"
        elif hunk := _HUNK.match(line):
            old = hunk.group(1) or "1"
            new = hunk.group(2) or "1"
            line = f"@@ -{old} +{new} @@"
        elif line[:1] not in ("+", "-", " "):
            continue
        digest.update((line + "\n").encode())
    return digest.hexdigest()
