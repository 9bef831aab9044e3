"""OpenPGP signatures on mail: the second way a From address counts as authenticated.

DESIGN: an action taken because of an email needs its From address authenticated, by an
aligned DKIM pass or "a PGP signature from a key the user registered". This module
answers the second half: `inspect_key` checks a key before it is registered (`mail.keys`,
`accounts.pgp_keys`), `verify_signature` says which registered key, if any, signed a mail.

Every call runs gpg (through python-gnupg) in a throwaway GnuPG home holding only the
keys given, with `--trust-model always` (a registered key is trusted because the user
registered it, not through the web of trust) and `--no-autostart` (checking signatures
needs no agent). The home and anything gpg started for it are gone when the call returns:
the server's own keyring is never read or written.

What a signature covers is the signed content only. PGP/MIME (RFC 3156) signs the first
part of a top-level multipart/signed, i.e. the whole body; an inline clearsigned mail
counts only when its text is the signed block and nothing beside it (see
`_clearsigned_block`). Headers (Subject, In-Reply-To, X-... ) are never covered.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parseaddr

import gnupg

from core.errors import UserError

log = logging.getLogger(__name__)

GPG_BINARY = "gpg"
# No agent (nothing here needs a secret key), no network, no trust computations.
GPG_OPTIONS = (
    "--no-autostart",
    "--trust-model",
    "always",
    "--no-auto-key-retrieve",
    "--no-auto-key-locate",
)

PUBLIC_BLOCK = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
PRIVATE_BLOCK = "-----BEGIN PGP PRIVATE KEY BLOCK-----"
CLEARSIGN_BEGIN = b"-----BEGIN PGP SIGNED MESSAGE-----"
SIGNATURE_BEGIN = b"-----BEGIN PGP SIGNATURE-----"
SIGNATURE_END = b"-----END PGP SIGNATURE-----"

# Status keywords that mean "this signature does not count", even beside a GOODSIG or
# VALIDSIG (gpg reports an expired or revoked key's signature as cryptographically good).
_SPOILERS = frozenset({"BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG"})
# Signature classes over a document: binary (0x00) and canonical text (0x01).
_DOCUMENT_CLASSES = frozenset({"00", "01"})
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")


class PgpError(UserError):
    """A key block that cannot be registered; the message says why, for the user."""


@dataclass(frozen=True)
class PgpKeyInfo:
    fingerprint: str  # upper-case hex, of the primary key
    uids: tuple[str, ...]  # user IDs as gpg lists them (revoked ones left out)
    emails: tuple[str, ...]  # lower-cased addresses found in the uids


# --- keys --------------------------------------------------------------------------------


def inspect_key(armored: str) -> PgpKeyInfo:
    """Read one armored public key before it is registered, refusing what could never
    authenticate mail (junk, secret keys, several keys, revoked, expired, cannot sign), so
    the user hears why now rather than seeing their signed mail ignored later."""
    text = armored.strip() if isinstance(armored, str) else ""
    if PRIVATE_BLOCK in text:
        raise PgpError(
            "this is a secret key: never share it. Register the public key instead "
            "(gpg --armor --export YOUR-ADDRESS)"
        )
    if PUBLIC_BLOCK not in text:
        raise PgpError(
            "not an armored OpenPGP public key (it starts with " + PUBLIC_BLOCK + "; "
            "get it with gpg --armor --export YOUR-ADDRESS)"
        )
    with _gnupg_home() as gpg:
        imported = gpg.import_keys(text)
        if imported.sec_read:
            raise PgpError("this block holds a secret key; register the public key only")
        listing = gpg.list_keys()
        if len(listing) > 1:
            raise PgpError(f"this block holds {len(listing)} keys; register one key at a time")
        if not listing:
            raise PgpError("no usable OpenPGP public key found in this block")
        key = listing[0]
        if key.get("trust") == "r":
            raise PgpError(f"key {key['fingerprint']} has been revoked")
        if key.get("trust") == "e":
            raise PgpError(
                f"key {key['fingerprint']} has expired; extend it (gpg --quick-set-expire) "
                "and export it again"
            )
        if "S" not in key.get("cap", ""):
            raise PgpError(f"key {key['fingerprint']} has no usable key for signing")
        uids = _valid_uids(listing.data)
    emails: list[str] = []
    for uid in uids:
        address = parseaddr(uid)[1].strip().lower()
        if "@" in address and address not in emails:
            emails.append(address)
    return PgpKeyInfo(key["fingerprint"].upper(), tuple(uids), tuple(emails))


def _valid_uids(colons: bytes) -> list[str]:
    """User IDs from gpg's colon listing of one key, without revoked ones: a user ID the
    owner revoked no longer says whose the key is."""
    uids: list[str] = []
    for line in colons.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if fields[0] != "uid" or len(fields) < 10 or fields[1] == "r":
            continue
        uids.append(re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), fields[9]))
    return uids


# --- signatures --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Signed:
    data: bytes  # the signed content (PGP/MIME) or the whole clearsigned block (inline)
    signature: bytes | None  # the detached signature, for PGP/MIME


def verify_signature(raw: bytes, armored_keys: list[str]) -> str | None:
    """Fingerprint of the registered key that made a valid signature over this mail's
    content, or None. Handles PGP/MIME (RFC 3156 multipart/signed, protocol
    application/pgp-signature) and inline clearsigned text/plain bodies (-----BEGIN PGP
    SIGNED MESSAGE-----). Never raises: a mail that cannot be checked is not signed."""
    try:
        signed = _find_signed(raw)
        keys = [k for k in armored_keys if isinstance(k, str) and PRIVATE_BLOCK not in k]
        if signed is None or not keys:
            return None
        with _gnupg_home() as gpg:
            registered: set[str] = set()
            for key in keys:  # one by one: a broken key must not hide the others
                registered.update(fp.upper() for fp in gpg.import_keys(key).fingerprints)
            if not registered:
                return None
            if signed.signature is None:
                result = gpg.verify(signed.data)
            else:
                signature_path = os.path.join(gpg.gnupghome, "signature")
                with open(signature_path, "wb") as f:
                    f.write(signed.signature)
                result = gpg.verify_data(signature_path, signed.data)
            signer = _good_signer(result.stderr or "")
        if signer is None or signer not in registered:
            log.info("PGP signature did not verify against %d registered key(s)", len(keys))
            return None
        return signer
    except Exception:  # noqa: BLE001  a malformed mail must not fail the caller
        log.exception("PGP verification crashed; counting the message as unsigned")
        return None


def signed_text(raw: bytes) -> str | None:
    """The text a PGP signature in this mail covers, as a reader sees it (PGP/MIME: the
    signed part's plain text, decoded; inline: the clearsigned text, dash-escapes undone),
    with line ends made LF and trailing blanks dropped, as the clearsign canonical form
    ignores them; None when the mail is not signed in a way `verify_signature` checks.
    It does not verify: ask `verify_signature` first. Never raises."""
    try:
        signed = _find_signed(raw)
        if signed is None:
            return None
        if signed.signature is None:
            return _clearsigned_text(signed.data)
        part = message_from_bytes(signed.data)
        texts = [p for p in part.walk() if p.get_content_type() == "text/plain"]
        if not texts:
            return ""
        payload = texts[0].get_payload(decode=True)
        charset = texts[0].get_content_charset() or "utf-8"
        text = payload.decode(charset, "replace") if isinstance(payload, bytes) else ""
        return _canonical(text)
    except Exception:  # noqa: BLE001  a malformed mail must not fail the caller
        log.exception("could not read the signed text; counting it as none")
        return None


def _clearsigned_text(block: bytes) -> str:
    """The text between the armor header block and the signature (RFC 4880 §7)."""
    lines = block.decode("utf-8", "replace").splitlines()
    start = 1
    while start < len(lines) and lines[start].strip():  # Hash: armor headers
        start += 1
    end = [line.rstrip() for line in lines].index(SIGNATURE_BEGIN.decode())
    text = [line[2:] if line.startswith("- ") else line for line in lines[start + 1 : end]]
    return _canonical("\n".join(text))


def _canonical(text: str) -> str:
    lines = [line.rstrip(" \t\r") for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def _good_signer(status: str) -> str | None:
    """Primary-key fingerprint of the first signature gpg calls good (GOODSIG) and valid
    (VALIDSIG) over a document, by a key neither expired nor revoked. Read from the raw
    status lines, grouped per signature by NEWSIG, because python-gnupg's `valid` mixes
    trust into the answer and keeps only the last signature's state."""
    groups: list[list[list[str]]] = []
    for line in status.splitlines():
        if not line.startswith("[GNUPG:] "):
            continue
        words = line[len("[GNUPG:] ") :].split()
        if not words:
            continue
        if words[0] == "NEWSIG" or not groups:
            groups.append([])
        groups[-1].append(words)
    for group in groups:
        keywords = {words[0] for words in group}
        if "GOODSIG" not in keywords or keywords & _SPOILERS:
            continue
        for words in group:
            # VALIDSIG fpr date ts expire version reserved pk-algo hash-algo class primary-fpr
            if words[0] == "VALIDSIG" and len(words) >= 11 and words[9] in _DOCUMENT_CLASSES:
                return words[10].upper()
    return None


def _find_signed(raw: bytes) -> _Signed | None:
    """The signed content of a mail and its signature, or None when it is not signed in a
    way this module checks."""
    match = _HEADER_END.search(raw)
    if match is None:
        return None
    head, body = raw[: match.start()], raw[match.end() :]
    headers = BytesHeaderParser().parsebytes(head + b"\n\n")
    if headers.get_content_type() == "multipart/signed":
        protocol = str(headers.get_param("protocol", "") or "").strip().lower()
        boundary = headers.get_boundary()
        if protocol != "application/pgp-signature" or not boundary:
            return None
        return _pgp_mime(body, boundary)
    block = _clearsigned_block(message_from_bytes(raw))
    return _Signed(block, None) if block is not None else None


def _pgp_mime(body: bytes, boundary: str) -> _Signed | None:
    """RFC 3156 §5: the signed data is the first part exactly as sent (headers included),
    with CRLF line ends; the second part is the detached signature. Sliced from the raw
    bytes because re-serialising with the email package may change them."""
    parts = _raw_parts(body, boundary)
    if parts is None or len(parts) != 2:
        return None
    signature_part = message_from_bytes(parts[1])
    if signature_part.get_content_type() != "application/pgp-signature":
        return None
    signature = signature_part.get_payload(decode=True)
    if not isinstance(signature, bytes) or not signature.strip():
        return None
    return _Signed(_LINE_END.sub(b"\r\n", parts[0]), signature)


def _raw_parts(body: bytes, boundary: str) -> list[bytes] | None:
    """Raw bytes of each body part of a multipart, split at the delimiter lines (RFC 2046
    §5.1.1: the line break before a delimiter belongs to the delimiter); None without a
    closing delimiter."""
    delimiter = re.compile(
        rb"(?:\A|\r?\n)--" + re.escape(boundary.encode("ascii")) + rb"(--)?[ \t]*(?=\r?\n|\Z)"
    )
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):
            return parts
        start = match.end()
        start += 2 if body.startswith(b"\r\n", start) else 1
    return None


