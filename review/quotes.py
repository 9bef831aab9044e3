"""Inline comments from a reply (pure): which lines of the message it answers each block
of new text is about.

A reply is read as mutt users write it: quoted lines (`>`, `> >`, `>>`), then the
reviewer's text under the last quoted line it is about. Noise is dropped first: the
signature (from `-- `), list footers, attribution lines ("On ..., X wrote:"), and snip
markers (`[...]`, `[snip]`, `<snip>`, `...`), which only say that the quote is trimmed.
Each run of quoted lines is then found in the parent's lines, in order (a reviewer quotes
top to bottom), allowing for whitespace the mail clients changed and for long lines they
re-wrapped (a quoted line that is part of a parent line); a run that is not found is
shown as what it is, quoted text in the comment. Text after a found run is anchored to the
parent line where the run ends (lists.sr.ht's rule, which its users know); text with no
quote before it is a general comment.

Lines quoted more deeply (`> >`) are the grandparent's: a reply that quotes a reply
anchors through it (the caller resolves the parent line's own anchor)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_QUOTE = re.compile(r"^((?:[ \t]*>)+)[ \t]?")
_ATTRIBUTION = re.compile(
    r"(^On .+(wrote|writes|a écrit|schrieb)\s*:?\s*$)|(^.{1,200} (wrote|writes)\s*:\s*$)"
    r"|(^Quoting .+:\s*$)|(^\S+ \S+ <[^>]+> (wrote|writes):?\s*$)",
    re.I,
)
_SNIP = re.compile(
    r"^\s*(\[\s*(\.\.\.|…|snip\w*|trimmed|cut)\s*\]|<\s*snip\w*\s*>|\.\.\.|…|snip)\s*$", re.I
)
_FOOTERS = ("_______________________________________________", "-------------- next part")
_SPACE = re.compile(r"\s+")
_GAP = -1  # where something was cut
_MIN_PART = 8  # a quoted fragment this long may be part of a re-wrapped parent line


@dataclass
class Comment:
    """A block of the reviewer's own text; `anchor` is the index of the parent line it
    follows (None: a general comment, about the whole message)."""

    text: str
    anchor: int | None
    quoted: list[str] = field(default_factory=list)  # the parent lines it answers


@dataclass(frozen=True)
class QuoteRun:
    level: int  # 0: the reviewer's text; 1: quoted once; 2+: deeper
    lines: list[str]


def parse_reply(body: str) -> list[QuoteRun]:
    """The reply's body as runs of text and quotes, noise removed (see the module)."""
    lines = _without_signature(body.replace("\r\n", "\n").split("\n"))
    runs: list[QuoteRun] = []
    for line in lines:
        found = _QUOTE.match(line)
        level = found.group(1).count(">") if found else 0
        text = line[found.end() :] if found else line
        if runs and runs[-1].level == level:
            runs[-1].lines.append(text)
        else:
            runs.append(QuoteRun(level, [text]))
    return _without_noise(runs)


def anchor_comments(reply_body: str, parent_lines: list[str]) -> list[Comment]:
    """The reply's comments, each anchored to a line of the parent or general."""
    keys = [_key(line) for line in parent_lines]
    comments: list[Comment] = []
    cursor = 0
    anchor: int | None = None
    quoted: list[str] = []
    unmatched: list[str] = []  # quoted text found nowhere: kept, as quoted text
    for run in parse_reply(reply_body):
        if run.level == 0:
            text = "\n".join(unmatched + run.lines).strip("\n")
            unmatched = []
            if text.strip():
                comments.append(Comment(text, anchor, quoted))
            continue
        if run.level > 1:
            continue  # the grandparent's words, quoted in the parent too
        found = _find(run.lines, keys, cursor)
        if found is None:
            unmatched += [f"> {line}".rstrip() for line in run.lines]
            continue
        start, end = found
        cursor, anchor = end, end
        quoted = parent_lines[start : end + 1]
    if unmatched and comments:
        comments[-1].text += "\n" + "\n".join(unmatched)
    return _merged(comments)


def _without_signature(lines: list[str]) -> list[str]:
    for n, line in enumerate(lines):
        if line in ("-- ", "--") and n > 0:
            return lines[:n]
        if any(line.lstrip("> ").startswith(f) for f in _FOOTERS):
            return lines[:n]
    return lines


