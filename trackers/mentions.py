"""References to tickets in free text and commit messages: `#12`, `NAME#12`, ticket URLs.

Mail and commit messages are full of `#` that are not tickets: `C#12`, `&#12;`, URL
fragments such as `https://example.com/#12`, `owner/repo#12` on another forge. A ref
therefore has to stand on its own (no word, `/`, `&` or `@` right before it, no word right
after it), and nothing inside a URL counts, except a URL that is itself one of our ticket
pages. Tracker names follow list names: lower case, `[a-z0-9][a-z0-9._-]{0,63}`.

A commit closes a ticket only through a trailer whose whole value is refs (`Closes:
NAME#12`); git's own `Fixes: <sha> ("subject")` names a commit, never a ticket, even when
the subject mentions one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from patchsets.trailers import commit_trailers

__all__ = ["TicketRef", "closing_refs", "find_ticket_refs", "render_with_links"]

_NAME = r"[a-z0-9][a-z0-9._-]{0,63}"
# Up to nine digits: a longer number is not a ticket, and this keeps ints small.
_NUMBER = r"[0-9]{1,9}"
_OWNER = r"[a-z][a-z0-9_-]{1,31}"
_REF = re.compile(
    rf"(?<![\w.@/#&+-])(?:~(?P<owner>{_OWNER})/)?(?:(?P<tracker>{_NAME}))?"
    rf"#(?P<number>{_NUMBER})(?![\w#]|[.,][0-9])"
)
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"']+")
_URL_TAIL = ".,;:!?'\"]}>"
_CLOSING = ("closes", "fixes", "resolves")
# What a pushed commit's trailers say of a ticket; all but `references` resolve it.
COMMIT_TRAILERS = ("closes", "fixes", "resolves", "implements", "references")


@dataclass(frozen=True)
class TicketRef:
    """One reference; `tracker` is None for a bare `#N` (the tracker being read)."""

    tracker: str | None
    number: int
    start: int
    end: int
    owner: str | None = None  # `~OWNER/NAME#N`: the tracker's owner, as written


def find_ticket_refs(text: str, *, base_url: str = "") -> list[TicketRef]:
    """Ticket refs in `text` in order; ticket URLs count only when `base_url` is given."""
    refs: list[TicketRef] = []
    urls = _find_urls(text)
    page = _ticket_page(base_url)
    for start, end in urls:
        found = page.fullmatch(text, start, end) if page else None
        if found:
            refs.append(TicketRef(found["tracker"], int(found["number"]), start, end))
    for found in _REF.finditer(text):
        number = int(found["number"])
        if number and not any(s < found.end() and found.start() < e for s, e in urls):
            if found["owner"] and not found["tracker"]:
                continue  # `~owner/#12` names no tracker
            refs.append(
                TicketRef(found["tracker"], number, found.start(), found.end(), found["owner"])
            )
    return sorted(refs, key=lambda ref: ref.start)


def _ticket_page(base_url: str) -> re.Pattern[str] | None:
    base = base_url.strip().rstrip("/")
    if not base:
        return None
    return re.compile(rf"{re.escape(base)}/(?P<tracker>{_NAME})/tickets/(?P<number>{_NUMBER})/?")


def _find_urls(text: str) -> list[tuple[int, int]]:
    """Spans of URLs, without the punctuation that ends the sentence around them."""
    spans = []
    for found in _URL.finditer(text):
        url = found.group()
        while url and (
            url[-1] in _URL_TAIL or (url[-1] == ")" and url.count(")") > url.count("("))
        ):
            url = url[:-1]
        spans.append((found.start(), found.start() + len(url)))
    return spans


def closing_refs(
    commit_message: str, *, base_url: str = "", kinds: tuple[str, ...] = _CLOSING
) -> list[tuple[str, TicketRef]]:
    """Tickets a commit closes: (`closes`|`fixes`|`resolves`, ref) from its trailer block
    (or any of `kinds`, such as COMMIT_TRAILERS).

    Spans are offsets in the trailer's value, not in the commit message.
    """
    closing: list[tuple[str, TicketRef]] = []
    for trailer in commit_trailers(commit_message):
        kind = trailer.name.lower()
        if kind not in kinds:
            continue
        refs = find_ticket_refs(trailer.value, base_url=base_url)
        rest = trailer.value
        for ref in reversed(refs):
            rest = rest[: ref.start] + rest[ref.end :]
        # Anything besides refs (a commit id, a subject, another forge's URL): not ours.
        if refs and not rest.strip(" \t,"):
            closing.extend((kind, ref) for ref in refs)
    return closing


def render_with_links(
    text: str, link_for: Callable[[TicketRef], str | None], *, base_url: str = ""
) -> list[tuple[str, str | None]]:
    """`text` as (segment, url) pieces for a template to escape and link; joined, the
    segments are `text` again. Refs `link_for` has no URL for stay plain text."""
    pieces: list[tuple[str, str | None]] = []
    plain_from = 0
    for ref in find_ticket_refs(text, base_url=base_url):
        url = link_for(ref)
        if url is None:
            continue
        if ref.start > plain_from:
            pieces.append((text[plain_from : ref.start], None))
        pieces.append((text[ref.start : ref.end], url))
        plain_from = ref.end
    if plain_from < len(text):
        pieces.append((text[plain_from:], None))
    return pieces
