"""`git blame --porcelain` read into lines: pure, from bytes.

The porcelain format (git-blame(1)): each group starts with a header line
`SHA ORIG_LINE FINAL_LINE [GROUP_SIZE]`, the first time a commit appears its details
follow (`author NAME`, `author-time`, `summary`, `filename`...), and every line of the
file comes as one header and one line starting with a TAB. The line's bytes are kept as
they are; decoding is the page's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BlameCommit:
    sha: str
    author: str = ""
    author_mail: str = ""
    author_time: int = 0
    summary: str = ""
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BlameLine:
    number: int  # in the file as it is now, from 1
    original_number: int  # in the commit that brought it
    commit: BlameCommit
    content: bytes  # without its newline
    starts_group: bool  # the first of a run of lines from the same commit


def parse_porcelain(output: bytes) -> list[BlameLine]:
    """The file's lines with the commit each comes from, in order."""
    commits: dict[str, BlameCommit] = {}
    lines: list[BlameLine] = []
    current: tuple[BlameCommit, int, int] | None = None
    previous_sha = ""
    for raw in output.split(b"\n"):
        if raw.startswith(b"\t"):
            if current is None:
                continue
            commit, original, final = current
            lines.append(BlameLine(final, original, commit, raw[1:], commit.sha != previous_sha))
            previous_sha = commit.sha
            current = None
            continue
        if current is None:
            parts = raw.split(b" ")
            if len(parts) in (3, 4) and len(parts[0]) in (40, 64):
                sha = parts[0].decode("ascii", "replace")
                commit = commits.setdefault(sha, BlameCommit(sha))
                current = (commit, int(parts[1]), int(parts[2]))
            continue
        key, _, value = raw.decode("utf-8", "replace").partition(" ")
        commit = current[0]
        if key == "author":
            commit.author = value
        elif key == "author-mail":
            commit.author_mail = value.strip("<>")
        elif key == "author-time":
            commit.author_time = int(value) if value.isdigit() else 0
        elif key == "summary":
            commit.summary = value
        else:
            commit.details[key] = value
    return lines
