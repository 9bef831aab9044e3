"""Decide what a list message is: a patch, a cover letter, a pull request, a reply or
plain discussion; and read the series metadata it carries.

Pure: the decoded subject and body in, a `Classification` out; tested on the corpus with
no database. The rules follow Patchwork's parser, which decades of kernel lists shaped:
a `Re:` subject is a reply even when it quotes or suggests a diff, and only an explicit
marker (`[PATCH] Re: ...`, the prefix before the reply marker) makes such a mail a patch.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from patchsets.diff import FileDiff, diff_files, split_patch
from patchsets.pull import PullRequest, parse_pull_request
from patchsets.subject import SubjectInfo, parse_subject


class MailKind(enum.Enum):
    patch = "patch"
    cover = "cover"
    pull = "pull"
    reply = "reply"
    discussion = "discussion"


@dataclass
class Classification:
    kind: MailKind
    subject: SubjectInfo
    diff: str | None = None
    files: list[FileDiff] = field(default_factory=list)
    pull: PullRequest | None = None
    base_commit: str | None = None
    change_id: str | None = None  # b4's change-id: one id for every version of a series
    depends_on: list[str] = field(default_factory=list)  # Message-IDs or URLs
    supersedes: list[str] = field(default_factory=list)  # Message-IDs or URLs


_BASE_COMMIT = re.compile(r"^base-commit:\s*([0-9a-f]{7,64})\s*$", re.MULTILINE | re.IGNORECASE)
_CHANGE_ID = re.compile(r"^change-id:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)
# Series links (patchew writes `Based-on: <msgid>` for a series another one builds on).
# A reply may carry them too: they speak of the series it answers, not of a commit.
_DEPENDS_ON = re.compile(
    r"^(?:depends-on|based-on|prerequisite-message-id):\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE
)
_SUPERSEDES = re.compile(r"^(?:supersedes|obsoletes):\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)


def classify_message(subject: str, body: str, has_parent: bool) -> Classification:
    """Classify one message from its decoded subject and plain-text body; `has_parent` says
    whether it names a parent (In-Reply-To or References)."""
    info = parse_subject(subject)
    message, diff = split_patch(body)
    result = Classification(kind=MailKind.discussion, subject=info)
    if info.is_reply:
        result.kind = MailKind.reply
        _read_series_links(result, body)
        return result
    pull = parse_pull_request(message)
    if pull is not None:
        result.kind, result.pull, result.diff = MailKind.pull, pull, diff
    elif diff is not None:
        result.kind, result.diff = MailKind.patch, diff
    elif info.index == 0 and info.total:
        result.kind = MailKind.cover
    else:
        result.kind = MailKind.reply if has_parent else MailKind.discussion
        if has_parent:
            _read_series_links(result, body)
        return result
    if result.diff:
        result.files = diff_files(result.diff)
    _read_series_metadata(result, body)
    return result


def _read_series_metadata(result: Classification, body: str) -> None:
    base = _BASE_COMMIT.search(body)
    result.base_commit = base.group(1).lower() if base else None
    change = _CHANGE_ID.search(body)
    result.change_id = change.group(1) if change else None
    _read_series_links(result, body)


def _read_series_links(result: Classification, body: str) -> None:
    """`Depends-on:`/`Based-on:` and `Supersedes:` lines of the sender's own text (a
    quoted line starts with '>' and does not count)."""
    result.depends_on = [_strip_angle(v) for v in _DEPENDS_ON.findall(body)]
    result.supersedes = [_strip_angle(v) for v in _SUPERSEDES.findall(body)]


def _strip_angle(value: str) -> str:
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value
