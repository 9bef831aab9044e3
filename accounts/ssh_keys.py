"""The SSH public keys a user uploads (for git over SSH; served at /~USER.keys).

A key is read the way OpenSSH writes it, "TYPE BASE64 [COMMENT]", and its blob is
checked to be a well-formed key of that type; its fingerprint is what `ssh-keygen -lf`
prints. (OpenPGP keys, which authenticate mail, are `accounts.pgp_keys`.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import SshKey, User
from core.errors import UserError

# Key types and the fields their blob holds after the type string.
ECDSA_CURVES = {
    "ecdsa-sha2-nistp256": "nistp256",
    "ecdsa-sha2-nistp384": "nistp384",
    "ecdsa-sha2-nistp521": "nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com": "nistp256",
}
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
MIN_RSA_BITS = 2048
MAX_SSH_KEY_LENGTH = 16 * 1024  # an RSA-16384 key is ~2.8 KB of base64
COMMENT_MAX = 200
MAX_KEYS = 50  # SSH keys per account


class SshKeyRefused(UserError):
    """A key that cannot be added; the message says why, for the person adding it."""


@dataclass(frozen=True)
class SshPublicKey:
    type: str
    blob: bytes
    comment: str

    @property
    def fingerprint(self) -> str:
        return ssh_fingerprint(self.blob)

    def line(self) -> str:
        """The key as one authorized_keys line."""
        text = f"{self.type} {base64.b64encode(self.blob).decode()}"
        return f"{text} {self.comment}" if self.comment else text


def ssh_fingerprint(blob: bytes) -> str:
    """ "SHA256:" and the unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_ssh_key(text: str) -> SshPublicKey:
    """One public key from "TYPE BASE64 [COMMENT]" (as in id_ed25519.pub)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise SshKeyRefused("paste a public key: the one line of ~/.ssh/id_ed25519.pub")
    if len(lines) > 1:
        raise SshKeyRefused("paste one key at a time (one line)")
    if len(lines[0]) > MAX_SSH_KEY_LENGTH:
        raise SshKeyRefused("this is too long to be an SSH public key")
    if "PRIVATE KEY" in lines[0]:
        raise SshKeyRefused("this is a private key: never share it; paste the .pub file")
    fields = lines[0].split(None, 2)
    if fields[0] not in SSH_KEY_TYPES:
        raise SshKeyRefused(
            f"unsupported key type {fields[0][:40]!r}; use one of {', '.join(SSH_KEY_TYPES)}"
        )
    if len(fields) < 2:
        raise SshKeyRefused(f"the key is missing after {fields[0]!r}")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        raise SshKeyRefused("the key is not valid base64; was it copied whole?") from None
    _check_blob(fields[0], blob)
    comment = _clean_comment(fields[2] if len(fields) > 2 else "")
    return SshPublicKey(fields[0], blob, comment)


def _check_blob(key_type: str, blob: bytes) -> None:
    """The blob is the SSH wire form of a key of `key_type` (RFC 4253 section 6.6)."""
    try:
        parts = _ssh_strings(blob)
    except ValueError:
        raise SshKeyRefused("the key data is damaged; was it copied whole?") from None
    if not parts or parts[0] != key_type.encode():
        raise SshKeyRefused(f"the key data is not a {key_type} key (its type differs)")
    fields = parts[1:]
    if key_type in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        wanted = 2 if key_type.startswith("sk-") else 1
        ok = len(fields) == wanted and len(fields[0]) == 32
    elif key_type == "ssh-rsa":
        ok = len(fields) == 2
        if ok and _bits(fields[1]) < MIN_RSA_BITS:
            raise SshKeyRefused(
                f"this RSA key has {_bits(fields[1])} bits; use {MIN_RSA_BITS} or more, or"
                " better an ed25519 key (ssh-keygen -t ed25519)"
            )
    else:
        wanted = 3 if key_type.startswith("sk-") else 2
        ok = (
            len(fields) == wanted
            and fields[0] == ECDSA_CURVES[key_type].encode()
            and fields[1][:1] == b"\x04"
        )
    if not ok:
        raise SshKeyRefused(f"the key data is not a well-formed {key_type} key")


def _ssh_strings(blob: bytes) -> list[bytes]:
    """A blob split into its length-prefixed strings; ValueError if they do not add up."""
    parts, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated length")
        (size,) = struct.unpack(">I", blob[offset : offset + 4])
        offset += 4
        if offset + size > len(blob):
            raise ValueError("truncated string")
        parts.append(blob[offset : offset + size])
        offset += size
    return parts


def _bits(mpint: bytes) -> int:
    return int.from_bytes(mpint, "big").bit_length()


def _clean_comment(comment: str) -> str:
    """Printable, one line, not too long: it is shown on pages and served in .keys."""
    text = "".join(c for c in comment if c.isprintable())
    return " ".join(text.split())[:COMMENT_MAX]


# --- SSH keys on accounts ------------------------------------------------------------------


def add_ssh_key(session: Session, user: User, text: str) -> SshKey:
    """Add a public key to `user` (the caller commits). One key belongs to one account:
    git over SSH knows who pushes by the key alone."""
    key = parse_ssh_key(text)
    owner = session.scalar(select(SshKey.user_id).where(SshKey.fingerprint == key.fingerprint))
    if owner == user.id:
        raise SshKeyRefused(f"you added the key {key.fingerprint} already")
    if owner is not None:
        raise SshKeyRefused(f"the key {key.fingerprint} is registered to another account")
    if len(ssh_keys_of(session, user)) >= MAX_KEYS:
        raise SshKeyRefused(f"an account has at most {MAX_KEYS} SSH keys; remove one first")
    row = SshKey(user_id=user.id, key=key.line(), fingerprint=key.fingerprint)
    session.add(row)
    session.flush()
    return row


def ssh_keys_of(session: Session, user: User) -> list[SshKey]:
    return list(
        session.scalars(select(SshKey).where(SshKey.user_id == user.id).order_by(SshKey.id))
    )


def remove_ssh_key(session: Session, user: User, key_id: int) -> str:
    """Remove one of the user's SSH keys; its fingerprint."""
    row = session.get(SshKey, key_id)
    if row is None or row.user_id != user.id:
        raise SshKeyRefused("no such SSH key on your account")
    session.delete(row)
    session.flush()
    return row.fingerprint


def authorized_keys_text(session: Session, user: User) -> str:
    """The user's SSH keys, one a line (what /~USER.keys serves)."""
    return "".join(f"{row.key}\n" for row in ssh_keys_of(session, user))


def user_of_ssh_key(session: Session, key_type: str, blob: bytes) -> tuple[SshKey, User] | None:
    """Who logs in with this key (as sshd presents it): its row and its confirmed user,
    in one query by the unique fingerprint; None for a key nobody registered (or one of
    another type with the same blob, or an unconfirmed user's, who may not sign in)."""
    found = session.execute(
        select(SshKey, User)
        .join(User, User.id == SshKey.user_id)
        .where(SshKey.fingerprint == ssh_fingerprint(blob), User.confirmed_at.isnot(None))
    ).first()
    if found is None or found[0].key.split(None, 1)[0] != key_type:
        return None
    return found[0], found[1]


def user_of_ssh_key_id(session: Session, key_id: int) -> User | None:
    """The confirmed user a registered key (by id) belongs to; None once it is removed."""
    return session.scalar(
        select(User)
        .join(SshKey, SshKey.user_id == User.id)
        .where(SshKey.id == key_id, User.confirmed_at.isnot(None))
    )