def _clearsigned_block(message: Message) -> bytes | None:
    """The clearsigned block of an inline-signed mail: the first text/plain part (or the
    single-part body), transfer-decoded, must be that one block and nothing else, and no
    other plain text may ride along. Otherwise unsigned words would sit beside signed ones
    in what readers (and command parsers) take as the mail's text."""
    leaves = [part for part in message.walk() if not part.is_multipart()]
    texts = [
        part
        for part in leaves
        if part.get_content_maintype() == "text" and part.get_content_type() != "text/html"
    ]
    if not texts or texts[0].get_content_type() != "text/plain" or len(texts) > 1:
        return None
    payload = texts[0].get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    block = payload.strip()
    lines = [line.rstrip() for line in block.splitlines()]
    if not lines or lines[0] != CLEARSIGN_BEGIN or lines[-1] != SIGNATURE_END:
        return None
    armor = [line for line in lines if line.startswith((b"-----BEGIN PGP", b"-----END PGP"))]
    if armor != [CLEARSIGN_BEGIN, SIGNATURE_BEGIN, SIGNATURE_END]:
        return None  # several blocks, or other armor inside: not one plain signed text
    return block + b"\n"


# --- gpg ---------------------------------------------------------------------------------


@contextmanager
def _gnupg_home() -> Iterator[gnupg.GPG]:
    """A fresh GnuPG home (mode 0700) for one call; whatever gpg starts for it is stopped
    and the directory removed on the way out, so nothing lingers between calls."""
    with tempfile.TemporaryDirectory(prefix="mailyard-gpg-", ignore_cleanup_errors=True) as home:
        os.chmod(home, 0o700)
        try:
            yield gnupg.GPG(gpgbinary=GPG_BINARY, gnupghome=home, options=list(GPG_OPTIONS))
        finally:
            stop_gnupg_daemons(home)


def stop_gnupg_daemons(home: str) -> None:
    """Stop gpg-agent and dirmngr of a GnuPG home, if any run (they outlive gpg)."""
    gpgconf = shutil.which("gpgconf") or os.path.join(
        os.path.dirname(shutil.which(GPG_BINARY) or "/usr/bin/gpg"), "gpgconf"
    )
    for action in (["--kill", "all"], ["--remove-socketdir"]):
        try:
            subprocess.run(
                [gpgconf, "--homedir", home, *action],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as e:
            log.warning("could not stop gpg daemons for %s: %s", home, e)