def _without_noise(runs: list[QuoteRun]) -> list[QuoteRun]:
    """Snip markers and attribution lines (the last one or two lines before a quote) out
    of the runs. Where something was cut between two quotes, they stay two quotes: the
    reviewer trimmed the parent between them."""
    out: list[QuoteRun] = []
    for n, run in enumerate(runs):
        if run.level == 0:
            lines = [line for line in run.lines if not _SNIP.match(line)]
            if n + 1 < len(runs):
                lines = _drop_attribution(lines)
            if any(line.strip() for line in lines):
                out.append(QuoteRun(0, lines))
            else:
                out.append(QuoteRun(_GAP, []))
            continue
        pieces: list[list[str]] = [[]]
        for line in run.lines:
            if _SNIP.match(line):
                pieces.append([])
            else:
                pieces[-1].append(line)
        for k, piece in enumerate(pieces):
            if k:
                out.append(QuoteRun(_GAP, []))
            if any(line.strip() for line in piece):
                out.append(QuoteRun(run.level, piece))
    return [r for r in out if r.level != _GAP]  # gaps only kept neighbours apart


def _drop_attribution(lines: list[str]) -> list[str]:
    tail = list(lines)
    while tail and not tail[-1].strip():
        tail.pop()
    for width in (1, 2):
        if len(tail) >= width:
            joined = " ".join(line.strip() for line in tail[-width:])
            if _ATTRIBUTION.match(joined):
                return tail[:-width]
    return lines


def find_quote(quote: list[str], parent_lines: list[str]) -> tuple[int, int] | None:
    """Where quoted lines are in the parent: (first, last) line, or None."""
    return _find(quote, [_key(line) for line in parent_lines], 0)


def _key(line: str) -> str:
    return _SPACE.sub(" ", line).strip()


def _find(quote: list[str], keys: list[str], cursor: int) -> tuple[int, int] | None:
    """Where the quoted lines are in the parent: (first, last) parent line. Searched from
    `cursor` on, then from the top. A reviewer often trims without saying so (the file
    header, then a hunk further down), so the quote is matched piece by piece, in order;
    it is found when at least half its lines are."""
    wanted = [_key(line) for line in quote]
    needed = sum(1 for w in wanted if w)
    if not needed:
        return None
    for lo in (cursor, 0):
        first: int | None = None
        last = lo
        matched = 0
        i, j = 0, lo
        while i < len(wanted):
            if not wanted[i]:
                i += 1
                continue
            piece = _longest_piece(wanted, i, keys, j)
            if piece is None:
                i += 1
                continue
            start, end, count, i = piece
            first = start if first is None else first
            last, j, matched = end, end + 1, matched + count
        if first is not None and matched * 2 >= needed:
            return first, last
    return None


def _longest_piece(
    wanted: list[str], i: int, keys: list[str], lo: int
) -> tuple[int, int, int, int] | None:
    """The parent position from `lo` on where the most quoted lines from `i` follow:
    (first parent line, last parent line, lines matched, next quoted line)."""
    best: tuple[int, int, int, int] | None = None
    for start in range(lo, len(keys)):
        if not _same(wanted[i], keys[start]):
            continue
        count, end, after = _extend(wanted, i, keys, start)
        if best is None or count > best[2]:
            best = (start, end, count, after)
        if after == len(wanted):
            break
    return best


def _extend(wanted: list[str], i: int, keys: list[str], start: int) -> tuple[int, int, int]:
    """How many quoted lines from `i` follow the parent from `start` (where wanted[i]
    is), the last parent line reached and the next quoted line. A re-wrapped line's
    pieces stay on one parent line; a blank quoted line matches a blank parent line or
    nothing."""
    j, count, k = start, 1, i + 1
    while k < len(wanted):
        quoted = wanted[k]
        if not quoted:
            if j + 1 < len(keys) and not keys[j + 1]:
                j += 1
        elif j + 1 < len(keys) and _same(quoted, keys[j + 1]):
            j, count = j + 1, count + 1
        elif len(quoted) >= _MIN_PART and quoted in keys[j]:
            count += 1
        else:
            break
        k += 1
    return count, j, k


def _same(quoted: str, parent: str) -> bool:
    if quoted == parent:
        return True
    return len(quoted) >= _MIN_PART and (parent.endswith(quoted) or parent.startswith(quoted))


def _merged(comments: list[Comment]) -> list[Comment]:
    """Neighbouring blocks on one anchor become one comment."""
    out: list[Comment] = []
    for comment in comments:
        if out and out[-1].anchor == comment.anchor and out[-1].quoted == comment.quoted:
            out[-1].text += "\n\n" + comment.text
        else:
            out.append(comment)
    return out
