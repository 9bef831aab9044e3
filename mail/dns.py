"""Every DNS lookup intake makes goes through `resolve_txt`, so tests can replace it.

DKIM keys (and later DMARC policies) are TXT records. Tests install a `LocalKeyTable`
with `set_txt_resolver` so that no test waits on a real resolver or the network.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import dns.exception
import dns.rdatatype
import dns.resolver

log = logging.getLogger(__name__)

# Long enough for a slow authoritative server, short enough that a sender waiting for
# our answer at the end of DATA does not give up first.
DNS_TIMEOUT = 5.0

TxtResolver = Callable[[str], list[str]]


def resolve_txt_with_dnspython(name: str) -> list[str]:
    """The TXT records at `name`, each one's strings joined; [] when there are none.

    A timeout or an unreachable resolver also gives [], after logging: to DKIM a key it
    cannot fetch is a key that is not there, which never makes a signature pass.
    """
    try:
        answer = dns.resolver.resolve(
            name.rstrip("."), "TXT", lifetime=DNS_TIMEOUT, raise_on_no_answer=False
        )
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError) as e:
        log.warning("TXT lookup of %s failed: %s", name, e)
        return []
    return [
        b"".join(rdata.strings).decode("utf-8", "replace")
        for rdata in answer
        if rdata.rdtype == dns.rdatatype.TXT
    ]


_resolver: TxtResolver = resolve_txt_with_dnspython


def resolve_txt(name: str) -> list[str]:
    """The TXT records at `name`, through the installed resolver."""
    return _resolver(name.rstrip(".").lower())


def set_txt_resolver(resolver: TxtResolver | None) -> TxtResolver:
    """Install `resolver` (None: the real one) for every lookup; returns the previous one
    so a test can put it back."""
    global _resolver
    previous = _resolver
    _resolver = resolver or resolve_txt_with_dnspython
    return previous


def dkim_dnsfunc(name: bytes, timeout: float = DNS_TIMEOUT) -> bytes | None:
    """`resolve_txt` in the shape dkimpy's `dnsfunc` wants: bytes in, first record out."""
    try:
        text = name.decode("ascii")
    except UnicodeDecodeError:
        return None
    records = resolve_txt(text)
    return records[0].encode("utf-8") if records else None


class LocalKeyTable:
    """A TXT zone in memory: names (case-insensitive, no trailing dot) to records.

    Tests publish DKIM keys here and install it with `set_txt_resolver(table)`; a name
    not in the table has no records, as NXDOMAIN would say.
    """

    def __init__(self, records: dict[str, Iterable[str]] | None = None) -> None:
        self.records: dict[str, list[str]] = {}
        for name, values in (records or {}).items():
            self.records[self._key(name)] = list(values)

    @staticmethod
    def _key(name: str) -> str:
        return name.rstrip(".").lower()

    def add(self, name: str, value: str) -> None:
        self.records.setdefault(self._key(name), []).append(value)

    def add_dkim_key(self, selector: str, domain: str, public_key_record: str | bytes) -> None:
        """Publish a DKIM key record (`v=DKIM1; k=rsa; p=...`) at SELECTOR._domainkey.DOMAIN."""
        if isinstance(public_key_record, bytes):
            public_key_record = public_key_record.decode("ascii")
        self.add(f"{selector}._domainkey.{domain}", public_key_record.strip())

    def __call__(self, name: str) -> list[str]:
        return list(self.records.get(self._key(name), []))
