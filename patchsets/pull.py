"""Find the repository and ref a `git request-pull` mail asks to pull; pure, never raises.

git request-pull writes (since 1.7; older versions said "are found in"):

    are available in the Git repository at:

      git://git.kernel.org/pub/scm/linux/kernel/git/tip/linux-2.6-tip.git x86-fixes-for-linus

Mailers wrap the URL line (the ref moves to the next line) and pad lines with spaces; the
ref is absent when the sender pushed to the remote's HEAD. Like Patchwork, only an
unquoted marker line counts, so a reply quoting a pull request is not one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PullRequest", "parse_pull_request"]

_MARKER_RE = re.compile(
    r"^are (?:available|found) in the git repository at:?[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)
# 'scheme://…' (git, ssh, git+ssh, http, https, file) or scp-like 'user@host:path'.
_URL_RE = re.compile(r"(?:[A-Za-z][\w+.-]*://\S+|[\w.+-]+@[\w.-]+:\S*)$")
_REF_RE = re.compile(r"[\w.+@{}^~/-]+$")
_NEXT_SECTION = ("for you to fetch", "----")


@dataclass(frozen=True)
class PullRequest:
    url: str
    ref: str | None  # branch or tag (e.g. 'tags/v5.4-next-soc'); None for HEAD

    @property
    def patchwork_style(self) -> str:
        """'URL REF', the form Patchwork stores in a patch's pull_url."""
        return f"{self.url} {self.ref}" if self.ref else self.url


def parse_pull_request(body: str) -> PullRequest | None:
    """The pull request in a mail body, or None when the body holds none."""
    try:
        for marker in _MARKER_RE.finditer(body):
            found = _read_location(_lines_after(body, marker.end(), 6))
            if found is not None:
                return found
    except Exception:  # bad input is "no pull request", never a crash
        return None
    return None


def _lines_after(text: str, pos: int, count: int) -> list[str]:
    """Up to count lines after the one pos is in (without slicing the rest of the text,
    which would make a body full of markers quadratic)."""
    lines: list[str] = []
    start = text.find("\n", pos) + 1
    while start and len(lines) < count:
        end = text.find("\n", start)
        lines.append(text[start:] if end < 0 else text[start:end])
        start = end + 1
    return lines


def _read_location(lines: list[str]) -> PullRequest | None:
    """The URL (and ref) from the lines after the marker: the first non-blank line holds
    the URL, then the ref on the same line or, when a mailer wrapped it, the next one."""
    k = 0
    while k < len(lines) and k < 3 and not lines[k].strip():
        k += 1
    if k >= len(lines):
        return None
    tokens = [t for t in lines[k].split() if t != "\\"]
    if not tokens or not _URL_RE.match(tokens[0]):
        return None
    url = tokens[0]
    if len(tokens) > 1:
        return PullRequest(url, tokens[1] if _REF_RE.match(tokens[1]) else None)
    following = lines[k + 1].strip().lstrip("\\").strip() if k + 1 < len(lines) else ""
    wrapped = (
        following
        and " " not in following
        and _REF_RE.match(following)
        and not following.lower().startswith(_NEXT_SECTION)
    )
    return PullRequest(url, following if wrapped else None)
