"""Where each line of a patch mail's body is (pure): in the commit message, the diffstat,
or the diff, and there in which file and hunk, at which old and new line numbers. The
anchor of an inline comment is one of these."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT_DIFF = re.compile(r"^diff --git (?:\"?a/)?(.+?)\"? (?:\"?b/)?(.+?)\"?$")


class Region(enum.Enum):
    message = "message"  # the commit message (or a cover letter's text)
    notes = "notes"  # after the `---` line and before the diff: diffstat, notes
    diff = "diff"  # file headers, hunk headers and hunk lines


class Side(enum.Enum):
    context = "context"
    old = "old"  # a removed line
    new = "new"  # an added line


@dataclass(frozen=True)
class LinePosition:
    region: Region
    path: str | None = None  # the file, in the diff
    hunk: int | None = None  # 0-based, counted across the whole patch
    old_line: int | None = None  # in the file before, for context and removed lines
    new_line: int | None = None  # in the file after, for context and added lines
    side: Side | None = None  # None on file and hunk headers


def line_positions(body: str) -> list[LinePosition]:
    """One position for each line of `body` (as `body.split("\\n")` gives them). A hunk
    ends where its header's line counts say, so the `-- ` signature after the diff is
    not taken for a removed line."""
    out: list[LinePosition] = []
    region = Region.message
    path: str | None = None
    hunk = -1
    old = new = 0
    old_left = new_left = 0  # lines of the current hunk still to come, per side
    for line in body.split("\n"):
        if old_left > 0 or new_left > 0:
            if line.startswith("-") and old_left > 0:
                out.append(LinePosition(region, path, hunk, old_line=old, side=Side.old))
                old, old_left = old + 1, old_left - 1
                continue
            if line.startswith("+") and new_left > 0:
                out.append(LinePosition(region, path, hunk, new_line=new, side=Side.new))
                new, new_left = new + 1, new_left - 1
                continue
            if line.startswith(" ") or line == "":  # some clients strip an empty line's space
                out.append(
                    LinePosition(region, path, hunk, old_line=old, new_line=new, side=Side.context)
                )
                old, new = old + 1, new + 1
                old_left, new_left = old_left - 1, new_left - 1
                continue
            if line.startswith("\\"):  # "\ No newline at end of file"
                out.append(LinePosition(region, path, hunk))
                continue
            old_left = new_left = 0  # a short hunk: what follows is not part of it
        if line.startswith("diff --git "):
            region = Region.diff
            found = _GIT_DIFF.match(line)
            path = found.group(2) if found else None
        elif region is Region.message and line.rstrip() == "---":
            region = Region.notes
        elif region is Region.diff and (header := _HUNK.match(line)):
            hunk += 1
            old, new = int(header.group(1)), int(header.group(3))
            old_left = int(header.group(2)) if header.group(2) is not None else 1
            new_left = int(header.group(4)) if header.group(4) is not None else 1
            out.append(LinePosition(region, path, hunk))
            continue
        elif region is Region.diff and line.startswith("+++ b/"):
            path = line[len("+++ b/") :]
        out.append(LinePosition(region, path if region is Region.diff else None))
    return out
