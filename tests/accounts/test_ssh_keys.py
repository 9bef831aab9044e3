"""SSH public keys are read as OpenSSH writes them, and fingerprinted as ssh-keygen does."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess

import pytest

from accounts.ssh_keys import (
    SshKeyRefused,
    add_ssh_key,
    authorized_keys_text,
    parse_ssh_key,
    remove_ssh_key,
)
from accounts.users import create_user
from tests.accounts.helpers import ED25519, ED25519_FINGERPRINT, ssh_keygen

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed"
)


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def key_line(key_type: str, *fields: bytes, comment: str = "") -> str:
    blob = ssh_string(key_type.encode()) + b"".join(ssh_string(f) for f in fields)
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}".strip()


# A valid point to stand for a public key: the generator of NIST P-256, uncompressed.
P256_GENERATOR = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)


def test_a_known_ed25519_key_has_ssh_keygens_fingerprint():
    key = parse_ssh_key(ED25519 + "\n")
    assert key.type == "ssh-ed25519" and key.comment == "ada@laptop"
    assert key.fingerprint == ED25519_FINGERPRINT
    assert key.line() == ED25519


@needs_ssh_keygen
@pytest.mark.parametrize(
    "key_type, bits",
    [("ed25519", None), ("rsa", 3072), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521)],
)
def test_keys_made_by_ssh_keygen_parse_with_its_fingerprint(tmp_path, key_type, bits):
    line, fingerprint = ssh_keygen(tmp_path, key_type, bits)
    key = parse_ssh_key(line)
    assert key.fingerprint == fingerprint
    assert key.line() == line


@pytest.mark.parametrize(
    "line",
    [
        key_line("sk-ssh-ed25519@openssh.com", bytes(range(32)), b"ssh:", comment="yubikey"),
        key_line(
            "sk-ecdsa-sha2-nistp256@openssh.com",
            b"nistp256",
            P256_GENERATOR,
            b"ssh:",
            comment="yubikey",
        ),
    ],
    ids=["sk-ed25519", "sk-ecdsa"],
)
def test_security_key_types_are_accepted(tmp_path, line):
    key = parse_ssh_key(line)
    assert key.line() == line
    if shutil.which("ssh-keygen"):  # ssh-keygen reads them without the hardware
        (tmp_path / "sk.pub").write_text(line + "\n")
        listed = subprocess.run(
            ["ssh-keygen", "-lf", str(tmp_path / "sk.pub")], capture_output=True, text=True
        )
        assert listed.stdout.split()[1] == key.fingerprint


@needs_ssh_keygen
def test_a_small_rsa_key_is_refused(tmp_path):
    line, _ = ssh_keygen(tmp_path, "rsa", 1024)
    with pytest.raises(SshKeyRefused, match="1024 bits; use 2048 or more"):
        parse_ssh_key(line)


ED25519_BLOB = ED25519.split()[1]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "paste a public key"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACB ada", "unsupported key type 'ssh-dss'"),
        ("ssh-ed25519", "key is missing"),
        ("ssh-ed25519 not*base64", "not valid base64"),
        (f"ssh-rsa {ED25519_BLOB}", "not a ssh-rsa key"),
        (f"ssh-ed25519 {ED25519_BLOB[:40]}", "not valid base64|damaged"),
        (key_line("ssh-ed25519", bytes(31)), "not a well-formed ssh-ed25519"),
        (key_line("ecdsa-sha2-nistp256", b"nistp384", b"\x04" + bytes(96)), "well-formed"),
        (f"{ED25519}\n{ED25519}", "one key at a time"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
        ("no-pty ssh-ed25519 AAAA", "unsupported key type 'no-pty'"),
    ],
)
def test_what_is_not_a_public_key_is_refused_with_a_reason(text, reason):
    with pytest.raises(SshKeyRefused, match=reason):
        parse_ssh_key(text)


def test_comments_are_kept_printable_and_on_one_line():
    key = parse_ssh_key(ED25519.replace("ada@laptop", "ada\x1b[31m  <b>laptop</b>"))
    assert key.comment == "ada[31m <b>laptop</b>"


def test_a_key_belongs_to_one_account(session):
    ada = create_user(session, "ada", "ada@example.org")
    bea = create_user(session, "bea", "bea@example.org")
    row = add_ssh_key(session, ada, ED25519)
    assert row.fingerprint == ED25519_FINGERPRINT
    with pytest.raises(SshKeyRefused, match="already"):
        add_ssh_key(session, ada, ED25519)
    with pytest.raises(SshKeyRefused, match="registered to another account"):
        add_ssh_key(session, bea, ED25519)
    assert authorized_keys_text(session, ada) == ED25519 + "\n"
    with pytest.raises(SshKeyRefused, match="no such SSH key"):
        remove_ssh_key(session, bea, row.id)
    assert remove_ssh_key(session, ada, row.id) == ED25519_FINGERPRINT
    assert authorized_keys_text(session, ada) == ""
