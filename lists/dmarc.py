"""Which DMARC mitigation a list applies to one post.

A list that resends a post under the author's From breaks the author's DMARC alignment
(the list's server is not in their SPF and a footer or subject tag breaks their DKIM), so
a receiver obeying `p=reject` or `p=quarantine` would refuse or bin the copy. The `auto`
mode mitigates only for such authors and leaves everyone else's From alone.

Policies are TXT records read through `mail.dns.resolve_txt`, the one DNS door tests can
replace. Without a public suffix list, the organizational domain is guessed (see
`organizational_domain`); a guess that is too short only means looking at one record
more, never missing the author's own.
"""

from __future__ import annotations

import enum

from lists.list_copy import Mitigation
from mail.dns import resolve_txt

POLICIES = ("none", "quarantine", "reject")

# Second-level labels under which registrations happen in many two-letter country TLDs
# (example.co.uk, example.com.au, example.ac.jp).
_SECOND_LEVELS = frozenset({"co", "com", "org", "net", "ac", "gov", "edu"})


class DmarcMode(enum.Enum):
    """The list option: what to do to the From of posts."""

    none = "none"  # never mitigate
    munge_from = "munge_from"  # always rewrite From
    wrap = "wrap"  # always wrap the post in a message from the list
    auto = "auto"  # rewrite From when the author's domain asks receivers to refuse


def parse_dmarc_record(text: str) -> str | None:
    """The `p=` policy of a DMARC record ("v=DMARC1; p=reject; ..." -> "reject"); None
    when `text` is not a usable DMARC record."""
    tags = _dmarc_tags(text)
    return _requested_policy(tags, subdomain=False) if tags is not None else None


def dmarc_policy(domain: str) -> str | None:
    """'none', 'quarantine' or 'reject' as the author's domain asks (RFC 7489 section
    6.6.3), or None when it publishes no usable policy."""
    domain = domain.strip().rstrip(".").lower()
    if not domain:
        return None
    tags = _lookup(domain)
    if tags is not None:
        return _requested_policy(tags, subdomain=False) if tags else None
    org = organizational_domain(domain)
    if org == domain:
        return None
    tags = _lookup(org)
    return _requested_policy(tags, subdomain=True) if tags else None


def mitigation_for(mode: DmarcMode, from_domain: str) -> Mitigation:
    """The mitigation a list in `mode` applies to a post from `from_domain`."""
    if mode is DmarcMode.munge_from:
        return Mitigation.munge_from
    if mode is DmarcMode.wrap:
        return Mitigation.wrap
    if mode is DmarcMode.auto and from_domain.strip():
        if dmarc_policy(from_domain) in ("reject", "quarantine"):
            return Mitigation.munge_from
    return Mitigation.none


def organizational_domain(domain: str) -> str:
    """The registered domain of `domain`, guessed without a public suffix list: the last
    two labels, or three under a common second level of a two-letter TLD (co.uk)."""
    labels = domain.strip().rstrip(".").lower().split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVELS:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _lookup(domain: str) -> dict[str, str] | None:
    """The tags of the one DMARC record at _dmarc.DOMAIN; None when there is no DMARC
    record there (look further up), {} when there is no usable one (stop looking)."""
    records = [r for r in resolve_txt(f"_dmarc.{domain}") if _is_versioned(r)]
    if not records:
        return None
    if len(records) > 1:  # RFC 7489: more than one record means no policy
        return {}
    return _dmarc_tags(records[0]) or {}


def _is_versioned(text: str) -> bool:
    """Whether a TXT record starts with v=DMARC1 (other TXT records are ignored)."""
    first = text.strip().split(";", 1)[0]
    name, _, value = first.partition("=")
    return name.strip().lower() == "v" and value.strip().upper() == "DMARC1"


def _dmarc_tags(text: str) -> dict[str, str] | None:
    """Tag names lower-cased to values, or None when this is not a DMARC record."""
    if not _is_versioned(text):
        return None
    tags: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            return None
        tags.setdefault(name.strip().lower(), value.strip())
    return tags


def _requested_policy(tags: dict[str, str], *, subdomain: bool) -> str | None:
    """`sp=` (for a subdomain, when valid) else `p=`; a record whose `p=` is missing or
    invalid counts as p=none when it asks for reports, else as no record (RFC 7489
    6.6.3)."""
    policy = tags.get("p", "").lower()
    if subdomain and tags.get("sp", "").lower() in POLICIES:
        return tags["sp"].lower()
    if policy in POLICIES:
        return policy
    return "none" if tags.get("rua", "").strip() else None
