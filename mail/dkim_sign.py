"""DKIM signing of outgoing list mail, with OpenSSL doing the RSA.

Every copy of a post carries its subscriber's own List-Unsubscribe URL, which RFC 8058
wants covered by the signature, so a post to 10,000 subscribers needs 10,000 signatures.
dkimpy's pure-Python RSA takes ~8.5 ms each; `cryptography` (OpenSSL) takes well under one.
The canonicalization, the part a verifier must agree with byte for byte, is still dkimpy's:
only the private-key operation is done here.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from dkim.canonicalization import Relaxed

from core.errors import UserError
from core.settings import Settings

# What a list copy's signature covers (RFC 6376 5.4.1, plus the RFC 2369/8058 List-*
# fields that a receiver shows as unsubscribe buttons and must not be forged).
LIST_SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-post",
    "list-help",
    "list-archive",
    "archived-at",
    "list-subscribe",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "sender",
    "precedence",
)

# Signed once more than they occur, so that a copy added later (a second From shown to the
# reader, a second List-Unsubscribe pointing elsewhere) breaks the signature.
OVERSIGNED_HEADERS: frozenset[str] = frozenset(
    {"from", "subject", "list-id", "list-unsubscribe", "list-unsubscribe-post"}
)

# RFC 8301: verifiers must not accept signatures made with shorter RSA keys.
MIN_KEY_BITS = 1024

_MAX_COLUMNS = 78
_HEADER_NAME = b"DKIM-Signature"
_LINE_END = re.compile(rb"\r?\n")
# A field name, then (obsolete RFC 5322 syntax, which relaxed canonicalization removes)
# optional white space before the colon.
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class DkimKeyError(UserError):
    """A private key that cannot sign DKIM mail; the message says why, for a person."""


@dataclass(frozen=True)
class DkimSigner:
    """A loaded key and where its public half is published (SELECTOR._domainkey.DOMAIN)."""

    selector: str
    domain: str
    key: rsa.RSAPrivateKey


def load_signer(pem: bytes, selector: str, domain: str) -> DkimSigner:
    """Load `pem` once, so that signing each copy only does the RSA step.

    Raises DkimKeyError for a key that is not a usable RSA private key, and ValueError for
    a selector or domain that cannot be part of a DNS name.
    """
    selector = selector.strip()
    domain = domain.strip().rstrip(".").lower()
    for what, value in (("selector", selector), ("domain", domain)):
        if len(value) > 253 or not _DNS_NAME.fullmatch(value):
            raise ValueError(f"DKIM {what} {value!r} is not an ASCII DNS name")
    return DkimSigner(selector=selector, domain=domain, key=_load_key(pem))


def sign_message(
    raw: bytes, signer: DkimSigner, headers: Sequence[str] = LIST_SIGNED_HEADERS
) -> bytes:
    """raw with a DKIM-Signature header prepended (same line-ending style as raw).

    rsa-sha256, relaxed/relaxed. `headers` are signed as often as they occur, the
    OVERSIGNED_HEADERS among them once more. Lines in the header section that are not
    header fields are left in place unsigned rather than refused: a copy must still go out.
    """
    names = _header_names(tuple(headers))
    linesep = _line_separator(raw)
    fields, body = _parse(raw)

    occurrences: dict[bytes, list[bytes]] = {}
    for name, value in Relaxed.canonicalize_headers(fields):
        occurrences.setdefault(name, []).append(name + b":" + value)
    h_names: list[bytes] = []
    signed: list[bytes] = []
    for name, oversigned in names:
        found = occurrences.get(name, ())
        h_names.extend([name] * (len(found) + oversigned))
        signed.extend(reversed(found))  # verifiers take repeated fields from the bottom up

    body_hash = base64.b64encode(hashlib.sha256(Relaxed.canonicalize_body(body)).digest())
    tags = [
        b"v=1;",
        b"a=rsa-sha256;",
        b"c=relaxed/relaxed;",
        b"d=" + signer.domain.encode("ascii") + b";",
        b"s=" + signer.selector.encode("ascii") + b";",
        b"t=%d;" % int(time.time()),
    ]
    h_tag = [b"h=" + h_names[0] + b":"] + [name + b":" for name in h_names[1:]]
    h_tag[-1] = h_tag[-1][:-1] + b";"
    value, column = _fold(tags, h_tag, [b"bh=" + body_hash + b";", b"b="], linesep)

    # What a verifier hashes: the signed fields, then this header with b= empty, relaxed.
    [(_, canonical)] = Relaxed.canonicalize_headers([(_HEADER_NAME, value)])
    data = b"".join(signed) + b"dkim-signature:" + canonical.rstrip(b"\r\n")
    signature = signer.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    value += _fold_base64(base64.b64encode(signature), column, linesep)
    return _HEADER_NAME + b":" + value + linesep + raw


def dkim_signer(settings: Settings) -> DkimSigner | None:
    """The instance's signer (list mail, mail sent for users), when
    `settings.dkim_key_file` exists; read once per change."""
    path = Path(settings.dkim_key_file)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _load_signer(str(path), mtime, settings.dkim_selector, settings.domain.lower())


@lru_cache(maxsize=4)
def _load_signer(path: str, mtime: int, selector: str, domain: str) -> DkimSigner:
    return load_signer(Path(path).read_bytes(), selector, domain)


def generate_key(bits: int = 2048) -> bytes:
    """A new RSA private key as PEM, in the traditional "RSA PRIVATE KEY" form, which
    dkimpy and OpenDKIM read as well as `load_signer`."""
    if bits < MIN_KEY_BITS:
        raise DkimKeyError(f"a {bits}-bit key is too short: verifiers need at least 1024 bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def dns_record(pem: bytes) -> str:
    """The TXT record that publishes the public half of `pem`.

    A 2048-bit record is longer than 255 bytes, the limit of one TXT string: the DNS
    server or its operator splits it into several strings of one record.
    """
    public = (
        _load_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def dns_record_name(selector: str, domain: str) -> str:
    """Where verifiers look for the key of `s=selector; d=domain`."""
    return f"{selector.strip()}._domainkey.{domain.strip().rstrip('.').lower()}"


def _load_key(pem: bytes) -> rsa.RSAPrivateKey:
    if b"-----BEGIN" not in pem:
        raise DkimKeyError("not a PEM private key: there is no -----BEGIN line")
    if b"PUBLIC KEY-----" in pem and b"PRIVATE KEY-----" not in pem:
        raise DkimKeyError("this is a public key; signing needs the private key")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise DkimKeyError("the private key is encrypted; give it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm) as e:
        raise DkimKeyError(f"the PEM private key cannot be read: {e}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimKeyError(f"this is an {_key_kind(key)} key; DKIM signing here needs RSA")
    if key.key_size < MIN_KEY_BITS:
        raise DkimKeyError(
            f"the RSA key has {key.key_size} bits; verifiers reject keys under "
            f"{MIN_KEY_BITS} bits (RFC 8301), make a 2048-bit one"
        )
    return key


def _key_kind(key: object) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PrivateKey):
        return "Ed448"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC ({key.curve.name})"
    if isinstance(key, dsa.DSAPrivateKey):
        return "DSA"
    return type(key).__name__


@lru_cache(maxsize=32)
def _header_names(headers: tuple[str, ...]) -> tuple[tuple[bytes, bool], ...]:
    """Each field name once, lowercased, with whether it is oversigned."""
    names: dict[str, bool] = {}
    for header in headers:
        name = header.strip().lower()
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"{header!r} is not a header field name")
        names[name] = name in OVERSIGNED_HEADERS
    if "from" not in names:
        raise ValueError("DKIM requires the From field to be signed (RFC 6376 5.4)")
    return tuple((name.encode("ascii"), over) for name, over in names.items())


def _line_separator(raw: bytes) -> bytes:
    """The line ending of raw's first line; CRLF when it has none."""
    end = raw.find(b"\n")
    return b"\n" if end >= 0 and raw[end - 1 : end] != b"\r" else b"\r\n"


