"""Read a patch mail's subject: reply markers, `[PATCH v3 2/7]`-style prefixes, the name.

Pure: a string in, a `SubjectInfo` out. The conventions come from `git format-patch`
(`[PATCH v3 2/7]`, `--subject-prefix`, `--rfc`), `hg email` (`[PATCH 1 of 3]`), b4
(`[PATCH RFC v2]`), Patchwork-style project tags (`[PATCH net-next 1/2]`,
`[net,v2,1/2]`) and list tags that mailing-list software adds (`[dpdk-dev] [PATCH]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Reply and forward markers in the languages mail clients commonly use.
_REPLY = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|odp|r|rif|ref|res|tr|wg|fwd?|fw)(?:\[\d+\]|\(\d+\))?\s*:\s*",
    re.IGNORECASE,
)
_BRACKET = re.compile(r"^\s*\[([^\[\]]*)\]\s*:?\s*")
_VERSION = re.compile(r"^v(\d+)(?:\.(\d+))?$", re.IGNORECASE)
_FUSED_PATCH = re.compile(r"^(patch|rfc|resend)(v\d+(?:\.\d+)?)$", re.IGNORECASE)
_NUMBERS = re.compile(r"^(\d+)/(\d+)$")
_PATCH_WORDS = {"patch", "rfc", "resend"}
_PULL_WORDS = {"pull", "git"}


@dataclass(frozen=True)
class SubjectInfo:
    name: str  # the subject without reply markers and leading bracket groups
    is_reply: bool = False  # a Re:/Fwd:/Aw:... marker comes before any patch prefix
    marked_patch: bool = False  # PATCH, RFC or RESEND in a prefix
    marked_pull: bool = False  # GIT PULL, PULL, GIT in a prefix
    version: int | None = None  # None when no 'vN' was written
    version_minor: int | None = None  # [PATCH v5.1 10/12]: a partial re-roll of v5
    index: int | None = None  # 2 in 2/7; 0 for a cover letter
    total: int | None = None  # 7 in 2/7
    rfc: bool = False
    resend: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)  # other prefix words: 'net-next'

    @property
    def is_numbered(self) -> bool:
        return self.index is not None and self.total is not None


def parse_subject(subject: str) -> SubjectInfo:
    """Split `subject` into its markers and name; never raises."""
    rest = " ".join(subject.split())
    is_reply = False
    marked_patch = False
    marked_pull = False
    words: list[str] = []
    while True:
        reply = _REPLY.match(rest)
        if reply:
            # "[PATCH] Re: foo" is a patch sent in reply, "Re: [PATCH] foo" a reply.
            if not marked_patch:
                is_reply = True
            rest = rest[reply.end() :]
            continue
        bracket = _BRACKET.match(rest)
        if bracket:
            group = _split_prefix(bracket.group(1))
            lowered = {w.lower() for w in group}
            marked_patch = marked_patch or bool(lowered & _PATCH_WORDS)
            marked_pull = marked_pull or bool(lowered & _PULL_WORDS)
            words.extend(group)
            rest = rest[bracket.end() :]
            continue
        break
    info = _read_prefix_words(words)
    return SubjectInfo(
        name=rest.strip() or subject.strip(),
        is_reply=is_reply,
        marked_patch=marked_patch,
        marked_pull=marked_pull,
        **info,
    )


def _split_prefix(text: str) -> list[str]:
    """'PATCHv3 net,2/7' -> ['PATCH', 'v3', 'net', '2/7']; 'PATCH 1 of 3' -> ['PATCH', '1/3']."""
    words: list[str] = []
    for word in re.split(r"[\s,]+", text.strip()):
        fused = _FUSED_PATCH.match(word)
        if fused:
            words.extend(fused.groups())
        elif word:
            words.append(word)
    joined: list[str] = []
    i = 0
    while i < len(words):
        if (
            i + 2 < len(words)
            and words[i].isdigit()
            and words[i + 1].lower() == "of"
            and words[i + 2].isdigit()
        ):
            joined.append(f"{words[i]}/{words[i + 2]}")
            i += 3
        else:
            joined.append(words[i])
            i += 1
    return joined


def _read_prefix_words(words: list[str]) -> dict:
    info: dict = {"tags": []}
    for word in words:
        lowered = word.lower()
        version = _VERSION.match(word)
        numbers = _NUMBERS.match(word)
        if version:
            info["version"] = max(int(version.group(1)), 1)
            if version.group(2) is not None:
                info["version_minor"] = int(version.group(2))
        elif numbers and "index" not in info:
            index, total = int(numbers.group(1)), int(numbers.group(2))
            if total > 0:
                info["index"], info["total"] = index, total
        elif lowered == "rfc":
            info["rfc"] = True
        elif lowered == "resend":
            info["resend"] = True
        elif lowered not in _PATCH_WORDS | _PULL_WORDS:
            info["tags"].append(word)
    info["tags"] = tuple(info["tags"])
    return info
