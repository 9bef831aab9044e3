"""DKIM verification at intake: did the domain in From (or a parent of it) sign this mail?

The answer is kept with the message (`Message.dkim_result`, `dkim_domain`,
`dkim_aligned`) because every action taken by email later asks it: a ticket command or
a patch status change counts only when the From address is authenticated (DESIGN).
Keys are fetched through `mail.dns.resolve_txt`, the one DNS door tests can replace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import dkim as dkimpy
from dkim.util import InvalidTagValueList, parse_tag_value

from mail.dns import DNS_TIMEOUT, dkim_dnsfunc

log = logging.getLogger(__name__)


class DkimResult(StrEnum):
    PASS = "pass"  # some signature verified
    FAIL = "fail"  # signed, but no signature verified (tampered, key missing, malformed)
    NONE = "none"  # not signed


@dataclass(frozen=True)
class DkimVerdict:
    result: DkimResult
    domain: str = ""  # d= of the signature the result is about
    aligned: bool = False  # a passing signature's d= is the From domain or a parent of it


UNSIGNED = DkimVerdict(DkimResult.NONE)


def is_aligned(from_domain: str, signing_domain: str) -> bool:
    """Relaxed alignment as DMARC's `adkim=r` reads it, without the public suffix list:
    the From domain is the signing domain or below it."""
    f = from_domain.strip().rstrip(".").lower()
    d = signing_domain.strip().rstrip(".").lower()
    return bool(f and d) and (f == d or f.endswith("." + d))


def verify_dkim(raw: bytes, from_domain: str | None) -> DkimVerdict:
    """Check every DKIM-Signature of `raw`; never raises.

    A passing signature aligned with `from_domain` wins over an unaligned one (a list or
    an ESP may have added its own signature beside the author's), and any pass wins over
    a failure (a signature broken by a relay does not make a good one bad).
    """
    try:
        return _verify_signatures(raw, from_domain or "")
    except Exception:  # noqa: BLE001  bad input must not fail intake
        log.exception("DKIM verification crashed; counting the message as failed")
        return DkimVerdict(DkimResult.FAIL) if _looks_signed(raw) else UNSIGNED


def _verify_signatures(raw: bytes, from_domain: str) -> DkimVerdict:
    checker = dkimpy.DKIM(raw, logger=log, timeout=int(DNS_TIMEOUT))
    signatures = [value for name, value in checker.headers if name.lower() == b"dkim-signature"]
    if not signatures:
        return UNSIGNED
    passed: list[str] = []
    failed: list[str] = []
    for idx, header in enumerate(signatures):
        domain = _signing_domain(header)
        try:
            ok = checker.verify(idx=idx, dnsfunc=dkim_dnsfunc)
        except dkimpy.DKIMException as e:
            log.info("DKIM signature %d (d=%s) is unusable: %s", idx, domain, e)
            ok = False
        (passed if ok else failed).append(domain)
    for domain in passed:
        if is_aligned(from_domain, domain):
            return DkimVerdict(DkimResult.PASS, domain, True)
    if passed:
        return DkimVerdict(DkimResult.PASS, passed[0], False)
    aligned_failures = [d for d in failed if is_aligned(from_domain, d)]
    return DkimVerdict(DkimResult.FAIL, (aligned_failures or failed)[0], False)


def _signing_domain(header_value: bytes) -> str:
    try:
        tags = parse_tag_value(header_value)
    except InvalidTagValueList:
        return ""
    domain = tags.get(b"d", b"").decode("ascii", "replace").strip().lower()
    return domain[:255]  # the width of Message.dkim_domain; a longer name is not a domain


def _looks_signed(raw: bytes) -> bool:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return b"\ndkim-signature:" in b"\n" + head.lower()