def _parse(raw: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """(header fields, CRLF body) as dkimpy's `rfc822_parse` reads them, which is what
    verifiers built on it hash; but a line that is no header field is skipped (with its
    continuation lines) where `rfc822_parse` would raise."""
    lines = _LINE_END.split(raw)
    fields: list[list[bytes]] = []
    current: list[bytes] | None = None
    body_start = len(lines)
    for i, line in enumerate(lines):
        if not line:
            body_start = i + 1
            break
        if line[0] in (0x09, 0x20):
            if current is not None:
                current[1] += line + b"\r\n"
            continue
        match = _FIELD.match(line)
        if match:
            current = [match.group(1), line[match.end() :] + b"\r\n"]
            fields.append(current)
        elif not line.startswith(b"From "):  # an mbox envelope line, which dkimpy skips
            current = None
    return [(name, value) for name, value in fields], b"\r\n".join(lines[body_start:])


def _fold(
    tags: list[bytes], h_tag: list[bytes], tail: list[bytes], linesep: bytes
) -> tuple[bytes, int]:
    """The header value from tags, folded at tag boundaries and after h='s colons (both
    FWS in RFC 6376 syntax); also the column where it ends."""
    out = bytearray()
    column = len(_HEADER_NAME) + 1
    pieces = [(b" ", t) for t in tags] + [(b" ", h_tag[0])] + [(b"", t) for t in h_tag[1:]]
    for separator, piece in pieces + [(b" ", t) for t in tail]:
        if column + len(separator) + len(piece) > _MAX_COLUMNS:
            out += linesep + b" " + piece
            column = 1 + len(piece)
        else:
            out += separator + piece
            column += len(separator) + len(piece)
    return bytes(out), column


def _fold_base64(b64: bytes, column: int, linesep: bytes) -> bytes:
    """b64 continuing a line at `column`, folded to the width (FWS is allowed inside b=)."""
    first = max(_MAX_COLUMNS - column, 0)
    chunks = [b64[:first]] if first else [b""]
    width = _MAX_COLUMNS - 1
    chunks += [b" " + b64[i : i + width] for i in range(first, len(b64), width)]
    return linesep.join(chunks)
